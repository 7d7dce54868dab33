package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/upstream"
)

// Defaults of the upstream part of [Config].
const (
	// DefaultBreakerFailures is how many consecutive failed calls to a
	// platform open its circuit.
	DefaultBreakerFailures = 3
	// DefaultBreakerCooldown is how long an open circuit refuses calls.
	DefaultBreakerCooldown = 30 * time.Second

	// defaultPlatformTimeout bounds each platform call.
	defaultPlatformTimeout = 5 * time.Second
	// defaultFetchTimeout bounds each media fetch, and the wait for its
	// response headers.
	defaultFetchTimeout = 10 * time.Second
	// defaultMediaMaxBytes caps a fetched media file.
	defaultMediaMaxBytes = 8 << 20
)

// maxPlatformAnswer bounds how much of a platform's success body is read.
const maxPlatformAnswer = 64 << 10

// platforms are the platforms content can be published to: every platform
// of the contract.
var platforms = []apierror.Platform{
	apierror.PlatformTikTok, apierror.PlatformMeta, apierror.PlatformApple,
	apierror.PlatformInstagram, apierror.PlatformAppStore,
}

// platformTokens are the demo's access tokens, one per platform, sent as
// "Authorization: Bearer <token>". They are fake, but the client treats them
// as the secrets real ones are: a platform that echoes one back (Meta's
// "Malformed access token ...") has it redacted from platformMessage.
var platformTokens = map[apierror.Platform]string{
	apierror.PlatformTikTok:    "act.demo7c0f3a9e41b2d6",
	apierror.PlatformMeta:      "EAADemo7c0f3a9e41b2d6",
	apierror.PlatformInstagram: "IGQDemo7c0f3a9e41b2d6",
	apierror.PlatformApple:     "eyJhbGciOiJFUzI1NiJ9.demo.7c0f3a9e41b2d6",
	apierror.PlatformAppStore:  "eyJhbGciOiJFUzI1NiJ9.demo.0b9d1f5e27c4a8",
}

// publishResource is the breaker resource of publishing to p, what
// CIRCUIT_OPEN names in details.resource.
func publishResource(p apierror.Platform) string { return string(p) + "-publish" }

// clockFunc is a func() time.Time as an upstream.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// upstreams are the demo's outbound calls, built once by [New]: a platform
// client per platform, all guarded by one circuit breaker, and the fetcher
// of caller-given media URLs.
type upstreams struct {
	base      string // where platform calls go: base + "/" + platform + "/publish"
	breaker   *upstream.Breaker
	clients   map[apierror.Platform]*upstream.Client
	fetcher   *upstream.Fetcher
	transport *http.Transport
}

// newUpstreams builds the platform clients, on a breaker sharing store (nil:
// in this process), and the fetcher. base is the validated platform base URL.
func newUpstreams(cfg Config, base string, store upstream.Store) (*upstreams, error) {
	var clock upstream.Clock
	if cfg.now != nil {
		clock = clockFunc(cfg.now)
	}
	breaker, err := upstream.NewBreaker(upstream.BreakerConfig{
		Failures: cfg.BreakerFailures,
		Cooldown: cfg.BreakerCooldown,
		Store:    store,
		Clock:    clock,
		Logger:   cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	u := &upstreams{
		base:    base,
		breaker: breaker,
		clients: make(map[apierror.Platform]*upstream.Client, len(platforms)),
		// The platforms are called through a proxy-free transport of their
		// own, whose idle connections Close releases.
		transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: cfg.platformTimeout}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	for _, p := range platforms {
		c, err := upstream.NewClient(upstream.ClientConfig{
			Platform:  p,
			Resource:  publishResource(p),
			Breaker:   breaker,
			Transport: u.transport,
			Timeout:   cfg.platformTimeout,
			Clock:     clock,
		})
		if err != nil {
			_ = u.close()
			return nil, err
		}
		u.clients[p] = c
	}
	if u.fetcher, err = upstream.NewFetcher(upstream.FetcherConfig{
		MaxBytes:       cfg.fetchMaxBytes,
		Timeout:        cfg.fetchTimeout,
		ConnectTimeout: min(cfg.fetchTimeout, upstream.DefaultConnectTimeout),
		HeaderTimeout:  cfg.fetchTimeout,
		AllowLoopback:  cfg.FetchAllowLoopback,
		UserAgent:      "errkit-partnerapi-demo",
		Clock:          clock,
	}); err != nil {
		_ = u.close()
		return nil, err
	}
	return u, nil
}

// close stops the breaker watching its store and drops idle platform
// connections.
func (u *upstreams) close() error {
	err := u.breaker.Close()
	u.transport.CloseIdleConnections()
	return err
}

// platformBase checks the -platform-base URL and returns it without its
// trailing slashes.
func platformBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("platform base %q (-platform-base): want an absolute http:// or https:// URL without query, fragment or userinfo", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// platformPost is what the demo sends to a platform's publish endpoint.
type platformPost struct {
	ContainerID string `json:"containerId"`
	Caption     string `json:"caption"`
}

// publish publishes cnt to p and returns the platform's post ID. Its errors
// are the platform client's: PLATFORM_ERROR (the platform's own code,
// message and retry window, or a timeout) and CIRCUIT_OPEN; a 2xx that names
// no post is INTERNAL.
func (u *upstreams) publish(ctx context.Context, p apierror.Platform, cnt container) (string, error) {
	body, err := json.Marshal(platformPost{ContainerID: cnt.ID, Caption: cnt.Hook})
	if err != nil {
		return "", apierror.Internal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.base+"/"+string(p)+"/publish", bytes.NewReader(body))
	if err != nil {
		return "", apierror.Internal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+platformTokens[p])
	resp, err := u.clients[p].Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxPlatformAnswer))
	if err != nil {
		return "", err // PLATFORM_ERROR: the body broke off or timed out
	}
	id := postID(answer)
	if id == "" {
		return "", apierror.Internal(fmt.Errorf("publish to %s: HTTP %d names no post ID", p, resp.StatusCode))
	}
	return id, nil
}

// postID reads the ID of a new post from a platform's success body: TikTok's
// data.publish_id, App Store Connect's data.id, or the Graph API's id.
func postID(body []byte) string {
	var b struct {
		ID   string `json:"id"`
		Data struct {
			PublishID string `json:"publish_id"`
			ID        string `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	for _, id := range []string{b.Data.PublishID, b.Data.ID, b.ID} {
		if id != "" {
			return id
		}
	}
	return ""
}
