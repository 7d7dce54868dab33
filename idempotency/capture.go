package idempotency

import (
	"bytes"
	"net/http"
)

// captureWriter passes a response through while keeping its status, its
// body (up to max bytes) and the replay headers as they were when the
// status was written. It records the status itself: whatever the framework
// underneath, the status the handler wrote is the one that decides whether
// the response is stored.
type captureWriter struct {
	http.ResponseWriter
	names    []string
	max      int64
	status   int // the final status written; 0 while none was
	header   http.Header
	body     bytes.Buffer
	overflow bool // the body passed max; body is no longer kept
}

// WriteHeader implements http.ResponseWriter. Informational (1xx) headers
// other than 101 pass through without deciding the response's status, as
// net/http sends them before the final one.
func (w *captureWriter) WriteHeader(code int) {
	if w.status == 0 {
		if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
			w.ResponseWriter.WriteHeader(code)
			return
		}
		w.status = code
		w.snapshot()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter. A write before WriteHeader is a 200,
// as net/http makes it.
func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
		w.snapshot()
	}
	n, err := w.ResponseWriter.Write(b)
	switch {
	case w.overflow:
	case int64(w.body.Len())+int64(n) > w.max:
		w.overflow = true
		w.body = bytes.Buffer{} // let the partial copy go
	default:
		w.body.Write(b[:n])
	}
	return n, err
}

// Flush implements http.Flusher when the underlying writer can flush.
func (w *captureWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// snapshot copies the replay headers as they are now.
func (w *captureWriter) snapshot() {
	h := w.ResponseWriter.Header()
	for _, name := range w.names {
		if v := h[name]; len(v) > 0 {
			if w.header == nil {
				w.header = make(http.Header, len(w.names))
			}
			w.header[name] = append([]string(nil), v...)
		}
	}
}
