package apierror_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/layershq/errkit/apierror"
)

// A handler returns a typed error; the envelope carries the code, the human
// message, the requestId and the code's guaranteed details.
func Example() {
	err := apierror.ForbiddenScope("content:write")
	fmt.Println(err.Status())
	fmt.Println(string(err.Render("req_01HXZ9G7KMV2QX8Y1S5RJW3B7T")))
	// Output:
	// 403
	// {"error":{"code":"FORBIDDEN_SCOPE","message":"The API key is missing the scope content:write this route needs.","requestId":"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T","details":{"requiredScope":"content:write"}}}
}

// Any error that is not ours becomes INTERNAL with the fixed message; the
// cause stays server side, for logs.
func ExampleFrom() {
	err := apierror.From(fmt.Errorf("loading wallet: %w", errors.New("pq: connection refused")))
	fmt.Println(string(err.Render("req_1")))
	fmt.Println("log:", err.Unwrap())
	// Output:
	// {"error":{"code":"INTERNAL","message":"An unexpected error occurred. Please contact support with the requestId.","requestId":"req_1"}}
	// log: loading wallet: pq: connection refused
}

// WithMessage returns a copy with a more specific message; the shared value
// is never changed.
func ExampleError_WithMessage() {
	notFound := apierror.NotFound()
	e := notFound.WithMessage("Project prj_42 does not exist.")
	fmt.Println(notFound.Message())
	fmt.Println(e.Message())
	// Output:
	// The resource does not exist.
	// Project prj_42 does not exist.
}

// A client decodes a response and branches on the code, never on the message.
func ExampleDecodeResponse() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(apierror.RateLimited(1500 * time.Millisecond).Render("req_7"))
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()

	err = apierror.DecodeResponse(resp)
	switch apierror.CodeOf(err) {
	case apierror.CodeRateLimited:
		e, _ := apierror.As(err)
		wait, _ := e.RetryAfter()
		fmt.Println("rate limited; retry in", wait, "request", e.RequestID())
	case apierror.CodeNotFound:
		fmt.Println("gone")
	default:
		fmt.Println("other:", err)
	}
	// Output:
	// rate limited; retry in 1.5s request req_7
}

// A response that is not an envelope (a proxy's HTML page) keeps its status
// and a bounded prefix of the body.
func ExampleDecode_notAnEnvelope() {
	err := apierror.Decode(502, []byte("<html><h1>502 Bad Gateway</h1></html>"))
	var re *apierror.ResponseError
	if errors.As(err, &re) {
		fmt.Println(re.Status, string(re.Body))
	}
	// Output:
	// 502 <html><h1>502 Bad Gateway</h1></html>
}

// DetailsAs gives typed access to details, on a constructed or a decoded
// error alike.
func ExampleDetailsAs() {
	body := apierror.CredentialInvalid(apierror.PlatformTikTok, "sa_123").Render("req_9")
	err := apierror.Decode(http.StatusUnprocessableEntity, body)

	if d, ok := apierror.DetailsAs[apierror.CredentialInvalidDetails](err); ok {
		fmt.Println("reconnect", d.Platform, "account", d.SocialAccountID)
	}
	// Output:
	// reconnect tiktok account sa_123
}

// errors.Is matches by code through any amount of %w wrapping.
func ExampleCode() {
	err := fmt.Errorf("publishing: %w", apierror.ApprovalRequired("cnt_1", apierror.ApprovalPending))
	fmt.Println(apierror.HasCode(err, apierror.CodeApprovalRequired))
	fmt.Println(apierror.HasCode(err, apierror.CodeContentRejected))
	fmt.Println(apierror.StatusOf(err))
	// Output:
	// true
	// false
	// 403
}
