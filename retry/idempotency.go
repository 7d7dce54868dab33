package retry

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// IdempotencyKeyHeader is the request header that makes a retried request
// safe: the server replays the cached response instead of doing the work
// twice. Every attempt of one request carries the same value.
const IdempotencyKeyHeader = "Idempotency-Key"

// NewIdempotencyKey returns a fresh random key: 128 bits from crypto/rand as
// 32 lowercase hex characters. It is the default Transport.NewIdempotencyKey.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return hex.EncodeToString(b[:])
}

// needsGeneratedKey reports whether a request of method gets a generated
// Idempotency-Key when it has none: POST and PATCH, the methods that are not
// idempotent by themselves.
func needsGeneratedKey(method string) bool {
	return method == http.MethodPost || method == http.MethodPatch
}

// idempotentMethod reports whether method is idempotent by definition (RFC
// 9110 §9.2.2), so that resending it after a network error is safe without a
// key. An empty method means GET to net/http.
func idempotentMethod(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}
