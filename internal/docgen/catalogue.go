package main

import (
	"encoding/json"
	"fmt"

	"github.com/layershq/errkit/apierror"
)

// catalogueEntry is one code of docs/catalogue.json, for SDKs in other
// languages: the catalogue row, the details schema in brief, the headers of
// the response and its example.
type catalogueEntry struct {
	Code              apierror.Code     `json:"code"`
	Status            int               `json:"status"`
	Category          apierror.Category `json:"category"`
	Retry             retryEntry        `json:"retry"`
	GuaranteedDetails []string          `json:"guaranteedDetails"`
	Details           detailsEntry      `json:"details"`
	Headers           []headerEntry     `json:"headers"`
	Message           string            `json:"message"`
	Meaning           string            `json:"meaning"`
	Check             string            `json:"check"`
	Example           json.RawMessage   `json:"example"`
}

// retryEntry is the retry advice, with whether it allows retrying the same
// request unchanged.
type retryEntry struct {
	Kind apierror.RetryKind `json:"kind"`
	// After names the change of state after_state_change waits for.
	After string `json:"after,omitempty"`
	Text  string `json:"text"`
	// Retryable: a client may retry the same request without any change of
	// state (RetryAdvice.Retryable).
	Retryable bool `json:"retryable"`
}

type detailsEntry struct {
	Presence apierror.DetailsPresence `json:"presence"`
	Fields   []fieldEntry             `json:"fields"`
}

type fieldEntry struct {
	Name     string             `json:"name"`
	Type     apierror.FieldType `json:"type"`
	Required bool               `json:"required"`
	Nullable bool               `json:"nullable"`
	Enum     []string           `json:"enum,omitempty"`
	Minimum  *int64             `json:"minimum,omitempty"`
	Items    []fieldEntry       `json:"items,omitempty"`
}

type headerEntry struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
}

func fieldEntries(fields []apierror.DetailsField) []fieldEntry {
	out := []fieldEntry{}
	for _, f := range fields {
		e := fieldEntry{Name: f.Name, Type: f.Type, Required: f.Required, Nullable: f.Nullable, Enum: f.Enum, Minimum: f.Minimum}
		if f.Items != nil {
			e.Items = fieldEntries(f.Items)
		}
		out = append(out, e)
	}
	return out
}

// headerEntries lists the headers of code's response, resolving the shared
// components.
func headerEntries(code apierror.Code) []headerEntry {
	shared := headerComponents()
	h := responseHeaders(code)
	out := make([]headerEntry, 0, len(h.keys))
	for _, name := range h.keys {
		def := h.vals[name].(*obj)
		if _, isRef := def.get("$ref"); isRef {
			v, _ := shared.get(name)
			def = v.(*obj)
		}
		req, _ := def.get("required")
		out = append(out, headerEntry{Name: name, Required: req == true})
	}
	return out
}

// Catalogue returns docs/catalogue.json.
func Catalogue() ([]byte, error) {
	specs := apierror.Catalogue()
	entries := make([]catalogueEntry, 0, len(specs))
	for _, s := range specs {
		ds, _ := apierror.DetailsSchemaOf(s.Code)
		ex, ok := apierror.Example(s.Code)
		if !ok {
			return nil, fmt.Errorf("docgen: %s has no example", s.Code)
		}
		guaranteed := s.Details
		if guaranteed == nil {
			guaranteed = []string{}
		}
		entries = append(entries, catalogueEntry{
			Code: s.Code, Status: s.Status, Category: s.Category,
			Retry:             retryEntry{Kind: s.Retry.Kind, After: s.Retry.After, Text: s.Retry.Text, Retryable: s.Retry.Retryable()},
			GuaranteedDetails: guaranteed,
			Details:           detailsEntry{Presence: ds.Presence, Fields: fieldEntries(ds.Fields)},
			Headers:           headerEntries(s.Code),
			Message:           s.Message, Meaning: s.Meaning, Check: s.Check,
			Example: ex.Render(exampleRequestID),
		})
	}
	return jsonFile(entries)
}
