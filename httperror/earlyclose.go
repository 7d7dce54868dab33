package httperror

import "net/http"

// closeIfBodyUnread sets "Connection: close" on an error response to an
// HTTP/1.x request that came with a body the handler may not have read.
//
// net/http's server, before it writes the header of a response that keeps
// the connection open, reads up to 256 KiB of an unread request body to
// find the start of the next request (chunkWriter.writeHeader). A client
// that announced a body and never sends it (or dribbles it) would then
// hold the error it already earned, 401 or 413 or 429, until the body
// arrived or the server's ReadTimeout fired. With Connection: close the
// server skips that read, so the error leaves at once; what remains of the
// body is bounded by the server's ReadTimeout (see docs/operations.md).
//
// The writer cannot tell a body read to its end from one not read at all
// without blocking, so every error to a request with a body closes the
// connection: the cost is one reconnect after an error, and a client
// sending bodies it knows are refused gets no cheap keep-alive to repeat
// them on. HTTP/2 needs nothing: a stream's unread body does not hold the
// response, and the header is connection-specific there.
func closeIfBodyUnread(h http.Header, r *http.Request) {
	if r.ProtoMajor != 1 || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	h["Connection"] = connectionClose
}

var connectionClose = []string{"close"}
