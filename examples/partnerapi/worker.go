package main

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/jobs"
)

// worker stands in for the generation pipeline: each job finishes after a
// delay, failing with MODERATION_BLOCKED when its hook mentions violence.
// It owns one timer per pending job; close stops them and waits for running
// ones, so a closed server leaves no goroutine behind.
type worker struct {
	store *store
	delay time.Duration

	mu     sync.Mutex
	closed bool
	timers map[string]*time.Timer
	wg     sync.WaitGroup
}

func newWorker(s *store, delay time.Duration) *worker {
	return &worker{store: s, delay: delay, timers: make(map[string]*time.Timer)}
}

// start runs job jobID for the container cnt. log is the logger of the
// request that created it, so the job's lines carry that requestId.
func (w *worker) start(jobID string, cnt container, log *slog.Logger) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.store.setJob(jobID, jobs.Running())
	w.wg.Add(1)
	w.timers[jobID] = time.AfterFunc(w.delay, func() {
		defer w.wg.Done()
		w.finish(jobID, cnt, log)
		w.mu.Lock()
		delete(w.timers, jobID)
		w.mu.Unlock()
	})
}

// finish moves the job to its terminal state.
func (w *worker) finish(jobID string, cnt container, log *slog.Logger) {
	now := time.Now()
	if strings.Contains(strings.ToLower(cnt.Hook), "violence") {
		job := jobs.Failed(now, apierror.ModerationBlocked("violence"), "finalizing")
		w.store.setJob(jobID, job)
		log.Info("job failed", "jobId", jobID, "containerId", cnt.ID, "error", job.Error.Error())
		return
	}
	w.store.setJob(jobID, jobs.Succeeded(now, jobResult(cnt.ID)))
	log.Info("job succeeded", "jobId", jobID, "containerId", cnt.ID)
}

// close stops the pending jobs (they stay running) and waits for the ones
// finishing right now.
func (w *worker) close() {
	w.mu.Lock()
	w.closed = true
	for id, t := range w.timers {
		if t.Stop() {
			w.wg.Done()
		}
		delete(w.timers, id)
	}
	w.mu.Unlock()
	w.wg.Wait()
}
