package jsonbody_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/jsonbody"
)

// A handler decodes its body with Decode and returns the error as it is:
// the error writer renders VALIDATION with the issue.
func ExampleDecode() {
	var req struct {
		Name string `json:"name"`
	}
	for _, body := range []string{`{"name":"launch"}`, `{"name":"launch"}{"name":"again"}`, `{"name":"a","name":"b"}`} {
		r := httptest.NewRequest(http.MethodPost, "/v1/projects", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		err := jsonbody.Decode(r, &req, jsonbody.Options{MaxBytes: 64 << 10, DisallowUnknownFields: true})
		if err != nil {
			e, _ := apierror.As(err)
			fmt.Println(e.Code(), string(e.RawDetails()))
			continue
		}
		fmt.Println("ok", req.Name)
	}
	// Output:
	// ok launch
	// VALIDATION {"issues":[{"path":"body","message":"The body has data after the JSON value (at byte offset 17)."}]}
	// VALIDATION {"issues":[{"path":"name","message":"appears more than once in its object."}]}
}
