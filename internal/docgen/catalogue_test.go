package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// TestCatalogueJSON: docs/catalogue.json lists every code in catalogue
// order with the catalogue's values, its details schema and the headers of
// its OpenAPI response, and an example that the envelope schema accepts.
func TestCatalogueJSON(t *testing.T) {
	raw, err := Catalogue()
	require.NoError(t, err)
	var entries []struct {
		Code     apierror.Code     `json:"code"`
		Status   int               `json:"status"`
		Category apierror.Category `json:"category"`
		Retry    struct {
			Kind      apierror.RetryKind `json:"kind"`
			After     string             `json:"after"`
			Text      string             `json:"text"`
			Retryable *bool              `json:"retryable"`
		} `json:"retry"`
		GuaranteedDetails []string `json:"guaranteedDetails"`
		Details           struct {
			Presence apierror.DetailsPresence `json:"presence"`
			Fields   []struct {
				Name     string `json:"name"`
				Required bool   `json:"required"`
			} `json:"fields"`
		} `json:"details"`
		Headers []struct {
			Name     string `json:"name"`
			Required bool   `json:"required"`
		} `json:"headers"`
		Message string          `json:"message"`
		Meaning string          `json:"meaning"`
		Check   string          `json:"check"`
		Example json.RawMessage `json:"example"`
	}
	require.NoError(t, json.Unmarshal(raw, &entries))
	specs := apierror.Catalogue()
	require.Len(t, entries, len(specs))
	envelope := envelopeSchema(t)
	s := loadSpec(t)
	for i, e := range entries {
		sp := specs[i]
		t.Run(string(sp.Code), func(t *testing.T) {
			assert.Equal(t, sp.Code, e.Code)
			assert.Equal(t, sp.Status, e.Status)
			assert.Equal(t, sp.Category, e.Category)
			assert.Equal(t, sp.Retry.Kind, e.Retry.Kind)
			assert.Equal(t, sp.Retry.After, e.Retry.After)
			assert.Equal(t, sp.Retry.Text, e.Retry.Text)
			require.NotNil(t, e.Retry.Retryable)
			assert.Equal(t, sp.Retry.Retryable(), *e.Retry.Retryable)
			require.NotNil(t, e.GuaranteedDetails, "[] rather than null")
			assert.ElementsMatch(t, sp.Details, e.GuaranteedDetails)
			assert.Equal(t, sp.Message, e.Message)
			assert.Equal(t, sp.Meaning, e.Meaning)
			assert.Equal(t, sp.Check, e.Check)

			ds, _ := apierror.DetailsSchemaOf(sp.Code)
			assert.Equal(t, ds.Presence, e.Details.Presence)
			require.Len(t, e.Details.Fields, len(ds.Fields))
			for j, f := range ds.Fields {
				assert.Equal(t, f.Name, e.Details.Fields[j].Name)
				assert.Equal(t, f.Required, e.Details.Fields[j].Required)
			}

			r := s.response(t, sp.Code)
			require.Len(t, e.Headers, r.Headers.Len())
			j := 0
			for name, h := range r.Headers.FromOldest() {
				assert.Equal(t, name, e.Headers[j].Name)
				assert.Equal(t, h.Required, e.Headers[j].Required, name)
				j++
			}

			ex, _ := apierror.Example(sp.Code)
			assert.JSONEq(t, string(ex.Render(exampleRequestID)), string(e.Example))
			assert.NoError(t, check(envelope, e.Example))
		})
	}
}
