package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/layershq/errkit/apierror"
)

// Defaults of [FetcherConfig].
const (
	DefaultMaxBytes       = 100 << 20
	DefaultFetchTimeout   = 60 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultHeaderTimeout  = 15 * time.Second
	DefaultMaxRedirects   = 5
)

// maxURLInMessage caps the URL a SCRAPE_FAILED message names.
const maxURLInMessage = 300

// FetcherConfig configures [NewFetcher]. Every zero field has a default.
type FetcherConfig struct {
	// MaxBytes caps a body: a longer one is PAYLOAD_TOO_LARGE with
	// details.maxBytes, and reading stops there. Default DefaultMaxBytes.
	MaxBytes int64
	// Timeout bounds a whole fetch, redirects and reading the body
	// included. Default DefaultFetchTimeout.
	Timeout time.Duration
	// ConnectTimeout bounds each connection attempt (with the default Dial)
	// and TLS handshake. Default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers once the request
	// is sent. Default DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// MaxRedirects is how many redirects are followed; a negative value
	// follows none. Default DefaultMaxRedirects.
	MaxRedirects int
	// AllowLoopback lets fetches reach loopback addresses (127.0.0.0/8,
	// ::1). For tests against httptest servers only: a production fetcher
	// that reaches loopback reaches this machine's own services. Every
	// other refused network stays refused.
	AllowLoopback bool
	// Resolver resolves host names. Default net.DefaultResolver.
	Resolver Resolver
	// Dial connects to an address that has passed the address check, given
	// as "ip:port". Default: a net.Dialer with ConnectTimeout that checks
	// the socket address once more before connecting.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// TLSClientConfig is the TLS configuration for https URLs; nil means
	// Go's defaults.
	TLSClientConfig *tls.Config
	// UserAgent is sent with every request. Default "errkit-upstream".
	UserAgent string
	// Clock decides whether a signed URL has expired; nil means
	// SystemClock.
	Clock Clock
}

// Fetcher fetches caller-given URLs (app media, content uploads) safely:
// every failure is SCRAPE_FAILED and a body over the cap is
// PAYLOAD_TOO_LARGE; addresses outside the public internet are refused at
// connect time, after resolution, on every redirect. See the package
// documentation. A Fetcher is safe for concurrent use and keeps no idle
// connections (each fetch dials afresh, so each is checked afresh).
type Fetcher struct {
	cfg    FetcherConfig
	client *http.Client
	clock  Clock
}

// NewFetcher returns a Fetcher for cfg. It fails for negative limits.
func NewFetcher(cfg FetcherConfig) (*Fetcher, error) {
	if cfg.MaxBytes < 0 || cfg.Timeout < 0 || cfg.ConnectTimeout < 0 || cfg.HeaderTimeout < 0 {
		return nil, errors.New("upstream: FetcherConfig limits must not be negative")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultFetchTimeout
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "errkit-upstream"
	}
	gd := &guardedDialer{resolver: cfg.Resolver, dial: cfg.Dial, allowLoopback: cfg.AllowLoopback}
	if gd.resolver == nil {
		gd.resolver = net.DefaultResolver
	}
	if gd.dial == nil {
		d := &net.Dialer{Timeout: cfg.ConnectTimeout, Control: controlGuard(cfg.AllowLoopback)}
		gd.dial = d.DialContext
	}
	f := &Fetcher{cfg: cfg, clock: clockOr(cfg.Clock)}
	f.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // a proxy would connect on our behalf, past the address check
			DialContext:            gd.DialContext,
			TLSClientConfig:        cfg.TLSClientConfig,
			TLSHandshakeTimeout:    cfg.ConnectTimeout,
			ResponseHeaderTimeout:  cfg.HeaderTimeout,
			DisableKeepAlives:      true,
			DisableCompression:     true, // the cap counts the bytes as stored
			MaxResponseHeaderBytes: 64 << 10,
			ForceAttemptHTTP2:      true,
		},
		CheckRedirect: f.checkRedirect,
	}
	return f, nil
}

// Response is a fetched resource whose body has not been read yet.
type Response struct {
	// URL is the URL the body came from, after redirects.
	URL *url.URL
	// Header is the response's header.
	Header http.Header
	// ContentType is the Content-Type header.
	ContentType string
	// ContentLength is the announced length, or -1 when unknown.
	ContentLength int64
	// Body reads at most MaxBytes: the read that would go past them fails
	// with PAYLOAD_TOO_LARGE, and a broken or timed-out read with
	// SCRAPE_FAILED. Close it.
	Body io.ReadCloser
}

// Media is a fetched resource, read whole.
type Media struct {
	// URL is the URL the data came from, after redirects.
	URL *url.URL
	// ContentType is the Content-Type header.
	ContentType string
	// Data is the body, at most MaxBytes long.
	Data []byte
}

// Fetch GETs rawURL and reads the whole body. Its errors are Open's and
// those of reading the body.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (*Media, error) {
	r, err := f.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return &Media{URL: r.URL, ContentType: r.ContentType, Data: data}, nil
}

// Open GETs rawURL and returns the response with its body unread. Every
// failure is an *apierror.Error:
//
//   - SCRAPE_FAILED for a URL that is not absolute http(s), a signed URL
//     whose signature has expired (checked before fetching), an address
//     outside the public internet, a host name that does not resolve, a
//     connection that fails or times out, too many redirects, and any
//     non-2xx answer (an object store's expired-signature 403 is named as
//     such);
//   - PAYLOAD_TOO_LARGE with details.maxBytes when the announced length is
//     over MaxBytes.
//
// The message names the URL without its query string or userinfo; the
// cause, for logs, says what failed.
func (f *Fetcher) Open(ctx context.Context, rawURL string) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, f.fail(rawURL, failInvalid, fmt.Errorf("upstream: %q is not an absolute http or https URL", RedactURL(rawURL)))
	}
	if err := f.check(rawURL, u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, f.fail(rawURL, failInvalid, err)
	}
	req.Header.Set("User-Agent", f.cfg.UserAgent)
	req.Header.Set("Accept", "*/*")
	resp, err := f.client.Do(req)
	if err != nil {
		cancel()
		return nil, f.transportFailure(rawURL, ctx, err)
	}
	final := resp.Request.URL
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		cancel()
		cause := fmt.Errorf("upstream: GET %s: HTTP %d", RedactURL(final.String()), resp.StatusCode)
		if (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadRequest) && expiredBody(body) {
			return nil, f.fail(rawURL, failExpired, fmt.Errorf("%w: the object store says the signature has expired", cause))
		}
		return nil, f.fail(rawURL, failStatus(resp.StatusCode), cause)
	}
	if resp.ContentLength > f.cfg.MaxBytes {
		resp.Body.Close()
		cancel()
		return nil, f.tooLarge(rawURL, fmt.Errorf("upstream: GET %s: Content-Length %d is over the cap of %d bytes",
			RedactURL(final.String()), resp.ContentLength, f.cfg.MaxBytes))
	}
	return &Response{
		URL:           final,
		Header:        resp.Header,
		ContentType:   resp.Header.Get("Content-Type"),
		ContentLength: resp.ContentLength,
		Body:          &cappedBody{rc: resp.Body, cancel: cancel, left: f.cfg.MaxBytes, f: f, raw: rawURL, ctx: ctx},
	}, nil
}

// check refuses, before any connection, a URL u whose signature has
// expired and a host that is an address the policy refuses; the message
// names raw, the URL the caller gave (u is where a redirect leads). Host
// names are checked at dial time, on the addresses they resolve to.
func (f *Fetcher) check(raw string, u *url.URL) *apierror.Error {
	if exp, ok := signatureExpiry(u); ok && !f.clock.Now().Before(exp) {
		return f.fail(raw, failExpired, fmt.Errorf("upstream: %s: the signature expired at %s", RedactURL(u.String()), exp.UTC().Format(time.RFC3339)))
	}
	host := u.Hostname()
	a, ok, err := parseHostIP(host)
	if err != nil {
		return f.fail(raw, failRefused, &refusedError{host: host, reason: "malformed numeric"})
	}
	if ok {
		if r := refusal(a, f.cfg.AllowLoopback); r != "" {
			return f.fail(raw, failRefused, &refusedError{host: host, addr: a.WithZone(""), reason: r})
		}
	}
	return nil
}

// redirectError carries a redirect refusal out of http.Client.
type redirectError struct{ err *apierror.Error }

func (e *redirectError) Error() string { return e.err.Error() }

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if f.cfg.MaxRedirects < 0 || len(via) > f.cfg.MaxRedirects {
		return &redirectError{f.fail(via[0].URL.String(), failRedirects,
			fmt.Errorf("upstream: GET %s: more than %d redirects", RedactURL(via[0].URL.String()), max(f.cfg.MaxRedirects, 0)))}
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return &redirectError{f.fail(via[0].URL.String(), failInvalid,
			fmt.Errorf("upstream: redirected to a %q URL", req.URL.Scheme))}
	}
	if err := f.check(via[0].URL.String(), req.URL); err != nil {
		return &redirectError{err}
	}
	return nil
}

// transportFailure turns an http.Client error into SCRAPE_FAILED. The
// *url.Error around it carries the full URL, so only its cause is kept.
func (f *Fetcher) transportFailure(raw string, ctx context.Context, err error) *apierror.Error {
	var re *redirectError
	if errors.As(err, &re) {
		return re.err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var refused *refusedError
	var unresolved *resolveError
	var nerr net.Error
	switch {
	case errors.As(err, &refused):
		return f.fail(raw, failRefused, err)
	case errors.As(err, &unresolved):
		return f.fail(raw, failDNS, err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()):
		return f.fail(raw, failTimeout, fmt.Errorf("upstream: GET %s: %w", RedactURL(raw), err))
	}
	return f.fail(raw, failUnreachable, fmt.Errorf("upstream: GET %s: %w", RedactURL(raw), err))
}

// failKind selects a SCRAPE_FAILED message; a positive kind is an HTTP
// status.
type failKind int

const (
	failUnreachable failKind = -iota - 1
	failInvalid
	failExpired
	failRefused
	failDNS
	failTimeout
	failRedirects
)

func failStatus(status int) failKind { return failKind(status) }

// fail builds SCRAPE_FAILED naming raw without its query or userinfo.
func (f *Fetcher) fail(raw string, kind failKind, cause error) *apierror.Error {
	u := sanitizeMessage(RedactURL(raw), nil, maxURLInMessage)
	e := apierror.ScrapeFailed(u).WithCause(cause)
	var msg string
	switch kind {
	case failInvalid:
		msg = "Fetching " + u + " failed: it is not an absolute http or https URL."
	case failExpired:
		msg = "Fetching " + u + " failed: its signature has expired. Sign URLs for at least 15 minutes."
	case failRefused:
		msg = "Fetching " + u + " was refused: it does not point to a public internet address."
	case failDNS:
		msg = "Fetching " + u + " failed: its host name could not be resolved."
	case failTimeout:
		msg = "Fetching " + u + " timed out."
	case failRedirects:
		msg = "Fetching " + u + " failed: too many redirects."
	case failUnreachable:
		msg = "Fetching " + u + " failed: the host could not be reached."
	default:
		msg = "Fetching " + u + " returned HTTP " + strconv.Itoa(int(kind)) + "."
	}
	if strings.TrimSpace(u) == "" {
		return e // the constructor's message names no URL
	}
	return e.WithMessage(msg)
}

// tooLarge builds PAYLOAD_TOO_LARGE for a fetched body: the catalogue's
// message speaks of the request body, this one of the URL's.
func (f *Fetcher) tooLarge(raw string, cause error) *apierror.Error {
	u := sanitizeMessage(RedactURL(raw), nil, maxURLInMessage)
	return apierror.PayloadTooLarge(f.cfg.MaxBytes).WithCause(cause).WithMessage(
		"The file at " + u + " is larger than the limit of " + strconv.FormatInt(f.cfg.MaxBytes, 10) + " bytes.")
}

// cappedBody reads at most left bytes and turns read failures into the
// contract's errors.
type cappedBody struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	left   int64
	err    error
	f      *Fetcher
	raw    string
	ctx    context.Context
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte past the cap tells "over" from "exactly"
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		b.err = b.f.tooLarge(b.raw, fmt.Errorf("upstream: GET %s: the body is longer than the cap of %d bytes", RedactURL(b.raw), b.f.cfg.MaxBytes))
		b.rc.Close() // stop reading from the network
		return n, b.err
	}
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		b.err = b.f.transportFailure(b.raw, b.ctx, err)
		return n, b.err
	}
	return n, err
}

func (b *cappedBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}
