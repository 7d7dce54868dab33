package nethttp_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/nethttp"
)

// Install wraps a ServeMux once; handlers return errors.
func ExampleInstall() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	mux := http.NewServeMux()
	mux.Handle("GET /v1/projects/{projectId}", nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		if r.PathValue("projectId") != "prj_demo" {
			return apierror.NotFound()
		}
		_, err := io.WriteString(w, `{"id":"prj_demo"}`)
		return err
	}))
	handler, err := nethttp.Install(mux, nethttp.Config{Logger: logger})
	if err != nil {
		panic(err)
	}

	srv := httptest.NewServer(handler) // http.Server{Handler: handler, ...} in a service
	defer srv.Close()
	for _, path := range []string{"/v1/projects/prj_demo", "/v1/projects/prj_other", "/v1/nowhere"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		_ = resp.Body.Close()
		fmt.Println(path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Request-Id") != "")
	}
	// Output:
	// /v1/projects/prj_demo 200 text/plain; charset=utf-8 true
	// /v1/projects/prj_other 404 application/json true
	// /v1/nowhere 404 application/json true
}
