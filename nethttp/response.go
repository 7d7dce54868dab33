package nethttp

import (
	"bufio"
	"net"
	"net/http"

	"github.com/layershq/errkit/internal/reqstate"
)

// responseWriter records what the handler wrote (for the access log and to
// know whether an error can still be rendered) and holds back the router's
// own plain-text 404 and 405, which Install answers as the envelope.
type responseWriter struct {
	http.ResponseWriter
	req          *http.Request
	state        *reqstate.State
	status       int
	wrote        bool
	intercepting bool // swallowing the body of an intercepted answer
	intercepted  int  // the intercepted status, 0 if none
}

// WriteHeader implements http.ResponseWriter.
func (w *responseWriter) WriteHeader(code int) {
	if w.wrote || w.intercepting {
		return
	}
	if w.intercepted == 0 && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) && w.routerAnswer() {
		w.intercepted, w.intercepting = code, true
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: not the final status
		return
	}
	w.status, w.wrote = code, true
	w.ResponseWriter.WriteHeader(code)
}

// routerAnswer reports whether the 404 or 405 about to be written is a
// router's own (http.Error outside any route) rather than a handler's.
func (w *responseWriter) routerAnswer() bool {
	if w.route() != "" {
		return false
	}
	return w.Header().Get("Content-Type") == "text/plain; charset=utf-8"
}

// route is the route template of the request: what the route hook finds
// on the request Install passed on, else what errkit saw inside the route
// (the request may have been replaced on the way).
func (w *responseWriter) route() string {
	if s, ok := w.state.Adapter.(*service); ok {
		if route := s.route(w.req); route != "" {
			return route
		}
	}
	return w.state.Route
}

// Write implements http.ResponseWriter.
func (w *responseWriter) Write(b []byte) (int, error) {
	if w.intercepting {
		return len(b), nil
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
		if w.intercepting {
			return len(b), nil
		}
	}
	return w.ResponseWriter.Write(b)
}

// statusOr200 is the status written, 200 when nothing was.
func (w *responseWriter) statusOr200() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Flush implements http.Flusher when the underlying writer can flush.
func (w *responseWriter) Flush() {
	if w.intercepting {
		return // the envelope replaces the router's answer after the handler
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker when the underlying writer can hijack.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// written reports whether the response behind w (or a writer that wraps
// it) was committed.
func written(w http.ResponseWriter) bool {
	for w != nil {
		if rw, ok := w.(*responseWriter); ok {
			return rw.wrote
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}
