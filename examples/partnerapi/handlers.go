package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/jsonbody"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
	"github.com/layershq/errkit/upstream"
)

// maxHookLength is the longest hook accepted, in characters.
const maxHookLength = 280

// handlerFunc is the business logic of one route, written once against
// net/http: it reads the request (path parameters with r.PathValue, which
// every framework's wiring fills), writes a success, or returns an error that
// the framework's errkit adapter renders as the envelope. It never writes an
// error body itself.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handlers are the routes of the demo API that need its domain.
type handlers struct {
	store     *store
	worker    *worker
	upstreams *upstreams
}

// writeJSON answers status with v as JSON, byte for byte what echo's c.JSON
// writes (one json.Encoder line), so that every framework sends the same
// body.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// bindJSON decodes a JSON request body into v with errkit's strict decoder
// (jsonbody): an empty body (Content-Length: 0) leaves v as it is, so a
// missing field is reported by validation rather than as an empty body;
// a Content-Type other than application/json (an XML or form body),
// invalid UTF-8, a key repeated in one object or data after the JSON value
// is VALIDATION with an issue naming the problem; a body that does not
// decode is VALIDATION naming the body or the field, and one past the body
// limit PAYLOAD_TOO_LARGE.
func bindJSON(r *http.Request, v any) error {
	return jsonbody.Decode(r, v, jsonbody.Options{MaxBytes: maxBodyBytes, AllowEmpty: true})
}

// scoped answers FORBIDDEN_SCOPE with details.requiredScope unless the
// authenticated key was granted scope, and runs h otherwise.
func scoped(scope string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if p, _ := principal.From(r); !p.HasScope(scope) {
			return apierror.ForbiddenScope(scope)
		}
		return h(w, r)
	}
}

func healthz(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// whoamiResponse is the body of GET /v1/whoami.
type whoamiResponse struct {
	KeyID          string   `json:"keyId"`
	OrganizationID string   `json:"organizationId"`
	Scopes         []string `json:"scopes"`
}

func whoami(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal.From(r)
	return writeJSON(w, http.StatusOK, whoamiResponse{p.KeyID, p.OrganizationID, p.Scopes})
}

// createContentRequest is the body of POST /v1/projects/{projectId}/content.
// Engagement is a v2 field, fenced until it ships.
type createContentRequest struct {
	Hook       *string         `json:"hook"`
	Engagement json.RawMessage `json:"engagement"`
}

// createContentResponse is the 202 body of POST
// /v1/projects/{projectId}/content.
type createContentResponse struct {
	ContainerID    string                  `json:"containerId"`
	JobID          string                  `json:"jobId"`
	ApprovalStatus apierror.ApprovalStatus `json:"approvalStatus"`
}

func (h *handlers) createContent(w http.ResponseWriter, r *http.Request) error {
	var req createContentRequest
	if err := bindJSON(r, &req); err != nil {
		return err
	}
	if req.Engagement != nil {
		return apierror.ForbiddenFence("engagement")
	}
	if issue, ok := validateHook(req.Hook); !ok {
		return apierror.Validation(issue)
	}
	org := principal.OrganizationID(r)
	cnt, jobID, err := h.store.createContent(org, r.PathValue("projectId"), *req.Hook)
	if err != nil {
		return err
	}
	log := requestid.Logger(r.Context())
	h.worker.start(jobID, cnt, log)
	log.Info("content created", "containerId", cnt.ID, "jobId", jobID, "organizationId", org)
	return writeJSON(w, http.StatusAccepted, createContentResponse{cnt.ID, jobID, cnt.ApprovalStatus})
}

// validateHook checks the hook of a create-content request.
func validateHook(hook *string) (apierror.Issue, bool) {
	switch {
	case hook == nil:
		return apierror.Issue{Path: "hook", Message: "is required."}, false
	case !utf8.ValidString(*hook):
		return apierror.Issue{Path: "hook", Message: "must be valid UTF-8."}, false
	case strings.TrimSpace(*hook) == "":
		return apierror.Issue{Path: "hook", Message: "must not be empty."}, false
	case utf8.RuneCountInString(*hook) > maxHookLength:
		return apierror.Issue{Path: "hook", Message: "must be at most 280 characters."}, false
	}
	return apierror.Issue{}, true
}

func (h *handlers) getContent(w http.ResponseWriter, r *http.Request) error {
	cnt, err := h.store.container(principal.OrganizationID(r), r.PathValue("containerId"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cnt)
}

func (h *handlers) approve(w http.ResponseWriter, r *http.Request) error {
	return h.setApproval(w, r, apierror.ApprovalApproved)
}

func (h *handlers) reject(w http.ResponseWriter, r *http.Request) error {
	return h.setApproval(w, r, apierror.ApprovalRejected)
}

func (h *handlers) setApproval(w http.ResponseWriter, r *http.Request, to apierror.ApprovalStatus) error {
	cnt, err := h.store.setApproval(principal.OrganizationID(r), r.PathValue("containerId"), to)
	if err != nil {
		return err
	}
	requestid.Logger(r.Context()).Info("approval changed", "containerId", cnt.ID, "approvalStatus", string(to))
	return writeJSON(w, http.StatusOK, cnt)
}

// scheduleRequest is the body of POST /v1/content/{containerId}/schedule.
type scheduleRequest struct {
	PublishAt *string `json:"publishAt"`
}

// scheduleResponse is the 200 body of POST
// /v1/content/{containerId}/schedule.
type scheduleResponse struct {
	ContainerID  string    `json:"containerId"`
	ScheduledFor time.Time `json:"scheduledFor"`
}

func (h *handlers) schedule(w http.ResponseWriter, r *http.Request) error {
	var req scheduleRequest
	if err := bindJSON(r, &req); err != nil {
		return err
	}
	at, issue, ok := parsePublishAt(req.PublishAt, time.Now())
	if !ok {
		return apierror.Validation(issue)
	}
	cnt, err := h.store.schedule(principal.OrganizationID(r), r.PathValue("containerId"), at)
	if err != nil {
		return err
	}
	requestid.Logger(r.Context()).Info("content scheduled", "containerId", cnt.ID, "scheduledFor", at)
	return writeJSON(w, http.StatusOK, scheduleResponse{cnt.ID, *cnt.ScheduledFor})
}

// parsePublishAt checks publishAt: an RFC 3339 date-time in the future.
func parsePublishAt(publishAt *string, now time.Time) (time.Time, apierror.Issue, bool) {
	if publishAt == nil {
		return time.Time{}, apierror.Issue{Path: "publishAt", Message: "is required."}, false
	}
	at, err := time.Parse(time.RFC3339, *publishAt)
	if err != nil {
		return time.Time{}, apierror.Issue{Path: "publishAt", Message: "must be an RFC 3339 date-time, for example 2030-01-02T15:04:05Z."}, false
	}
	if !at.After(now) {
		return time.Time{}, apierror.Issue{Path: "publishAt", Message: "must be in the future."}, false
	}
	return at, apierror.Issue{}, true
}

func (h *handlers) getJob(w http.ResponseWriter, r *http.Request) error {
	job, err := h.store.job(principal.OrganizationID(r), r.PathValue("jobId"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, job)
}

// publishRequest is the body of POST /v1/content/{containerId}/publish.
type publishRequest struct {
	Platform *string `json:"platform"`
}

// publishResponse is the 200 body of POST /v1/content/{containerId}/publish.
type publishResponse struct {
	ContainerID string            `json:"containerId"`
	Platform    apierror.Platform `json:"platform"`
	PostID      string            `json:"postId"`
}

// publish publishes an approved container to a platform through the
// platform client: the approval gate of scheduling applies, and the
// platform's failures are PLATFORM_ERROR or, once its circuit is open,
// CIRCUIT_OPEN.
func (h *handlers) publish(w http.ResponseWriter, r *http.Request) error {
	var req publishRequest
	if err := bindJSON(r, &req); err != nil {
		return err
	}
	p, issue, ok := parsePlatform(req.Platform)
	if !ok {
		return apierror.Validation(issue)
	}
	cnt, err := h.store.publishable(principal.OrganizationID(r), r.PathValue("containerId"))
	if err != nil {
		return err
	}
	postID, err := h.upstreams.publish(r.Context(), p, cnt)
	if err != nil {
		return err
	}
	requestid.Logger(r.Context()).Info("content published", "containerId", cnt.ID, "platform", string(p), "postId", postID)
	return writeJSON(w, http.StatusOK, publishResponse{cnt.ID, p, postID})
}

// parsePlatform checks the platform of a publish request.
func parsePlatform(platform *string) (apierror.Platform, apierror.Issue, bool) {
	if platform == nil {
		return "", apierror.Issue{Path: "platform", Message: "is required."}, false
	}
	p := apierror.Platform(*platform)
	if !p.Valid() {
		return "", apierror.Issue{Path: "platform", Message: "must be one of tiktok, meta, apple, instagram, appstore."}, false
	}
	return p, apierror.Issue{}, true
}

// mediaRequest is the body of POST /v1/apps/{appId}/media.
type mediaRequest struct {
	URL *string `json:"url"`
}

// mediaResponse is the 200 body of POST /v1/apps/{appId}/media: what was
// fetched, from where (without query or userinfo), and its digest.
type mediaResponse struct {
	AppID       string `json:"appId"`
	URL         string `json:"url"`
	ContentType string `json:"contentType"`
	Bytes       int    `json:"bytes"`
	SHA256      string `json:"sha256"`
}

// media fetches a caller-given URL for an app of the caller's organization
// through the fetcher: every failure is SCRAPE_FAILED, a file over the cap
// PAYLOAD_TOO_LARGE, and addresses outside the public internet are refused.
func (h *handlers) media(w http.ResponseWriter, r *http.Request) error {
	var req mediaRequest
	if err := bindJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.URL == nil:
		return apierror.Validation(apierror.Issue{Path: "url", Message: "is required."})
	case strings.TrimSpace(*req.URL) == "":
		return apierror.Validation(apierror.Issue{Path: "url", Message: "must not be empty."})
	}
	a, err := h.store.app(principal.OrganizationID(r), r.PathValue("appId"))
	if err != nil {
		return err
	}
	m, err := h.upstreams.fetcher.Fetch(r.Context(), *req.URL)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(m.Data)
	from := upstream.RedactURL(m.URL.String())
	requestid.Logger(r.Context()).Info("media fetched", "appId", a.ID, "url", from, "bytes", len(m.Data))
	return writeJSON(w, http.StatusOK, mediaResponse{a.ID, from, m.ContentType, len(m.Data), "sha256:" + hex.EncodeToString(sum[:])})
}
