package httperror_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/requestid"
)

// A net/http handler renders its errors through a Writer: the envelope,
// X-Request-Id equal to its requestId, Retry-After, and one log line with
// the route template, never the raw path.
func ExampleWriter_Write() {
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "requestId" {
				return slog.Attr{} // not deterministic
			}
			return a
		},
	}))
	w, err := httperror.New(httperror.Config{Logger: log})
	if err != nil {
		panic(err)
	}
	stamper := requestid.NewStamper(requestid.Config{Logger: log})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /projects/{id}", func(rw http.ResponseWriter, r *http.Request) {
		r = stamper.Stamp(rw.Header(), r) // an adapter does this first
		if r.PathValue("id") == "p_busy" {
			w.Write(rw, r, apierror.RateLimited(1500*time.Millisecond))
			return
		}
		w.Write(rw, r, fmt.Errorf("loading project %s: %w", r.PathValue("id"), apierror.NotFound()))
	})

	for _, target := range []string{"/projects/p_1", "/projects/p_busy"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		id := rec.Header().Get(requestid.Header)
		fmt.Printf("%d %s %s Retry-After=%q\n", rec.Code, rec.Header().Get("Content-Type"),
			rec.Header().Get("Cache-Control"), rec.Header().Get("Retry-After"))
		fmt.Println(strings.Replace(rec.Body.String(), id, "<X-Request-Id>", 1))
	}
	// Output:
	// level=DEBUG msg="request failed" code=NOT_FOUND status=404 method=GET route="GET /projects/{id}" error="loading project p_1: NOT_FOUND: The resource does not exist."
	// 404 application/json no-store Retry-After=""
	// {"error":{"code":"NOT_FOUND","message":"The resource does not exist.","requestId":"<X-Request-Id>"}}
	// level=DEBUG msg="request failed" code=RATE_LIMITED status=429 method=GET route="GET /projects/{id}"
	// 429 application/json no-store Retry-After="2"
	// {"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.","requestId":"<X-Request-Id>","details":{"retryAfterMs":1500}}}
}

// FromDecodeError turns a failed json.Decode of a request body into
// VALIDATION naming the field, without Go type names.
func ExampleFromDecodeError() {
	var v struct {
		Quantity int `json:"quantity"`
	}
	err := json.NewDecoder(strings.NewReader(`{"quantity":"three"}`)).Decode(&v)
	fmt.Println(string(httperror.FromDecodeError(err).Render("req_1")))
	// Output:
	// {"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req_1","details":{"issues":[{"path":"quantity","message":"must be an integer, got string."}]}}}
}

// LimitBody refuses a body whose Content-Length is over the limit, and caps
// the others while they are read.
func ExampleLimitBody() {
	r := httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader(strings.Repeat("x", 2048)))
	err := httperror.LimitBody(httptest.NewRecorder(), r, 1024)
	fmt.Println(err)
	// Output:
	// PAYLOAD_TOO_LARGE: The request body exceeds the size limit.
}
