package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/jobs"
	"github.com/layershq/errkit/principal"
)

// The scopes of the demo API.
const (
	scopeContentRead  = "content:read"
	scopeContentWrite = "content:write"
	scopeJobsRead     = "jobs:read"
)

// demoKey is one seeded API key: the secret a client sends and the principal
// it authenticates as.
type demoKey struct {
	Secret    string
	Principal principal.Principal
}

// demoKeys are the seeded API keys, in the order main prints them.
var demoKeys = []demoKey{
	{"lp_demo_full", principal.Principal{KeyID: "key_full", OrganizationID: "org_demo", Scopes: []string{scopeContentRead, scopeContentWrite, scopeJobsRead}}},
	{"lp_demo_readonly", principal.Principal{KeyID: "key_readonly", OrganizationID: "org_demo", Scopes: []string{scopeContentRead, scopeJobsRead}}},
	{"lp_other_org", principal.Principal{KeyID: "key_other", OrganizationID: "org_other", Scopes: []string{scopeContentRead, scopeContentWrite, scopeJobsRead}}},
	{"lp_broke", principal.Principal{KeyID: "key_broke", OrganizationID: "org_broke", Scopes: []string{scopeContentRead, scopeContentWrite, scopeJobsRead}}},
}

// creditsPerContent is what creating one content container costs.
const creditsPerContent = 1

// project is a seeded project.
type project struct {
	ID               string
	OrganizationID   string
	RequiresApproval bool
}

// container is a content container; its JSON form is the API's.
type container struct {
	ID             string                  `json:"containerId"`
	ProjectID      string                  `json:"projectId"`
	Hook           string                  `json:"hook"`
	ApprovalStatus apierror.ApprovalStatus `json:"approvalStatus"`
	ScheduledFor   *time.Time              `json:"scheduledFor,omitempty"`

	org              string
	requiresApproval bool
}

// demoApp is a seeded app of an organization, whose media
// POST /v1/apps/{appId}/media fetches.
type demoApp struct {
	ID             string
	OrganizationID string
}

// jobRecord is a generation job and the organization that owns it.
type jobRecord struct {
	org string
	job jobs.Job
}

// store is the demo's in-memory domain: API keys, projects, apps, wallets,
// containers and jobs. Every method is safe for concurrent use. Lookups of
// resources owned by another organization answer exactly like missing ones,
// so that handlers cannot leak cross-org existence by accident.
type store struct {
	keys map[[sha256.Size]byte]principal.Principal // by SHA-256 of the secret

	mu         sync.Mutex
	projects   map[string]project
	apps       map[string]demoApp
	wallets    map[string]int // credits per organization
	containers map[string]*container
	jobs       map[string]*jobRecord
}

// newStore returns the seeded store.
func newStore() *store {
	s := &store{
		keys: make(map[[sha256.Size]byte]principal.Principal, len(demoKeys)),
		projects: map[string]project{
			"prj_demo":  {ID: "prj_demo", OrganizationID: "org_demo", RequiresApproval: true},
			"prj_auto":  {ID: "prj_auto", OrganizationID: "org_demo"},
			"prj_other": {ID: "prj_other", OrganizationID: "org_other"},
			"prj_broke": {ID: "prj_broke", OrganizationID: "org_broke"},
		},
		apps: map[string]demoApp{
			"app_demo":  {ID: "app_demo", OrganizationID: "org_demo"},
			"app_other": {ID: "app_other", OrganizationID: "org_other"},
		},
		wallets:    map[string]int{"org_demo": 1000, "org_other": 1000, "org_broke": 0},
		containers: make(map[string]*container),
		jobs:       make(map[string]*jobRecord),
	}
	for _, k := range demoKeys {
		s.keys[sha256.Sum256([]byte(k.Secret))] = k.Principal
	}
	return s
}

// authenticate returns the principal of an API key secret. Keys are looked up
// by their SHA-256, so the lookup's timing says nothing about the secrets.
func (s *store) authenticate(secret string) (principal.Principal, bool) {
	p, ok := s.keys[sha256.Sum256([]byte(secret))]
	return p, ok
}

// createContent spends a credit of org and creates a container for hook in
// projectID together with its queued job. It answers NOT_FOUND for a project
// that does not exist or belongs to another organization, and
// BILLING_EXHAUSTED when the wallet cannot cover the generation.
func (s *store) createContent(org, projectID, hook string) (container, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok || p.OrganizationID != org {
		return container{}, "", apierror.NotFound()
	}
	if s.wallets[org] < creditsPerContent {
		return container{}, "", apierror.BillingExhausted(apierror.BillingInsufficient)
	}
	s.wallets[org] -= creditsPerContent
	status := apierror.ApprovalApproved
	if p.RequiresApproval {
		status = apierror.ApprovalPending
	}
	cnt := &container{
		ID: "cnt_" + newUUID(), ProjectID: projectID, Hook: hook, ApprovalStatus: status,
		org: org, requiresApproval: p.RequiresApproval,
	}
	s.containers[cnt.ID] = cnt
	jobID := "job_" + newUUID()
	s.jobs[jobID] = &jobRecord{org: org, job: jobs.Queued()}
	return *cnt, jobID, nil
}

// container returns org's container id, or NOT_FOUND.
func (s *store) container(org, id string) (container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cnt, err := s.containerLocked(org, id)
	if err != nil {
		return container{}, err
	}
	return *cnt, nil
}

func (s *store) containerLocked(org, id string) (*container, error) {
	cnt, ok := s.containers[id]
	if !ok || cnt.org != org {
		return nil, apierror.NotFound()
	}
	return cnt, nil
}

// setApproval moves org's container id to approved or rejected. A container
// already in that state is a CONFLICT; approving a rejected container is
// CONTENT_REJECTED, since approval is a one-way gate once refused.
func (s *store) setApproval(org, id string, to apierror.ApprovalStatus) (container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cnt, err := s.containerLocked(org, id)
	switch {
	case err != nil:
		return container{}, err
	case cnt.ApprovalStatus == to:
		return container{}, apierror.Conflict("already_" + string(to))
	case to == apierror.ApprovalApproved && cnt.ApprovalStatus == apierror.ApprovalRejected:
		return container{}, apierror.ContentRejected(cnt.ID)
	}
	cnt.ApprovalStatus = to
	return *cnt, nil
}

// schedule schedules org's container id for publication at at. A rejected
// container is CONTENT_REJECTED; one that is not approved in a project that
// requires approval is APPROVAL_REQUIRED.
func (s *store) schedule(org, id string, at time.Time) (container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cnt, err := s.containerLocked(org, id)
	if err != nil {
		return container{}, err
	}
	if err := releasable(cnt); err != nil {
		return container{}, err
	}
	at = at.UTC()
	cnt.ScheduledFor = &at
	return *cnt, nil
}

// releasable is the approval gate of scheduling and publishing: a rejected
// container is CONTENT_REJECTED; one that is not approved in a project that
// requires approval is APPROVAL_REQUIRED.
func releasable(cnt *container) error {
	switch {
	case cnt.ApprovalStatus == apierror.ApprovalRejected:
		return apierror.ContentRejected(cnt.ID)
	case cnt.requiresApproval && cnt.ApprovalStatus != apierror.ApprovalApproved:
		return apierror.ApprovalRequired(cnt.ID, cnt.ApprovalStatus)
	}
	return nil
}

// publishable returns org's container id if it may be published: NOT_FOUND,
// CONTENT_REJECTED and APPROVAL_REQUIRED as for scheduling.
func (s *store) publishable(org, id string) (container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cnt, err := s.containerLocked(org, id)
	if err != nil {
		return container{}, err
	}
	if err := releasable(cnt); err != nil {
		return container{}, err
	}
	return *cnt, nil
}

// app returns org's app id, or NOT_FOUND: another organization's app
// answers exactly like a missing one.
func (s *store) app(org, id string) (demoApp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[id]
	if !ok || a.OrganizationID != org {
		return demoApp{}, apierror.NotFound()
	}
	return a, nil
}

// job returns org's job id, or NOT_FOUND.
func (s *store) job(org, id string) (jobs.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.jobs[id]
	if !ok || rec.org != org {
		return jobs.Job{}, apierror.NotFound()
	}
	return rec.job, nil
}

// setJob records the new state of job id.
func (s *store) setJob(id string, job jobs.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.jobs[id]; ok {
		rec.job = job
	}
}

// jobResult is the result of a succeeded generation job.
func jobResult(containerID string) json.RawMessage {
	b, _ := json.Marshal(struct {
		ContainerID string `json:"containerId"`
	}{containerID})
	return b
}

// newUUID returns a random (version 4) UUID in its canonical text form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
