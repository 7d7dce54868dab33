package jobs

import "fmt"

// Status is the state of an async job as GET /v1/jobs/:jobId reports it:
// exactly one of queued, running, succeeded, failed.
type Status string

// The four job states. Succeeded and failed are terminal: a terminal job has
// a finishedAt, and only a failed job has an error.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
)

// Valid reports whether s is one of the four states.
func (s Status) Valid() bool {
	switch s {
	case StatusQueued, StatusRunning, StatusSucceeded, StatusFailed:
		return true
	}
	return false
}

// Terminal reports whether s is succeeded or failed: the job will not change
// state again.
func (s Status) Terminal() bool { return s == StatusSucceeded || s == StatusFailed }

// ParseStatus returns the state named by s, or an error naming the four valid
// values.
func ParseStatus(s string) (Status, error) {
	if v := Status(s); v.Valid() {
		return v, nil
	}
	return "", fmt.Errorf("jobs: invalid status %q (want queued, running, succeeded or failed)", s)
}
