package httperror

import (
	"net/http"
	"time"
)

// closeIfBodyUnread sets "Connection: close" on an error response to an
// HTTP/1.x request that came with a body the handler may not have read,
// and reports whether it did; the caller then calls [stopReading] once the
// response is written.
//
// net/http's server, before it writes the header of a response that keeps
// the connection open, reads up to 256 KiB of an unread request body to
// find the start of the next request (chunkWriter.writeHeader). A client
// that announced a body and never sends it (or dribbles it) would then
// hold the error it already earned, 401 or 413 or 429, until the body
// arrived or the server's ReadTimeout fired. With Connection: close the
// server skips that read, so the error leaves at once.
//
// The writer cannot tell a body read to its end from one not read at all
// without blocking, so every error to a request with a body closes the
// connection: the cost is one reconnect after an error, and a client
// sending bodies it knows are refused gets no cheap keep-alive to repeat
// them on. HTTP/2 needs nothing: a stream's unread body does not hold the
// response, and the header is connection-specific there.
func closeIfBodyUnread(h http.Header, r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return false
	}
	// A fresh slice per response: header maps are mutable, and a shared
	// backing array could be changed in place by code that edits the
	// header after us.
	h["Connection"] = []string{"close"}
	return true
}

// stopReading ends the reading side of the connection of an error
// response that [closeIfBodyUnread] marked Connection: close, so that the
// server closes the connection as soon as the handler returns.
//
// Connection: close alone gets the response out, but when the handler
// returns net/http still closes the request body (response.finishRequest),
// and that Close reads up to 256 KiB of what remains of an unread body,
// looking for its end: against a client that never sends it, the read
// waits for the server's ReadTimeout, holding the connection and its
// goroutine for all of it. A read deadline in the past makes that read
// fail at once; the server, which is closing the connection anyway
// (Connection: close), then closes it. The response is already written by
// then (finishRequest flushes it before it closes the body), and writes
// have their own deadline.
//
// The deadline also makes any later read of the body fail, and, when the
// body had been read to its end (net/http then watches the idle connection
// in the background), cancels the request's context, as a client hanging
// up would: work after the error response must not depend on either,
// which is already true of anything that survives a client going away.
//
// http.ResponseController reaches the server's writer through wrapping
// writers that have an Unwrap method; a writer that has none, or a server
// that is not net/http's, gets http.ErrNotSupported, which is ignored: the
// connection then closes when the server's ReadTimeout ends the body
// read, as before.
func stopReading(rw http.ResponseWriter) {
	_ = http.NewResponseController(rw).SetReadDeadline(time.Now())
}
