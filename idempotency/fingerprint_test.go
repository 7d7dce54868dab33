package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recompute is the documented fingerprint construction, written out
// independently of Fingerprint.
func recompute(method, route string, body []byte) string {
	var b []byte
	b = append(b, 0, 0, 0, 0, 0, 0, 0, byte(len(method)))
	b = append(b, method...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, byte(len(route)))
	b = append(b, route...)
	b = append(b, body...)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestFingerprint(t *testing.T) {
	tests := []struct {
		method, route string
		body          []byte
	}{
		{"POST", "/v1/projects/:projectId/content", []byte(`{"hook":"a"}`)},
		{"PATCH", "/v1/things/:id", nil},
		{"POST", "", []byte{0, 1, 2, 0xff}},
	}
	for _, tt := range tests {
		assert.Equal(t, recompute(tt.method, tt.route, tt.body), Fingerprint(tt.method, tt.route, tt.body))
	}
	// The SHA-256 of the empty-method, empty-route, empty-body encoding
	// (sixteen zero bytes), fixed so that the format can't drift silently.
	assert.Equal(t, "sha256:374708fff7719dd5979ec875d56cd2286f6d3cf7ec317a3b25632aab28ec37bb", Fingerprint("", "", nil))
}

func TestFingerprintUnambiguous(t *testing.T) {
	assert.NotEqual(t, Fingerprint("POST", "/a", []byte("b")), Fingerprint("POST", "/ab", nil))
	assert.NotEqual(t, Fingerprint("POS", "T/a", nil), Fingerprint("POST", "/a", nil))
	assert.NotEqual(t, Fingerprint("POST", "/a", []byte(`{"a":1}`)), Fingerprint("POST", "/a", []byte(`{"a":2}`)))
}

func TestStoreKey(t *testing.T) {
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	k := storeKey("key_1", "POST", "/v1/things", "same")
	assert.Regexp(t, hex64, k)
	assert.Regexp(t, hex64, storeKey("", "", "", "{tag} with spaces\"'"))
	assert.Equal(t, k, storeKey("key_1", "POST", "/v1/things", "same"))
	for _, other := range []string{
		storeKey("key_2", "POST", "/v1/things", "same"),
		storeKey("key_1", "PATCH", "/v1/things", "same"),
		storeKey("key_1", "POST", "/v1/other", "same"),
		storeKey("key_1", "POST", "/v1/things", "samf"),
		storeKey("key_1P", "OST", "/v1/things", "same"),
	} {
		assert.NotEqual(t, k, other)
	}
}
