package idempotency

import "github.com/layershq/errkit/apierror"

// HeaderKey is the request header that carries the idempotency key.
const HeaderKey = "Idempotency-Key"

// HeaderReplayed is the response header set to "true" on a replayed
// response.
const HeaderReplayed = "Idempotent-Replayed"

// MaxKeyLength is the longest accepted Idempotency-Key, in bytes.
const MaxKeyLength = 255

// issuePath names the header in VALIDATION issues.
const issuePath = "header:" + HeaderKey

// Messages of the VALIDATION issues ValidateKey reports. They never contain
// the offending value.
const (
	msgEmpty    = "Idempotency-Key must not be empty."
	msgTooLong  = "Idempotency-Key must be at most 255 characters long."
	msgCharset  = "Idempotency-Key must contain only printable ASCII characters (0x20-0x7E)."
	msgRepeated = "Idempotency-Key must be sent at most once."
	msgRequired = "Idempotency-Key is required on this route."
)

// ValidateKey reports whether key is a well-formed Idempotency-Key: 1 to
// MaxKeyLength bytes, each printable ASCII (0x20–0x7E). It returns nil for a
// valid key and otherwise a VALIDATION *apierror.Error with one issue whose
// path is "header:Idempotency-Key" and whose message says what is wrong
// without repeating the value. It never panics.
func ValidateKey(key string) error {
	if key == "" {
		return invalidKey(msgEmpty)
	}
	if len(key) > MaxKeyLength {
		return invalidKey(msgTooLong)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return invalidKey(msgCharset)
		}
	}
	return nil
}

// invalidKey is the VALIDATION error for a malformed header.
func invalidKey(msg string) *apierror.Error {
	return apierror.Validation(apierror.Issue{Path: issuePath, Message: msg})
}
