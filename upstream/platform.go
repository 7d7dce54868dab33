package upstream

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/layershq/errkit/apierror"
)

// platformError is what one platform error response says, before it is
// sanitized into PLATFORM_ERROR's details.
type platformError struct {
	code    string // the platform's own code, "" when the body has none
	message string // the platform's raw message
	traceID string // the platform's ID of the request, for our logs only
}

// errorBody is the union of the error formats of every platform, so that a
// body is parsed once whatever it turns out to be.
type errorBody struct {
	// TikTok API v2 and the Meta Graph API (Instagram's included) both put
	// an object under "error", with different members.
	Error *struct {
		Code         json.RawMessage `json:"code"` // TikTok: string; Meta: number
		Message      string          `json:"message"`
		LogID        string          `json:"log_id"`        // TikTok
		Type         string          `json:"type"`          // Meta
		ErrorSubcode json.RawMessage `json:"error_subcode"` // Meta
		FBTraceID    string          `json:"fbtrace_id"`    // Meta
	} `json:"error"`
	// App Store Connect API.
	Errors []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Code   string `json:"code"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	} `json:"errors"`
	// App Store Server API.
	ErrorCode    json.RawMessage `json:"errorCode"`
	ErrorMessage string          `json:"errorMessage"`
}

// decodePlatformError reads a platform's error body. It reports false when
// the body is not one of the formats below (a proxy's HTML page, say).
//
// The formats, from each platform's documentation:
//
//   - TikTok API v2, https://developers.tiktok.com/doc/tiktok-api-v2-error-handling :
//     {"data":{},"error":{"code":"rate_limit_exceeded","message":"...","log_id":"..."}};
//     "code":"ok" is a success.
//   - Meta Graph API, https://developers.facebook.com/docs/graph-api/guides/error-handling
//     (the Instagram Platform uses the Graph API's format,
//     https://developers.facebook.com/docs/instagram-api/reference/error-codes ):
//     {"error":{"message":"...","type":"OAuthException","code":190,"error_subcode":460,"fbtrace_id":"..."}}.
//     platformCode is "190", or "190/460" with a subcode (which the
//     documentation says is unique when present).
//   - App Store Connect API, https://developer.apple.com/documentation/appstoreconnectapi/errorresponse
//     and https://developer.apple.com/documentation/appstoreconnectapi/interpreting-and-handling-errors :
//     {"errors":[{"id":"...","status":"429","code":"RATE_LIMIT_EXCEEDED","title":"...","detail":"..."}]};
//     the first error is used, its detail (else its title) as the message.
//   - App Store Server API, https://developer.apple.com/documentation/appstoreserverapi/error-codes :
//     {"errorCode":4290000,"errorMessage":"Rate limit exceeded."}.
//
// Every format is tried whatever the platform, the platform's own first: a
// body that is clearly in another platform's format is still read.
func decodePlatformError(p apierror.Platform, body []byte) (platformError, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return platformError{}, false
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return platformError{}, false
	}
	tiktok := func() (platformError, bool) {
		if eb.Error == nil {
			return platformError{}, false
		}
		code, ok := jsonString(eb.Error.Code)
		if !ok || code == "" || eb.Error.Type != "" || eb.Error.FBTraceID != "" {
			return platformError{}, false
		}
		if code == "ok" {
			return platformError{}, false
		}
		return platformError{code: code, message: eb.Error.Message, traceID: eb.Error.LogID}, true
	}
	meta := func() (platformError, bool) {
		if eb.Error == nil {
			return platformError{}, false
		}
		code, ok := jsonNumber(eb.Error.Code)
		if !ok {
			return platformError{}, false
		}
		if sub, ok := jsonNumber(eb.Error.ErrorSubcode); ok {
			code += "/" + sub
		}
		return platformError{code: code, message: eb.Error.Message, traceID: eb.Error.FBTraceID}, true
	}
	connect := func() (platformError, bool) {
		if len(eb.Errors) == 0 {
			return platformError{}, false
		}
		e := eb.Errors[0]
		msg := e.Detail
		if msg == "" {
			msg = e.Title
		}
		if e.Code == "" && msg == "" {
			return platformError{}, false
		}
		return platformError{code: e.Code, message: msg, traceID: e.ID}, true
	}
	server := func() (platformError, bool) {
		code, ok := jsonNumber(eb.ErrorCode)
		if !ok {
			return platformError{}, false
		}
		return platformError{code: code, message: eb.ErrorMessage}, true
	}
	var order []func() (platformError, bool)
	switch p {
	case apierror.PlatformTikTok:
		order = []func() (platformError, bool){tiktok, meta, connect, server}
	case apierror.PlatformMeta, apierror.PlatformInstagram:
		order = []func() (platformError, bool){meta, tiktok, connect, server}
	case apierror.PlatformApple:
		order = []func() (platformError, bool){connect, server, meta, tiktok}
	default: // appstore
		order = []func() (platformError, bool){server, connect, meta, tiktok}
	}
	for _, f := range order {
		if pe, ok := f(); ok {
			return pe, true
		}
	}
	return platformError{}, false
}

// tiktokBodyError reports the error in a TikTok 2xx body: TikTok answers
// with an "error" object on success too, where "code":"ok" means none.
func tiktokBodyError(body []byte) (platformError, bool) {
	var eb errorBody
	if json.Unmarshal(bytes.TrimSpace(body), &eb) != nil || eb.Error == nil {
		return platformError{}, false
	}
	code, ok := jsonString(eb.Error.Code)
	if !ok || code == "" || code == "ok" {
		return platformError{}, false
	}
	return platformError{code: code, message: eb.Error.Message, traceID: eb.Error.LogID}, true
}

func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonNumber returns an integer JSON number as its decimal text (a string
// holding one is accepted too).
func jsonNumber(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		s, ok := jsonString(raw)
		if !ok {
			return "", false
		}
		raw = []byte(s)
	}
	if len(raw) == 0 || len(raw) > 20 {
		return "", false
	}
	if _, err := strconv.ParseInt(string(raw), 10, 64); err != nil {
		return "", false
	}
	return string(raw), true
}

// DefaultMaxRetryAfter is the default cap of a retry window a platform
// names.
const DefaultMaxRetryAfter = 24 * time.Hour

// retryWindow returns the wait the platform named in its response headers,
// and false when it named none:
//
//   - Retry-After (RFC 9110 §10.2.3), delay-seconds or an HTTP-date, for
//     every platform. The App Store Server API sends a UNIX time in
//     milliseconds instead
//     (https://developer.apple.com/documentation/appstoreserverapi/identifying-rate-limits),
//     so for apple and appstore a value of 10^12 or more is read as one.
//   - Meta and Instagram: X-Business-Use-Case-Usage, whose
//     estimated_time_to_regain_access is in minutes and positive only while
//     throttled (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
//     Its usage percentages, X-App-Usage and X-Ad-Account-Usage name no
//     window for a throttled call, so they are not read.
//   - TikTok documents no rate-limit header besides the 429 itself
//     (https://developers.tiktok.com/doc/tiktok-api-v2-error-handling),
//     and the App Store Connect API's X-Rate-Limit
//     ("user-hour-lim:3500;user-hour-rem:500;",
//     https://developer.apple.com/documentation/appstoreconnectapi/identifying-rate-limits)
//     names no reset time: Retry-After only.
//
// When several are present the longest wins; a window is capped at max.
func retryWindow(p apierror.Platform, h http.Header, now time.Time, max time.Duration) (time.Duration, bool) {
	var best time.Duration
	found := false
	take := func(d time.Duration) {
		if d > max {
			d = max
		}
		if !found || d > best {
			best, found = d, true
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if d, ok := appleEpochMillis(p, v, now); ok {
			take(d)
		} else if d, ok := apierror.ParseRetryAfter(v, now); ok {
			take(d)
		}
	}
	if p == apierror.PlatformMeta || p == apierror.PlatformInstagram {
		if d, ok := metaRegainAccess(h.Get("X-Business-Use-Case-Usage")); ok {
			take(d)
		}
	}
	if found && best <= 0 {
		return 0, false // "retry at a time already past" names no window
	}
	return best, found
}

// appleEpochMillis reads the App Store Server API's Retry-After, a UNIX time
// in milliseconds.
func appleEpochMillis(p apierror.Platform, v string, now time.Time) (time.Duration, bool) {
	if p != apierror.PlatformAppStore && p != apierror.PlatformApple {
		return 0, false
	}
	v = strings.TrimSpace(v)
	if len(v) < 13 || len(v) > 16 {
		return 0, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	return max(time.UnixMilli(ms).Sub(now), 0), true
}

// metaRegainAccess reads X-Business-Use-Case-Usage:
// {"<business id>":[{"type":"instagram","call_count":100,...,"estimated_time_to_regain_access":5}]},
// the longest positive estimate, in minutes.
func metaRegainAccess(v string) (time.Duration, bool) {
	if v == "" || len(v) > 64<<10 {
		return 0, false
	}
	var usage map[string][]struct {
		Minutes json.Number `json:"estimated_time_to_regain_access"`
	}
	if json.Unmarshal([]byte(v), &usage) != nil {
		return 0, false
	}
	var best int64
	for _, entries := range usage {
		for _, e := range entries {
			if m, err := e.Minutes.Int64(); err == nil && m > best && m <= 7*24*60 {
				best = m
			}
		}
	}
	if best <= 0 {
		return 0, false
	}
	return time.Duration(best) * time.Minute, true
}
