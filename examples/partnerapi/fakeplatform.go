package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/layershq/errkit/apierror"
)

// The fake platform stands in for the five platforms' APIs, so that the demo
// publishes and fetches for real with no network: `go run
// ./examples/partnerapi` starts one on a loopback listener when no
// -platform-base is given, and the tests serve their own. It answers
// POST /{platform}/publish as that platform answers, with its real error
// bodies and rate-limit headers, and serves a fake media host under
// /media/.
//
// What a publish does is chosen by a hashtag in the caption, the
// container's hook, so that the curl tour can make each failure happen:
//
//	(none)             published: 2xx with the platform's post ID
//	#ratelimited       rate limited with a retry window, every time
//	#ratelimited-once  rate limited with a window the first time the container
//	                   is published to the platform, published after
//	#throttled         rate limited without a window
//	#down              the platform's internal error (a 5xx): counts towards
//	                   the circuit breaker
//	#slow              no answer until the demo's call times out: a 5xx for the
//	                   breaker too
//	#badtoken          our access token is refused (Meta's message quotes it)
//
// The first of these tags in the caption decides.

// fakeBehaviour is what the fake platform does with one publish call.
type fakeBehaviour int

const (
	fakePublished fakeBehaviour = iota
	fakeRateLimited
	fakeRateLimitedOnce
	fakeThrottled
	fakeDown
	fakeSlow
	fakeBadToken
)

// fakeTags are the hashtags that select a behaviour.
var fakeTags = map[string]fakeBehaviour{
	"#ratelimited":      fakeRateLimited,
	"#ratelimited-once": fakeRateLimitedOnce,
	"#throttled":        fakeThrottled,
	"#down":             fakeDown,
	"#slow":             fakeSlow,
	"#badtoken":         fakeBadToken,
}

// fakeBehaviourOf returns the behaviour the first known hashtag of caption
// selects.
func fakeBehaviourOf(caption string) fakeBehaviour {
	for _, word := range strings.Fields(strings.ToLower(caption)) {
		if b, ok := fakeTags[strings.TrimRight(word, ".,;:!?")]; ok {
			return b
		}
	}
	return fakePublished
}

// The retry windows the fake names when it rate-limits: Retry-After for
// TikTok and Apple's two APIs; Meta and Instagram name theirs in minutes,
// in X-Business-Use-Case-Usage.
const (
	fakeRetryAfter     = 30 * time.Second
	fakeMetaRegainMins = 1
)

// fakeMaxMedia bounds the files /media/bytes/{n} and /media/stream/{n}
// serve.
const fakeMaxMedia = 64 << 20

// fakePNG is /media/demo.png: a 1x1 transparent PNG.
var fakePNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")

// fakeCall is one publish call the fake platform received.
type fakeCall struct {
	Platform      apierror.Platform
	Path          string
	Authorization string
	ContainerID   string
	Caption       string
}

// fakePlatform is the fake platform and media host. It is safe for
// concurrent use; close releases the calls it holds (#slow, /media/slow.png).
type fakePlatform struct {
	now  func() time.Time
	mux  *http.ServeMux
	done chan struct{}
	once sync.Once

	mu          sync.Mutex
	calls       []fakeCall
	posts       int
	limitedOnce map[string]bool // platform + container already rate-limited once
	mediaHits   int
}

// newFakePlatform returns a fake platform whose rate-limit windows are
// dated by now (nil: time.Now).
func newFakePlatform(now func() time.Time) *fakePlatform {
	if now == nil {
		now = time.Now
	}
	f := &fakePlatform{now: now, mux: http.NewServeMux(), done: make(chan struct{}), limitedOnce: map[string]bool{}}
	f.mux.HandleFunc("POST /{platform}/publish", f.publish)
	f.mux.HandleFunc("GET /media/{name}", f.media)
	f.mux.HandleFunc("GET /media/bytes/{n}", f.mediaBytes)
	f.mux.HandleFunc("GET /media/stream/{n}", f.mediaBytes)
	return f
}

func (f *fakePlatform) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// close ends the calls that are waiting (#slow and /media/slow.png).
func (f *fakePlatform) close() { f.once.Do(func() { close(f.done) }) }

// publishCalls returns the publish calls received so far.
func (f *fakePlatform) publishCalls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// mediaRequests returns how many media requests the fake has received.
func (f *fakePlatform) mediaRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mediaHits
}

// hang waits until the caller gives up or the fake closes.
func (f *fakePlatform) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.done:
	}
}

// fakePost is the body the demo sends to POST /{platform}/publish.
type fakePost struct {
	ContainerID string `json:"containerId"`
	Caption     string `json:"caption"`
}

func (f *fakePlatform) publish(w http.ResponseWriter, r *http.Request) {
	p := apierror.Platform(r.PathValue("platform"))
	if !p.Valid() {
		http.NotFound(w, r)
		return
	}
	var post fakePost
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&post); err != nil {
		http.Error(w, "bad request body", http.StatusBadRequest)
		return
	}
	behaviour := fakeBehaviourOf(post.Caption)

	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{Platform: p, Path: r.URL.Path, Authorization: r.Header.Get("Authorization"),
		ContainerID: post.ContainerID, Caption: post.Caption})
	n := len(f.calls)
	if behaviour == fakeRateLimitedOnce {
		key := string(p) + " " + post.ContainerID
		if f.limitedOnce[key] {
			behaviour = fakePublished
		} else {
			f.limitedOnce[key] = true
			behaviour = fakeRateLimited
		}
	}
	if behaviour == fakePublished {
		f.posts++
		n = f.posts
	}
	f.mu.Unlock()

	if behaviour == fakeSlow {
		f.hang(r)
		return
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	status, header, body := fakeAnswer(p, behaviour, n, token, f.now())
	for k, vs := range header {
		w.Header()[k] = vs
	}
	if body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// fakeAnswer is platform p's answer for behaviour: its status, headers and
// body, in the formats its documentation gives (the upstream package cites
// them: TikTok API v2, the Meta Graph API, the App Store Connect API, the App
// Store Server API). n numbers the post or the call; token is the access
// token the call carried.
func fakeAnswer(p apierror.Platform, behaviour fakeBehaviour, n int, token string, now time.Time) (int, http.Header, string) {
	h := http.Header{}
	retryAfter := strconv.Itoa(int(fakeRetryAfter / time.Second))
	switch p {
	case apierror.PlatformTikTok:
		logID := now.UTC().Format("20060102150405") + fmt.Sprintf("%012X", n)
		tiktok := func(status int, code, msg string) (int, http.Header, string) {
			return status, h, fmt.Sprintf(`{"data":{},"error":{"code":%q,"message":%q,"log_id":%q}}`, code, msg, logID)
		}
		switch behaviour {
		case fakeRateLimited:
			h.Set("Retry-After", retryAfter)
			return tiktok(http.StatusTooManyRequests, "rate_limit_exceeded", "The API rate limit was exceeded. Please try again later.")
		case fakeThrottled:
			return tiktok(http.StatusTooManyRequests, "rate_limit_exceeded", "The API rate limit was exceeded. Please try again later.")
		case fakeDown:
			return tiktok(http.StatusInternalServerError, "internal_error", "Something went wrong. Please try again later.")
		case fakeBadToken:
			return tiktok(http.StatusUnauthorized, "access_token_invalid", "The access token is invalid or not found in the request.")
		}
		return http.StatusOK, h, fmt.Sprintf(`{"data":{"publish_id":"v_pub_file~v2-1.%d"},"error":{"code":"ok","message":"","log_id":%q}}`, 7300000000000000000+n, logID)

	case apierror.PlatformMeta, apierror.PlatformInstagram:
		trace := fmt.Sprintf("AzH3kQ%06dxYz", n)
		meta := func(status, code int, msg string) (int, http.Header, string) {
			return status, h, fmt.Sprintf(`{"error":{"message":%q,"type":"OAuthException","code":%d,"fbtrace_id":%q}}`, msg, code, trace)
		}
		account, bucCode, bucType := "Page", 80001, "pages"
		if p == apierror.PlatformInstagram {
			account, bucCode, bucType = "Instagram", 80002, "instagram"
		}
		switch behaviour {
		case fakeRateLimited:
			// A Business Use Case limit: the window is in the header, in
			// minutes; the Graph API answers throttling with a 4xx.
			h.Set("X-Business-Use-Case-Usage", fmt.Sprintf(`{"1784140000000001":[{"type":%q,"call_count":100,"total_cputime":12,"total_time":30,"estimated_time_to_regain_access":%d}]}`, bucType, fakeMetaRegainMins))
			return meta(http.StatusBadRequest, bucCode, "There have been too many calls to this "+account+" account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.")
		case fakeThrottled:
			// The app-level limit: X-App-Usage says how much is used, not
			// when it comes back.
			h.Set("X-App-Usage", `{"call_count":100,"total_cputime":24,"total_time":31}`)
			return meta(http.StatusBadRequest, 4, "(#4) Application request limit reached")
		case fakeDown:
			return meta(http.StatusInternalServerError, 2, "An unexpected error has occurred. Please retry your request later.")
		case fakeBadToken:
			return meta(http.StatusBadRequest, 190, "Malformed access token "+token)
		}
		return http.StatusOK, h, fmt.Sprintf(`{"id":"%d"}`, 17900000000000000+n)

	case apierror.PlatformApple:
		id := fmt.Sprintf("5f1c2e9a-0d4b-4c7e-9a31-%012d", n)
		connect := func(status int, code, title, detail string) (int, http.Header, string) {
			return status, h, fmt.Sprintf(`{"errors":[{"id":%q,"status":"%d","code":%q,"title":%q,"detail":%q}]}`, id, status, code, title, detail)
		}
		switch behaviour {
		case fakeRateLimited, fakeThrottled:
			h.Set("X-Rate-Limit", "user-hour-lim:3500;user-hour-rem:0;")
			if behaviour == fakeRateLimited {
				h.Set("Retry-After", retryAfter)
			}
			return connect(http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "The request rate limit has been reached.",
				"We've received too many requests for this API. Please wait and try again or slow down your request rate.")
		case fakeDown:
			return connect(http.StatusInternalServerError, "UNEXPECTED_ERROR", "An unexpected error occurred.",
				"An unexpected error occurred on the server side. If this issue continues, contact us at https://developer.apple.com/contact/.")
		case fakeBadToken:
			return connect(http.StatusUnauthorized, "NOT_AUTHORIZED", "Authentication credentials are missing or invalid.",
				"Provide a properly configured and signed bearer token, and make sure that it has not expired. Learn more about Generating Tokens for API Requests https://developer.apple.com/go/?id=api-generating-tokens")
		}
		return http.StatusCreated, h, fmt.Sprintf(`{"data":{"type":"appStoreVersionSubmissions","id":%q}}`, id)

	default: // appstore: the App Store Server API
		switch behaviour {
		case fakeRateLimited:
			// This API's Retry-After is a UNIX time in milliseconds.
			h.Set("Retry-After", strconv.FormatInt(now.Add(fakeRetryAfter).UnixMilli(), 10))
			return http.StatusTooManyRequests, h, `{"errorCode":4290000,"errorMessage":"Rate limit exceeded."}`
		case fakeThrottled:
			return http.StatusTooManyRequests, h, `{"errorCode":4290000,"errorMessage":"Rate limit exceeded."}`
		case fakeDown:
			return http.StatusInternalServerError, h, `{"errorCode":5000000,"errorMessage":"An unknown error occurred."}`
		case fakeBadToken:
			return http.StatusUnauthorized, h, "" // this API's 401 has no body
		}
		return http.StatusOK, h, fmt.Sprintf(`{"id":"%d"}`, 2000000000000000+n)
	}
}

// media serves the fake media host's named files:
//
//	/media/demo.png     a 1x1 PNG
//	/media/expired.png  S3's 403 for a presigned URL past its expiry
//	/media/slow.png     no answer until the fetch times out
//	anything else       S3's 404 NoSuchKey
func (f *fakePlatform) media(w http.ResponseWriter, r *http.Request) {
	f.countMedia()
	switch r.PathValue("name") {
	case "demo.png":
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Length", strconv.Itoa(len(fakePNG)))
		_, _ = w.Write(fakePNG)
	case "expired.png":
		s3Error(w, http.StatusForbidden, "AccessDenied", "Request has expired")
	case "slow.png":
		f.hang(r)
	default:
		s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	}
}

// mediaBytes serves n bytes: with Content-Length under /media/bytes/, and
// streamed without it (chunked) under /media/stream/.
func (f *fakePlatform) mediaBytes(w http.ResponseWriter, r *http.Request) {
	f.countMedia()
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n > fakeMaxMedia {
		s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	streamed := strings.HasPrefix(r.URL.Path, "/media/stream/")
	if !streamed {
		w.Header().Set("Content-Length", strconv.Itoa(n))
	}
	w.WriteHeader(http.StatusOK)
	chunk := []byte(strings.Repeat("m", 32<<10))
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return // the fetcher stopped reading at its cap
		}
		n -= k
		if streamed {
			_ = http.NewResponseController(w).Flush()
		}
	}
}

func (f *fakePlatform) countMedia() {
	f.mu.Lock()
	f.mediaHits++
	f.mu.Unlock()
}

// s3Error answers as S3 does, with its XML error document
// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
func s3Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>`, code, message)
}

// startFake serves f on a new loopback listener and returns its URL and the
// function that stops it: the waiting calls end, then the server shuts down.
func startFake(f *fakePlatform) (string, func() error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("fake platform: %w", err)
	}
	hs := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	stop := func() error {
		f.close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := hs.Shutdown(ctx)
		if err != nil {
			err = errors.Join(err, hs.Close())
		}
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}
