package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

// maxHookLength is the longest hook accepted, in characters.
const maxHookLength = 280

// handlers are the routes of the demo API. Each returns errors and leaves
// their rendering to errkit's error handler.
type handlers struct {
	store  *store
	worker *worker
}

func healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// whoamiResponse is the body of GET /v1/whoami.
type whoamiResponse struct {
	KeyID          string   `json:"keyId"`
	OrganizationID string   `json:"organizationId"`
	Scopes         []string `json:"scopes"`
}

func whoami(c echo.Context) error {
	p, _ := principal.From(c)
	return c.JSON(http.StatusOK, whoamiResponse{p.KeyID, p.OrganizationID, p.Scopes})
}

// createContentRequest is the body of POST /v1/projects/:projectId/content.
// Engagement is a v2 field, fenced until it ships.
type createContentRequest struct {
	Hook       *string         `json:"hook"`
	Engagement json.RawMessage `json:"engagement"`
}

// createContentResponse is the 202 body of POST /v1/projects/:projectId/content.
type createContentResponse struct {
	ContainerID    string                  `json:"containerId"`
	JobID          string                  `json:"jobId"`
	ApprovalStatus apierror.ApprovalStatus `json:"approvalStatus"`
}

func (h *handlers) createContent(c echo.Context) error {
	var req createContentRequest
	if err := c.Bind(&req); err != nil {
		return err // malformed JSON: the error handler answers VALIDATION
	}
	if req.Engagement != nil {
		return apierror.ForbiddenFence("engagement")
	}
	if issue, ok := validateHook(req.Hook); !ok {
		return apierror.Validation(issue)
	}
	org := principal.OrganizationID(c)
	cnt, jobID, err := h.store.createContent(org, c.Param("projectId"), *req.Hook)
	if err != nil {
		return err
	}
	log := middleware.LoggerFrom(c)
	h.worker.start(jobID, cnt, log)
	log.Info("content created", zap.String("containerId", cnt.ID), zap.String("jobId", jobID), zap.String("organizationId", org))
	return c.JSON(http.StatusAccepted, createContentResponse{cnt.ID, jobID, cnt.ApprovalStatus})
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

func (h *handlers) getContent(c echo.Context) error {
	cnt, err := h.store.container(principal.OrganizationID(c), c.Param("containerId"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cnt)
}

func (h *handlers) approve(c echo.Context) error {
	return h.setApproval(c, apierror.ApprovalApproved)
}

func (h *handlers) reject(c echo.Context) error {
	return h.setApproval(c, apierror.ApprovalRejected)
}

func (h *handlers) setApproval(c echo.Context, to apierror.ApprovalStatus) error {
	cnt, err := h.store.setApproval(principal.OrganizationID(c), c.Param("containerId"), to)
	if err != nil {
		return err
	}
	middleware.LoggerFrom(c).Info("approval changed", zap.String("containerId", cnt.ID), zap.String("approvalStatus", string(to)))
	return c.JSON(http.StatusOK, cnt)
}

// scheduleRequest is the body of POST /v1/content/:containerId/schedule.
type scheduleRequest struct {
	PublishAt *string `json:"publishAt"`
}

// scheduleResponse is the 200 body of POST /v1/content/:containerId/schedule.
type scheduleResponse struct {
	ContainerID  string    `json:"containerId"`
	ScheduledFor time.Time `json:"scheduledFor"`
}

func (h *handlers) schedule(c echo.Context) error {
	var req scheduleRequest
	if err := c.Bind(&req); err != nil {
		return err
	}
	at, issue, ok := parsePublishAt(req.PublishAt, time.Now())
	if !ok {
		return apierror.Validation(issue)
	}
	cnt, err := h.store.schedule(principal.OrganizationID(c), c.Param("containerId"), at)
	if err != nil {
		return err
	}
	middleware.LoggerFrom(c).Info("content scheduled", zap.String("containerId", cnt.ID), zap.Time("scheduledFor", at))
	return c.JSON(http.StatusOK, scheduleResponse{cnt.ID, *cnt.ScheduledFor})
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

func (h *handlers) getJob(c echo.Context) error {
	job, err := h.store.job(principal.OrganizationID(c), c.Param("jobId"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, job)
}
