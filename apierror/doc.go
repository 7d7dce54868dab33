// Package apierror is the Partner API error contract in code: every code with
// its HTTP status, category, retry advice and guaranteed details (the
// catalogue), a typed constructor per code, the JSON envelope, and decoding
// that envelope on the client side.
//
// Server side, a handler returns a typed error and the errkit middleware
// renders it:
//
//	return apierror.ForbiddenScope("content:write")
//
// which is answered as
//
//	HTTP/1.1 403 Forbidden
//	{"error":{"code":"FORBIDDEN_SCOPE","message":"…","requestId":"req_…","details":{"requiredScope":"content:write"}}}
//
// Any other error becomes INTERNAL with the fixed generic message; its cause
// is logged against the requestId and never rendered.
//
// Client side, DecodeResponse turns a response back into an *Error whose code,
// message, requestId and details (decoded on demand with DetailsAs) a caller
// branches on; codes this version does not know still decode.
package apierror
