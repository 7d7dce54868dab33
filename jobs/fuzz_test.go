package jobs

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/layershq/errkit/apierror"
)

// FuzzDecodeJob feeds DecodeJob arbitrary bodies (seed corpus in
// testdata/fuzz/FuzzDecodeJob). It must never panic; a body it refuses leaves
// a zero Job; a body it accepts gives a valid Job that marshals, decodes again
// to the same bytes, never has a requestId or details key in its error, and,
// when failed, an Err that is an *apierror.Error with the same code, message
// and stage.
func FuzzDecodeJob(f *testing.F) {
	f.Add([]byte(pageExample))
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := DecodeJob(body)
		if err != nil {
			if j.Status != "" || j.FinishedAt != nil || j.Error != nil || j.Result != nil {
				t.Fatalf("refused body left a non-zero job: %+v", j)
			}
			return
		}
		if verr := j.Validate(); verr != nil {
			t.Fatalf("accepted job is invalid: %v", verr)
		}
		out, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("accepted job does not marshal: %v", err)
		}
		j2, err := DecodeJob(out)
		if err != nil {
			t.Fatalf("marshalled job %s does not decode: %v", out, err)
		}
		out2, err := json.Marshal(j2)
		if err != nil {
			t.Fatalf("re-decoded job does not marshal: %v", err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
		if j.Status != StatusFailed {
			if j.Err() != nil {
				t.Fatalf("%s job has Err %v", j.Status, j.Err())
			}
			return
		}
		var outer struct {
			Error map[string]json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(out, &outer); err != nil {
			t.Fatalf("marshalled job %s: %v", out, err)
		}
		for k := range outer.Error {
			if k != "code" && k != "message" && k != "data" {
				t.Fatalf("job error has key %q: %s", k, out)
			}
		}
		e, ok := apierror.As(j.Err())
		if !ok {
			t.Fatalf("Err is %T, not *apierror.Error", j.Err())
		}
		if e.Code() != j.Error.Code() || e.Message() != j.Error.Message() || e.RequestID() != "" {
			t.Fatalf("Err %q/%q/%q differs from failure %q/%q", e.Code(), e.Message(), e.RequestID(), j.Error.Code(), j.Error.Message())
		}
		if s, _ := StageOf(e); s != j.Error.Stage() {
			t.Fatalf("StageOf(Err) = %q, failure stage %q", s, j.Error.Stage())
		}
	})
}
