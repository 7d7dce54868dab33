package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// FingerprintPrefix starts every rendered fingerprint.
const FingerprintPrefix = "sha256:"

// Fingerprint returns the request fingerprint that IDEMPOTENCY_CONFLICT
// reports in details.originalRequestHash and details.currentRequestHash:
// "sha256:" followed by the lowercase hex SHA-256 of
//
//	uint64be(len(method)) || method || uint64be(len(route)) || route || body
//
// where route is the route template (c.Path(), for example
// "/v1/projects/:projectId/content"), not the concrete URL. The length
// prefixes make the encoding unambiguous, so equal fingerprints mean equal
// (method, route, body) triples.
func Fingerprint(method, route string, body []byte) string {
	h := sha256.New()
	writeField(h, method)
	writeField(h, route)
	h.Write(body)
	var sum [sha256.Size]byte
	return FingerprintPrefix + hex.EncodeToString(h.Sum(sum[:0]))
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
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// writeField writes s to h preceded by its length as a big-endian uint64.
func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}
