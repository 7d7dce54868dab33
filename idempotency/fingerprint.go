package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// FingerprintPrefix starts every rendered fingerprint.
const FingerprintPrefix = "sha256:"

// Param is one path parameter of a request: its name in the route template
// and its value in the request path, as the router extracted them (echo's
// c.ParamNames() and c.ParamValues(), a ServeMux wildcard and
// r.PathValue).
type Param struct {
	// Name is the parameter's name in the route template, without the
	// router's syntax around it (for example "projectId" for echo's
	// ":projectId" or ServeMux's "{projectId}").
	Name string
	// Value is the parameter's value in the request path (for example
	// "prj_1"); it is hashed as given, so distinct values fingerprint apart.
	Value string
}

// Fingerprint returns the request fingerprint that IDEMPOTENCY_CONFLICT
// reports in details.originalRequestHash and details.currentRequestHash:
// "sha256:" followed by the lowercase hex SHA-256 of
//
//	u64(len(method)) || method ||
//	u64(len(route))  || route  ||
//	u64(len(params)) ||
//	for each param, in route order:
//	    u64(len(name)) || name || u64(len(value)) || value ||
//	u64(len(query)) || query ||
//	body
//
// where u64(n) is n as an 8-byte big-endian unsigned integer and lengths
// are in bytes. method is the HTTP method; route is the route template the
// adapter reports (echo's c.Path(), for example
// "/v1/projects/:projectId/content", or the ServeMux pattern); params are
// the path parameters in the order the template names them, with the values
// the router extracted from the request path (for example {projectId,
// prj_1}); query is the raw query string as sent, without the "?"
// (r.URL.RawQuery; "" for none); body is the raw request body. A route
// without path parameters hashes u64(0) for params. The same request served
// by two routers whose templates are spelled differently has two
// fingerprints.
//
// Because every field but the last is length-prefixed, the encoding is
// unambiguous: equal fingerprints mean equal (method, route, params, query,
// body), so the same key and body sent to /v1/projects/p1/content and then
// to /v1/projects/p2/content, or to ...?dryRun=true, have different
// fingerprints. The query is hashed as sent: a retry repeats the same URL.
func Fingerprint(method, route string, params []Param, query string, body []byte) string {
	n := 32 + len(method) + len(route) + len(query)
	for _, p := range params {
		n += 16 + len(p.Name) + len(p.Value)
	}
	b := make([]byte, 0, n)
	b = appendField(b, method)
	b = appendField(b, route)
	b = binary.BigEndian.AppendUint64(b, uint64(len(params)))
	for _, p := range params {
		b = appendField(b, p.Name)
		b = appendField(b, p.Value)
	}
	b = appendField(b, query)
	return sumOf(b, body)
}

// sumOf renders the SHA-256 of head || body as a fingerprint.
func sumOf(head, body []byte) string {
	h := sha256.New()
	h.Write(head)
	h.Write(body)
	var s [sha256.Size]byte
	return FingerprintPrefix + hex.EncodeToString(h.Sum(s[:0]))
}

// appendField appends s to b preceded by its length as a big-endian uint64.
func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// storeKey returns the fixed-length (64 hex characters) store key of an
// Idempotency-Key within its scope: the SHA-256 of the length-prefixed scope
// ID, method, route template and key. Hashing keeps any header value (spaces,
// quotes, braces) out of store key names.
func storeKey(scope, method, route, key string) string {
	h := sha256.New()
	writeField(h, scope)
	writeField(h, method)
	writeField(h, route)
	writeField(h, key)
	var s [sha256.Size]byte
	return hex.EncodeToString(h.Sum(s[:0]))
}

// writeField writes s to h preceded by its length as a big-endian uint64.
func writeField(h hash.Hash, s string) {
	writeLen(h, len(s))
	h.Write([]byte(s))
}

// writeLen writes n to h as a big-endian uint64.
func writeLen(h hash.Hash, n int) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}
