package idempotency_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/layershq/errkit/idempotency"
)

// recompute is the documented fingerprint construction, written out
// independently of Fingerprint: params alternate name, value.
func recompute(method, route string, body []byte, params ...string) string {
	return recomputeQuery(method, route, "", body, params...)
}

// recomputeQuery is recompute for a request with a query string.
func recomputeQuery(method, route, query string, body []byte, params ...string) string {
	u64 := func(b []byte, n int) []byte { return binary.BigEndian.AppendUint64(b, uint64(n)) }
	var b []byte
	b = u64(b, len(method))
	b = append(b, method...)
	b = u64(b, len(route))
	b = append(b, route...)
	b = u64(b, len(params)/2)
	for _, s := range params {
		b = u64(b, len(s))
		b = append(b, s...)
	}
	b = u64(b, len(query))
	b = append(b, query...)
	b = append(b, body...)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestFingerprint(t *testing.T) {
	tests := []struct {
		method, route string
		params        []idempotency.Param
		query         string
		body          []byte
	}{
		{"POST", "/v1/projects/:projectId/content", []idempotency.Param{{Name: "projectId", Value: "prj_1"}}, "", []byte(`{"hook":"a"}`)},
		{"PATCH", "/v1/orgs/:org/things/:id", []idempotency.Param{{Name: "org", Value: "o1"}, {Name: "id", Value: "t 2/é"}}, "dryRun=true&x=%20", nil},
		{"POST", "/v1/orders", nil, "", []byte(`{"sku":"a"}`)},
		{"POST", "", []idempotency.Param{{Name: "", Value: ""}}, "a", []byte{0, 1, 2, 0xff}},
	}
	for _, tt := range tests {
		var flat []string
		for _, p := range tt.params {
			flat = append(flat, p.Name, p.Value)
		}
		want := recomputeQuery(tt.method, tt.route, tt.query, tt.body, flat...)
		assert.Equal(t, want, idempotency.Fingerprint(tt.method, tt.route, tt.params, tt.query, tt.body))
	}
	// The SHA-256 of the empty-method, empty-route, no-params, no-query,
	// empty-body encoding (32 zero bytes), fixed so that the format can't
	// drift silently.
	assert.Equal(t, "sha256:66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925", idempotency.Fingerprint("", "", nil, "", nil))
}

func TestFingerprintUnambiguous(t *testing.T) {
	const route = "/v1/projects/:projectId/content"
	p := func(kv ...string) []idempotency.Param {
		var ps []idempotency.Param
		for i := 0; i < len(kv); i += 2 {
			ps = append(ps, idempotency.Param{Name: kv[i], Value: kv[i+1]})
		}
		return ps
	}
	pairs := [][2]string{
		{idempotency.Fingerprint("POST", "/a", nil, "", []byte("b")), idempotency.Fingerprint("POST", "/ab", nil, "", nil)},
		{idempotency.Fingerprint("POS", "T/a", nil, "", nil), idempotency.Fingerprint("POST", "/a", nil, "", nil)},
		{idempotency.Fingerprint("POST", "/a", nil, "", []byte(`{"a":1}`)), idempotency.Fingerprint("POST", "/a", nil, "", []byte(`{"a":2}`))},
		// The concrete resource is part of the fingerprint.
		{idempotency.Fingerprint("POST", route, p("projectId", "p1"), "", nil), idempotency.Fingerprint("POST", route, p("projectId", "p2"), "", nil)},
		{idempotency.Fingerprint("POST", route, p("projectId", "p1"), "", nil), idempotency.Fingerprint("POST", route, p("projectI", "dp1"), "", nil)},
		{idempotency.Fingerprint("POST", route, p("a", "1", "b", "2"), "", nil), idempotency.Fingerprint("POST", route, p("b", "2", "a", "1"), "", nil)},
		{idempotency.Fingerprint("POST", route, p("a", ""), "", nil), idempotency.Fingerprint("POST", route, nil, "", nil)},
		{idempotency.Fingerprint("POST", route, p("a", "1"), "", []byte("x")), idempotency.Fingerprint("POST", route, p("a", "1x"), "", nil)},
		// So is the query string.
		{idempotency.Fingerprint("POST", "/a", nil, "dryRun=true", nil), idempotency.Fingerprint("POST", "/a", nil, "", nil)},
		{idempotency.Fingerprint("POST", "/a", nil, "q", []byte("b")), idempotency.Fingerprint("POST", "/a", nil, "qb", nil)},
		{idempotency.Fingerprint("POST", route, p("a", "1"), "", nil), idempotency.Fingerprint("POST", route, p("a", ""), "1", nil)},
	}
	for i, pr := range pairs {
		assert.NotEqual(t, pr[0], pr[1], "pair %d", i)
	}
}

func TestStoreKey(t *testing.T) {
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	k := idempotency.StoreKey("key_1", "POST", "/v1/things", "same")
	assert.Regexp(t, hex64, k)
	assert.Regexp(t, hex64, idempotency.StoreKey("", "", "", "{tag} with spaces\"'"))
	assert.Equal(t, k, idempotency.StoreKey("key_1", "POST", "/v1/things", "same"))
	for _, other := range []string{
		idempotency.StoreKey("key_2", "POST", "/v1/things", "same"),
		idempotency.StoreKey("key_1", "PATCH", "/v1/things", "same"),
		idempotency.StoreKey("key_1", "POST", "/v1/other", "same"),
		idempotency.StoreKey("key_1", "POST", "/v1/things", "samf"),
		idempotency.StoreKey("key_1P", "OST", "/v1/things", "same"),
	} {
		assert.NotEqual(t, k, other)
	}
}
