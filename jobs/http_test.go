package jobs

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// TestOneVocabularyOverHTTP serves WORKFLOW_START_FAILED both ways the package
// doc describes, over a real listener: as the 500 envelope of the request that
// tried to start the workflow, and as the error of a job whose start failed
// after acceptance. The client gets the same *apierror.Error code from
// apierror.DecodeResponse and from DecodeJob, the requestId only on the HTTP
// path (the job response carries it in X-Request-Id), and no cause anywhere.
func TestOneVocabularyOverHTTP(t *testing.T) {
	cause := errors.New("temporal: dial tcp 10.0.0.7:7233: password=hunter2")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/generations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req_post")
		w.Header().Set("Content-Type", "application/json")
		e := apierror.WorkflowStartFailed(cause)
		w.WriteHeader(e.Status())
		_, _ = w.Write(e.Render("req_post"))
	})
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, err := json.Marshal(Failed(finishedAt, apierror.WorkflowStartFailed(cause), "starting"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Request-Id", "req_get")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The request that tried to start the workflow.
	resp, err := http.Post(srv.URL+"/v1/generations", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	httpErr := apierror.DecodeResponse(resp)
	require.NoError(t, resp.Body.Close())
	require.ErrorIs(t, httpErr, apierror.New(apierror.CodeWorkflowStartFailed))
	he, ok := apierror.As(httpErr)
	require.True(t, ok)
	assert.Equal(t, http.StatusInternalServerError, he.Status())
	assert.Equal(t, "req_post", he.RequestID())
	assert.True(t, he.Spec().Retry.Retryable())
	assert.NotContains(t, he.Error(), "hunter2")

	// The job whose start failed after acceptance.
	resp, err = http.Get(srv.URL + "/v1/jobs/job_1")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "req_get", resp.Header.Get("X-Request-Id"))
	assert.NotContains(t, string(body), "hunter2")
	assert.NotContains(t, string(body), "requestId")

	job, err := DecodeJob(body)
	require.NoError(t, err)
	jobErr := job.Err()
	require.ErrorIs(t, jobErr, apierror.New(apierror.CodeWorkflowStartFailed))
	je, ok := apierror.As(jobErr)
	require.True(t, ok)
	assert.Equal(t, he.Code(), je.Code())
	assert.Equal(t, he.Message(), je.Message())
	assert.Equal(t, he.Status(), je.Status())
	assert.Empty(t, je.RequestID())
	assert.NotContains(t, je.Error(), "hunter2", "a decoded job error has no cause")
	stage, ok := StageOf(jobErr)
	assert.True(t, ok)
	assert.Equal(t, "starting", stage)
}
