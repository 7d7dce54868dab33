package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
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
	store  *store
	worker *worker
}

// writeJSON answers status with v as JSON, byte for byte what echo's c.JSON
// writes (one json.Encoder line), so that every framework sends the same
// body.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// bindJSON decodes a JSON request body into v. An empty body
// (Content-Length: 0) leaves v as it is, so a missing field is reported by
// validation rather than as malformed JSON; a body of another media type is
// VALIDATION on the Content-Type; a body that does not decode is VALIDATION
// naming the body or the field (httperror.FromDecodeError), and one past the
// body limit PAYLOAD_TOO_LARGE.
func bindJSON(r *http.Request, v any) error {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	mediaType, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(mediaType), "application/json") {
		// Mapped as every framework's 415 is, to VALIDATION on the header.
		return &httperror.StatusError{Status: http.StatusUnsupportedMediaType}
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return httperror.FromDecodeError(err)
	}
	return nil
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
