package requestid_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/layershq/errkit/requestid"
)

// A Stamper gives each request its ID; code further down reads it, and logs
// with it, from the request's context.
func ExampleStamper() {
	// A logger without the time, so that the output is deterministic.
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case "requestId":
				return slog.Bool("requestIdValid", requestid.Valid(a.Value.String()))
			}
			return a
		},
	}))
	st := requestid.NewStamper(requestid.Config{Logger: log})

	handler := func(w http.ResponseWriter, r *http.Request) {
		r = st.Stamp(w.Header(), r)
		requestid.Logger(r.Context()).Info("charging card")
		fmt.Println(requestid.FromContext(r.Context()) == w.Header().Get(requestid.Header))
	}
	handler(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	// Output:
	// level=INFO msg="charging card" requestIdValid=true
	// true
}

func ExampleValid() {
	fmt.Println(requestid.Valid(requestid.New()))
	fmt.Println(requestid.Valid("req_01HXZ9G7KMV2QX8Y1S5RJW3B7T"))
	fmt.Println(requestid.Valid("req_01hxz9g7kmv2qx8y1s5rjw3b7t"))
	fmt.Println(requestid.Valid("req_01HXZ9G7KMV2QX8Y1S5RJW3B7T\r\nSet-Cookie: a=b"))
	// Output:
	// true
	// true
	// false
	// false
}
