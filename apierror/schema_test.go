package apierror_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// wireFields decodes a details object keeping its key order.
func wireFields(t *testing.T, raw json.RawMessage) (keys []string, values map[string]json.RawMessage) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	values = map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		k := tok.(string)
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
		keys = append(keys, k)
		values[k] = v
	}
	return keys, values
}

// conforms checks a details object against the fields that describe it:
// every required field present, only described fields, values of the
// described JSON type, enum and minimum, null only where nullable, keys in
// the described order.
func conforms(t *testing.T, code apierror.Code, fields []apierror.DetailsField, raw json.RawMessage) {
	t.Helper()
	keys, values := wireFields(t, raw)
	byName := map[string]apierror.DetailsField{}
	var order []string
	for _, f := range fields {
		byName[f.Name] = f
		order = append(order, f.Name)
		if f.Required {
			assert.Contains(t, keys, f.Name, "%s: required field %s", code, f.Name)
		}
	}
	last := -1
	for _, k := range keys {
		f, ok := byName[k]
		if !assert.True(t, ok, "%s: field %s is not described", code, k) {
			continue
		}
		pos := indexOf(order, k)
		assert.Greater(t, pos, last, "%s: %s is out of wire order", code, k)
		last = pos
		v := values[k]
		if string(v) == "null" {
			assert.True(t, f.Nullable, "%s: %s is null but not nullable", code, k)
			continue
		}
		switch f.Type {
		case apierror.FieldString:
			var s string
			require.NoError(t, json.Unmarshal(v, &s), "%s: %s is a string", code, k)
			if f.Enum != nil {
				assert.Contains(t, f.Enum, s, "%s: %s", code, k)
			}
		case apierror.FieldInteger:
			var n int64
			require.NoError(t, json.Unmarshal(v, &n), "%s: %s is an integer", code, k)
			if f.Minimum != nil {
				assert.GreaterOrEqual(t, n, *f.Minimum, "%s: %s", code, k)
			}
		case apierror.FieldArray:
			var items []json.RawMessage
			require.NoError(t, json.Unmarshal(v, &items), "%s: %s is an array", code, k)
			for _, it := range items {
				conforms(t, code, f.Items, it)
			}
		default:
			t.Errorf("%s: %s has unknown type %q", code, k, f.Type)
		}
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestDetailsSchemaOfEveryCode: every catalogue code has a schema whose
// presence and fields agree with its example and with the catalogue's
// guaranteed fields.
func TestDetailsSchemaOfEveryCode(t *testing.T) {
	presence := map[apierror.DetailsPresence]int{}
	for _, spec := range apierror.Catalogue() {
		t.Run(string(spec.Code), func(t *testing.T) {
			s, ok := apierror.DetailsSchemaOf(spec.Code)
			require.True(t, ok)
			assert.Equal(t, spec.Code, s.Code)
			presence[s.Presence]++
			ex, ok := apierror.Example(spec.Code)
			require.True(t, ok)
			var names, required []string
			for _, f := range s.Fields {
				assert.NotEmpty(t, f.Type, "%s has a JSON type", f.Name)
				names = append(names, f.Name)
				if f.Required {
					required = append(required, f.Name)
				}
			}
			for _, g := range spec.Details {
				assert.Contains(t, names, g, "guaranteed field %s is described", g)
			}
			switch s.Presence {
			case apierror.DetailsAlways:
				require.True(t, ex.HasDetails(), "the example carries details")
				conforms(t, spec.Code, s.Fields, ex.RawDetails())
				assert.NotEmpty(t, required)
				for _, r := range required {
					assert.Contains(t, spec.Details, r, "a field always sent is a guaranteed one")
				}
			case apierror.DetailsSometimes:
				require.True(t, ex.HasDetails(), "the example carries details")
				conforms(t, spec.Code, s.Fields, ex.RawDetails())
			case apierror.DetailsNone, apierror.DetailsNever:
				assert.Empty(t, s.Fields)
				assert.Empty(t, spec.Details)
				assert.False(t, ex.HasDetails(), "the example carries no details")
			default:
				t.Fatalf("unknown presence %q", s.Presence)
			}
		})
	}
	assert.Equal(t, map[apierror.DetailsPresence]int{
		apierror.DetailsAlways: 13, apierror.DetailsSometimes: 2, apierror.DetailsNone: 7, apierror.DetailsNever: 1,
	}, presence)

	_, ok := apierror.DetailsSchemaOf("NOT_A_CODE")
	assert.False(t, ok)
}

// TestDetailsSchemaFields pins the types, enums, nullability and
// optionality the contract states in words.
func TestDetailsSchemaFields(t *testing.T) {
	one := int64(1)
	for _, tc := range []struct {
		code   apierror.Code
		fields []apierror.DetailsField
	}{
		{apierror.CodeKillSwitch, []apierror.DetailsField{
			{Name: "scope", Type: apierror.FieldString, Required: true, Enum: []string{"key", "organization", "global"}},
		}},
		{apierror.CodeApprovalRequired, []apierror.DetailsField{
			{Name: "containerId", Type: apierror.FieldString, Required: true},
			{Name: "approvalStatus", Type: apierror.FieldString, Required: true, Enum: []string{"pending", "rejected"}},
		}},
		{apierror.CodeBillingExhausted, []apierror.DetailsField{
			{Name: "reason", Type: apierror.FieldString, Required: true, Enum: []string{"insufficient", "cap"}},
		}},
		{apierror.CodeConflict, []apierror.DetailsField{
			{Name: "reason", Type: apierror.FieldString, Required: true},
			{Name: "blockingProjectId", Type: apierror.FieldString},
		}},
		{apierror.CodeReturnURLNotAllowed, []apierror.DetailsField{
			{Name: "returnUrl", Type: apierror.FieldString, Required: true},
			{Name: "host", Type: apierror.FieldString},
		}},
		{apierror.CodeValidation, []apierror.DetailsField{
			{Name: "issues", Type: apierror.FieldArray, Required: true, Items: []apierror.DetailsField{
				{Name: "path", Type: apierror.FieldString, Required: true},
				{Name: "message", Type: apierror.FieldString, Required: true},
			}},
			{Name: "code", Type: apierror.FieldString},
		}},
		{apierror.CodeRateLimited, []apierror.DetailsField{
			{Name: "retryAfterMs", Type: apierror.FieldInteger, Required: true, Minimum: &one},
		}},
		{apierror.CodeCircuitOpen, []apierror.DetailsField{
			{Name: "resource", Type: apierror.FieldString, Required: true},
			{Name: "retryAfterSeconds", Type: apierror.FieldInteger, Required: true, Minimum: &one},
		}},
		{apierror.CodePlatformError, []apierror.DetailsField{
			{Name: "platform", Type: apierror.FieldString, Required: true, Enum: []string{"tiktok", "meta", "apple", "instagram", "appstore"}},
			{Name: "platformCode", Type: apierror.FieldString, Required: true},
			{Name: "platformMessage", Type: apierror.FieldString, Required: true},
			{Name: "retryAfterMs", Type: apierror.FieldInteger, Required: true, Nullable: true, Minimum: &one},
		}},
		{apierror.CodeUploadQuotaExceeded, []apierror.DetailsField{
			{Name: "currentUploads", Type: apierror.FieldInteger, Required: true},
			{Name: "maxUploads", Type: apierror.FieldInteger, Required: true},
			{Name: "currentBytes", Type: apierror.FieldInteger, Required: true},
			{Name: "maxBytes", Type: apierror.FieldInteger, Required: true},
		}},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			s, ok := apierror.DetailsSchemaOf(tc.code)
			require.True(t, ok)
			assert.Equal(t, tc.fields, s.Fields)
		})
	}
	s, _ := apierror.DetailsSchemaOf(apierror.CodeInternal)
	assert.Equal(t, apierror.DetailsNever, s.Presence)
	s, _ = apierror.DetailsSchemaOf(apierror.CodeBillingExhausted)
	assert.Equal(t, apierror.DetailsSometimes, s.Presence)
}

// TestDetailsSchemaMatchesConstructors: every value an enum lists is
// written by its constructor, the values outside it are refused, the
// optional details of "sometimes" codes are really left out, nulls and
// floors are what the constructors write.
func TestDetailsSchemaMatchesConstructors(t *testing.T) {
	enum := func(code apierror.Code, field string) []string {
		s, _ := apierror.DetailsSchemaOf(code)
		for _, f := range s.Fields {
			if f.Name == field {
				return f.Enum
			}
		}
		t.Fatalf("%s has no field %s", code, field)
		return nil
	}
	field := func(e *apierror.Error, name string) string {
		_, values := wireFields(t, e.RawDetails())
		return string(values[name])
	}
	for _, v := range enum(apierror.CodeKillSwitch, "scope") {
		e := apierror.KillSwitch(apierror.KillSwitchScope(v))
		require.Equal(t, apierror.CodeKillSwitch, e.Code())
		assert.Equal(t, `"`+v+`"`, field(e, "scope"))
	}
	for _, v := range enum(apierror.CodePlatformError, "platform") {
		e := apierror.PlatformError(apierror.Platform(v), "c", "m", 0)
		require.Equal(t, apierror.CodePlatformError, e.Code())
		assert.Equal(t, "null", field(e, "retryAfterMs"), "no retry window is null")
		e = apierror.CredentialInvalid(apierror.Platform(v), "sa_1")
		require.Equal(t, apierror.CodeCredentialInvalid, e.Code())
	}
	assert.Equal(t, enum(apierror.CodePlatformError, "platform"), enum(apierror.CodeCredentialInvalid, "platform"))
	for _, v := range enum(apierror.CodeBillingExhausted, "reason") {
		assert.Equal(t, `"`+v+`"`, field(apierror.BillingExhausted(apierror.BillingReason(v)), "reason"))
	}
	for _, v := range enum(apierror.CodeApprovalRequired, "approvalStatus") {
		assert.Equal(t, `"`+v+`"`, field(apierror.ApprovalRequired("cnt_1", apierror.ApprovalStatus(v)), "approvalStatus"))
	}
	assert.Equal(t, apierror.CodeInternal, apierror.ApprovalRequired("cnt_1", apierror.ApprovalApproved).Code(),
		"approved is outside APPROVAL_REQUIRED's enum")
	for _, bad := range []struct {
		name string
		err  *apierror.Error
	}{
		{"scope", apierror.KillSwitch("planet")},
		{"platform", apierror.PlatformError("myspace", "c", "m", 0)},
		{"reason", apierror.BillingExhausted("broke")},
		{"approval", apierror.ApprovalRequired("cnt_1", "maybe")},
	} {
		assert.Equal(t, apierror.CodeInternal, bad.err.Code(), "a value outside the enum is refused: %s", bad.name)
	}

	assert.False(t, apierror.BillingExhaustedAllocate().HasDetails(), "BILLING_EXHAUSTED sometimes has none")
	assert.False(t, apierror.ModerationBlocked("").HasDetails(), "MODERATION_BLOCKED sometimes has none")
	assert.False(t, apierror.NewWithDetails(apierror.CodeInternal, map[string]int{"a": 1}).HasDetails(), "INTERNAL never has any")

	assert.Equal(t, "1", field(apierror.RateLimited(0), "retryAfterMs"))
	assert.Equal(t, "1", field(apierror.CircuitOpen("r", 0), "retryAfterSeconds"))
	assert.Equal(t, "1", field(apierror.PlatformError(apierror.PlatformMeta, "c", "m", time.Nanosecond), "retryAfterMs"))
}

// TestDetailsSchemaOfReturnsCopies: a caller changing its copy changes
// nobody else's.
func TestDetailsSchemaOfReturnsCopies(t *testing.T) {
	a, _ := apierror.DetailsSchemaOf(apierror.CodeValidation)
	a.Fields[0].Items[0].Name = "changed"
	a.Fields[0].Name = "changed"
	p, _ := apierror.DetailsSchemaOf(apierror.CodePlatformError)
	p.Fields[0].Enum[0] = "changed"
	*p.Fields[3].Minimum = 99

	b, _ := apierror.DetailsSchemaOf(apierror.CodeValidation)
	assert.Equal(t, "issues", b.Fields[0].Name)
	assert.Equal(t, "path", b.Fields[0].Items[0].Name)
	q, _ := apierror.DetailsSchemaOf(apierror.CodePlatformError)
	assert.Equal(t, "tiktok", q.Fields[0].Enum[0])
	assert.Equal(t, int64(1), *q.Fields[3].Minimum)
}

func TestEnumerations(t *testing.T) {
	for _, s := range apierror.KillSwitchScopes() {
		assert.True(t, s.Valid(), s)
	}
	for _, p := range apierror.Platforms() {
		assert.True(t, p.Valid(), p)
	}
	for _, r := range apierror.BillingReasons() {
		assert.True(t, r.Valid(), r)
	}
	for _, s := range apierror.ApprovalStatuses() {
		assert.True(t, s.Valid(), s)
	}
	assert.Len(t, apierror.KillSwitchScopes(), 3)
	assert.Len(t, apierror.Platforms(), 5)
	assert.Len(t, apierror.BillingReasons(), 2)
	assert.Len(t, apierror.ApprovalStatuses(), 3)
	apierror.Platforms()[0] = "changed"
	assert.Equal(t, apierror.PlatformTikTok, apierror.Platforms()[0], "a fresh slice each call")
}
