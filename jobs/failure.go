package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/layershq/errkit/apierror"
)

// Failure is the error of a failed job: the contract's code and message, and
// a "data" object carrying the job stage that was active ("stage", always the
// first field) followed by the code's details. On the wire it is
//
//	{"code":"MODERATION_BLOCKED","message":"…","data":{"stage":"finalizing","safetyCategory":"violence"}}
//
// and never has a "requestId" or a "details" key: the outer HTTP response
// carries X-Request-Id, and the structured context is named data.
//
// Server side, a Failure built by Fail keeps the error it was built from as
// its cause (Cause, Unwrap) for logs; the cause is never serialized. Client
// side, a Failure decoded from JSON has no cause; APIError (or Job.Err) turns
// it into the same *apierror.Error the HTTP envelope decoder returns.
//
// A Failure is immutable once built; its methods are safe for concurrent use.
type Failure struct {
	code    apierror.Code
	message string
	stage   string
	data    json.RawMessage // the wire "data" object, compact; nil when none
	cause   error
}

// Fail returns the job failure for err at stage, or nil for a nil err.
//
// When err holds an *apierror.Error (errors.As, through any wrapping), the
// failure keeps its code, message and details: the details object becomes
// data, with "stage" added as its first field. Any other error becomes
// INTERNAL with apierror.InternalMessage and no details beyond the stage.
// In both cases err is kept as the failure's cause, for logs only.
//
// "stage" in data is reserved for the job stage: if the details already have
// a field named stage, the job's stage wins and the details' one is dropped.
// An empty stage writes no stage field (and still drops the details' one), so
// data.stage is always exactly Stage(). Details that are not a JSON object
// (possible only for an *apierror.Error decoded from a server breaking the
// contract) are not carried.
func Fail(err error, stage string) *Failure {
	if err == nil {
		return nil
	}
	f := &Failure{code: apierror.CodeInternal, message: apierror.InternalMessage, stage: stage, cause: err}
	var details json.RawMessage
	if e, ok := apierror.As(err); ok {
		f.code, f.message, details = e.Code(), e.Message(), e.RawDetails()
		if !apierror.ValidCode(string(f.code)) {
			// Only an *apierror.Error built outside the package's
			// constructors can get here; keep the wire contract.
			f.code, f.message, details = apierror.CodeInternal, apierror.InternalMessage, nil
		}
	}
	f.data = withStage(stage, details)
	return f
}

// withStage returns the data object: {"stage":stage} followed by the fields of
// details other than "stage". It returns nil when the result would be empty.
// The details' own bytes are spliced unchanged when they hold no stage field.
func withStage(stage string, details json.RawMessage) json.RawMessage {
	var fields []byte // the details' fields without braces, compact
	if d := bytes.TrimSpace(details); len(d) > 0 && d[0] == '{' {
		var buf bytes.Buffer
		if json.Compact(&buf, d) == nil {
			fields = withoutKey(buf.Bytes(), "stage")
		}
	}
	if stage == "" {
		if len(fields) == 0 {
			return nil
		}
		return append(append([]byte{'{'}, fields...), '}')
	}
	s, _ := json.Marshal(stage) // a string always marshals
	out := make([]byte, 0, len(`{"stage":,}`)+len(s)+len(fields))
	out = append(out, `{"stage":`...)
	out = append(out, s...)
	if len(fields) > 0 {
		out = append(out, ',')
		out = append(out, fields...)
	}
	return append(out, '}')
}

// withoutKey returns the fields of the compact JSON object obj, without the
// surrounding braces and without every field named key. When obj has no such
// field the bytes are returned as they are; otherwise the other fields are
// written back in their order, each value unchanged. An object that does not
// parse yields nil.
func withoutKey(obj []byte, key string) []byte {
	type field struct {
		key   string
		value json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var fields []field
	found := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		k, ok := t.(string)
		if !ok {
			return nil
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil
		}
		if k == key {
			found = true
			continue
		}
		fields = append(fields, field{k, v})
	}
	if !found {
		return obj[1 : len(obj)-1]
	}
	var out []byte
	for i, f := range fields {
		if i > 0 {
			out = append(out, ',')
		}
		k, _ := json.Marshal(f.key)
		out = append(out, k...)
		out = append(out, ':')
		out = append(out, f.value...)
	}
	return out
}

// Code returns the failure's code (INTERNAL for a failure built from an error
// that holds no *apierror.Error). A nil Failure has code "".
func (f *Failure) Code() apierror.Code {
	if f == nil {
		return ""
	}
	return f.code
}

// Message returns the human message. Log it; don't branch on it.
func (f *Failure) Message() string {
	if f == nil {
		return ""
	}
	return f.message
}

// Stage returns the job stage active when the failure happened (data.stage),
// or "" when none was given.
func (f *Failure) Stage() string {
	if f == nil {
		return ""
	}
	return f.stage
}

// Data returns a copy of the wire "data" object (stage first, then the
// code's details), or nil when the failure has neither.
func (f *Failure) Data() json.RawMessage {
	if f == nil || f.data == nil {
		return nil
	}
	return bytes.Clone(f.data)
}

// Cause returns the error the failure was built from by Fail, or nil for a
// decoded failure. It is for logs only and never serialized.
func (f *Failure) Cause() error {
	if f == nil {
		return nil
	}
	return f.cause
}

// Unwrap returns Cause, so that errors.Is and errors.As reach the error the
// failure was built from.
func (f *Failure) Unwrap() error { return f.Cause() }

// Is reports whether target is an *apierror.Error with the failure's code,
// so that errors.Is(err, apierror.New(apierror.CodeModerationBlocked))
// works on decoded failures too.
func (f *Failure) Is(target error) bool {
	e, ok := target.(*apierror.Error)
	return ok && e != nil && f != nil && f.code == e.Code()
}

// Error returns "CODE: message", then " (stage S)" when there is a stage, then
// ": cause" for a server-side cause. It is meant for logs.
func (f *Failure) Error() string {
	if f == nil {
		return "jobs: <nil failure>"
	}
	s := string(f.code) + ": " + f.message
	if f.stage != "" {
		s += " (stage " + f.stage + ")"
	}
	if ae, ok := f.cause.(*apierror.Error); ok {
		// The cause is the error itself: add only what it wraps.
		if c := ae.Unwrap(); c != nil {
			s += ": " + c.Error()
		}
	} else if f.cause != nil {
		s += ": " + f.cause.Error()
	}
	return s
}

// APIError returns the failure as the *apierror.Error a client gets from the
// HTTP envelope decoder, so that one code vocabulary serves both paths: the
// same code and message, the catalogue status of the code (500 for a code
// this version does not know), details equal to data (stage included; read
// it back with StageOf) and no requestId. A server-side cause is attached
// with WithCause (for an *apierror.Error cause, what that error wraps).
// It returns nil for a nil Failure.
func (f *Failure) APIError() *apierror.Error {
	if f == nil {
		return nil
	}
	env, err := json.Marshal(apierror.Envelope{Error: apierror.Body{Code: f.code, Message: f.message, Details: f.data}})
	var e *apierror.Error
	if err == nil {
		e, _ = apierror.Decode(f.code.Status(), env).(*apierror.Error)
	}
	if e == nil {
		// Only a zero Failure (no code) can get here.
		e = apierror.Internal(fmt.Errorf("jobs: job failure with malformed code %q", string(f.code)))
	}
	cause := f.cause
	if ae, ok := cause.(*apierror.Error); ok {
		// The cause is the error itself: attach only what it wraps, so that
		// the log line does not repeat code and message.
		cause = ae.Unwrap()
	}
	if cause != nil {
		e = e.WithCause(cause)
	}
	return e
}

// StageOf returns the job stage of err: the Stage of the first *Failure in
// its chain, else the string data.stage (details.stage) of the first
// *apierror.Error, as APIError and Job.Err produce. It reports false when
// there is none.
func StageOf(err error) (string, bool) {
	var f *Failure
	if errors.As(err, &f) && f != nil {
		return f.stage, f.stage != ""
	}
	// A map, not a struct: the key must match exactly, as in UnmarshalJSON.
	d, ok := apierror.DetailsAs[map[string]json.RawMessage](err)
	if !ok {
		return "", false
	}
	var stage string
	if json.Unmarshal(d["stage"], &stage) != nil || stage == "" {
		return "", false
	}
	return stage, true
}

// wireFailure is the wire shape a Failure is written as.
type wireFailure struct {
	Code    apierror.Code   `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// MarshalJSON writes {"code","message","data"}; data is omitted when the
// failure has neither a stage nor details. The cause is never written, and
// neither "requestId" nor "details" ever is. A nil Failure is null; a zero
// Failure (no code) is an error.
func (f *Failure) MarshalJSON() ([]byte, error) {
	if f == nil {
		return []byte("null"), nil
	}
	if !apierror.ValidCode(string(f.code)) {
		return nil, fmt.Errorf("jobs: job error has malformed code %q", string(f.code))
	}
	return json.Marshal(wireFailure{Code: f.code, Message: f.message, Data: f.data})
}

// UnmarshalJSON reads a job error: "code" is required and must look like a
// code (^[A-Z][A-Z0-9_]*$, at most 64 characters; codes this version does not
// know are kept), "message" is a string (empty when absent), "data" is an
// object or absent, and data.stage, when present, a string. Other keys are
// ignored. It never panics, and on error leaves f unchanged.
func (f *Failure) UnmarshalJSON(b []byte) error {
	var w struct {
		Code    *string         `json:"code"`
		Message *string         `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("jobs: job error: %w", err)
	}
	if w.Code == nil {
		return errors.New(`jobs: job error has no "code"`)
	}
	if !apierror.ValidCode(*w.Code) {
		return fmt.Errorf("jobs: job error has malformed code %.70q", *w.Code)
	}
	n := Failure{code: apierror.Code(*w.Code)}
	if w.Message != nil {
		n.message = *w.Message
	}
	if d := bytes.TrimSpace(w.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		if d[0] != '{' {
			return errors.New(`jobs: job error "data" is not an object`)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(d, &fields); err != nil {
			return fmt.Errorf("jobs: job error data: %w", err)
		}
		if s, ok := fields["stage"]; ok && !bytes.Equal(s, []byte("null")) {
			if err := json.Unmarshal(s, &n.stage); err != nil {
				return errors.New(`jobs: job error "data.stage" is not a string`)
			}
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, d); err != nil {
			return fmt.Errorf("jobs: job error data: %w", err)
		}
		n.data = buf.Bytes()
	}
	*f = n
	return nil
}
