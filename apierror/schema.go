package apierror

import (
	"reflect"
	"strings"
	"sync"
)

// FieldType is the JSON type of a details field's value (null aside: see
// [DetailsField].Nullable).
type FieldType string

// The JSON types details fields have.
const (
	// FieldString: a JSON string.
	FieldString FieldType = "string"
	// FieldInteger: a JSON number without a fraction, in the int64 range.
	FieldInteger FieldType = "integer"
	// FieldArray: a JSON array whose elements are objects described by
	// [DetailsField].Items.
	FieldArray FieldType = "array"
)

// DetailsField describes one field of a code's details object (or of an
// element of an array field) exactly as this package writes it: read from
// the typed details values themselves, so it cannot drift from the wire.
type DetailsField struct {
	// Name is the JSON key.
	Name string
	// Type is the JSON type of a non-null value.
	Type FieldType
	// Enum lists every value the field can take, in the order of the
	// package's constants; nil when any value of Type can occur.
	Enum []string
	// Nullable reports that null is a value of the field, written when
	// there is none (PLATFORM_ERROR's retryAfterMs). The key is still
	// always present.
	Nullable bool
	// Required reports that the field is present whenever the details
	// object is; an optional field is omitted when empty.
	Required bool
	// Minimum, when not nil, is the smallest integer the constructors write
	// (1 for the waits RATE_LIMITED, CIRCUIT_OPEN and PLATFORM_ERROR carry).
	Minimum *int64
	// Items describes the fields of each element of an array field
	// (VALIDATION's issues); nil for other types.
	Items []DetailsField
}

// DetailsPresence says when an error of a code carries a details object.
type DetailsPresence string

// The four ways a code carries details.
const (
	// DetailsAlways: every error of the code the constructors build carries
	// details with every Required field.
	DetailsAlways DetailsPresence = "always"
	// DetailsSometimes: the details are optional, and complete when present
	// (BILLING_EXHAUSTED from allocate, MODERATION_BLOCKED without a safety
	// category).
	DetailsSometimes DetailsPresence = "sometimes"
	// DetailsNone: the contract documents no details for the code and the
	// constructors send none ([NewWithDetails] can still attach some).
	DetailsNone DetailsPresence = "none"
	// DetailsNever: the code never carries details, whatever the caller
	// passes (INTERNAL).
	DetailsNever DetailsPresence = "never"
)

// DetailsSchema describes the details object of one code.
type DetailsSchema struct {
	// Code is the code described.
	Code Code
	// Presence says when the details object is there.
	Presence DetailsPresence
	// Fields are the details' fields in wire order, optional ones included;
	// empty for DetailsNone and DetailsNever.
	Fields []DetailsField
}

// DetailsSchemaOf returns the details schema of a catalogue code, and false
// for a code the catalogue does not know. The result is a copy the caller
// may keep or modify.
func DetailsSchemaOf(code Code) (DetailsSchema, bool) {
	if !code.Known() {
		return DetailsSchema{}, false
	}
	s, ok := detailsSchemas()[code]
	if !ok {
		presence := DetailsNone
		if code == CodeInternal {
			presence = DetailsNever
		}
		return DetailsSchema{Code: code, Presence: presence}, true
	}
	s.Fields = cloneFields(s.Fields)
	return s, true
}

// KillSwitchScopes returns the three kill-switch scopes, narrowest first.
func KillSwitchScopes() []KillSwitchScope {
	return []KillSwitchScope{ScopeKey, ScopeOrganization, ScopeGlobal}
}

// Platforms returns the five upstream platforms of the contract, in the
// contract's order.
func Platforms() []Platform {
	return []Platform{PlatformTikTok, PlatformMeta, PlatformApple, PlatformInstagram, PlatformAppStore}
}

// BillingReasons returns the two reasons of BILLING_EXHAUSTED.
func BillingReasons() []BillingReason {
	return []BillingReason{BillingInsufficient, BillingCap}
}

// ApprovalStatuses returns the three approval states of a content
// container. APPROVAL_REQUIRED only ever carries pending or rejected.
func ApprovalStatuses() []ApprovalStatus {
	return []ApprovalStatus{ApprovalPending, ApprovalApproved, ApprovalRejected}
}

// sometimesDetails are the codes whose constructors may leave the details
// out: BillingExhaustedAllocate, and ModerationBlocked with no category.
var sometimesDetails = map[Code]bool{CodeBillingExhausted: true, CodeModerationBlocked: true}

// fieldKey names one field of one code's details.
type fieldKey struct {
	code Code
	name string
}

// narrowedEnums are fields whose constructor accepts fewer values than the
// field's type has: ApprovalRequired refuses an approved container.
var narrowedEnums = map[fieldKey][]string{
	{CodeApprovalRequired, "approvalStatus"}: {string(ApprovalPending), string(ApprovalRejected)},
}

// minimums are the floors the constructors put on waits (ceilMillis and
// ceilSeconds never return less than 1).
var minimums = map[fieldKey]int64{
	{CodeRateLimited, "retryAfterMs"}:      1,
	{CodeCircuitOpen, "retryAfterSeconds"}: 1,
	{CodePlatformError, "retryAfterMs"}:    1,
}

// detailsSchemas reads the schema of every code with typed details from the
// Go types of detailTypes, once.
var detailsSchemas = sync.OnceValue(func() map[Code]DetailsSchema {
	enums := map[reflect.Type][]string{
		reflect.TypeFor[KillSwitchScope](): stringsOf(KillSwitchScopes()),
		reflect.TypeFor[Platform]():        stringsOf(Platforms()),
		reflect.TypeFor[BillingReason]():   stringsOf(BillingReasons()),
		reflect.TypeFor[ApprovalStatus]():  stringsOf(ApprovalStatuses()),
	}
	out := make(map[Code]DetailsSchema, len(detailTypes))
	for code, mk := range detailTypes {
		presence := DetailsAlways
		if sometimesDetails[code] {
			presence = DetailsSometimes
		}
		t := reflect.TypeOf(mk()).Elem()
		out[code] = DetailsSchema{Code: code, Presence: presence, Fields: structFields(code, t, enums)}
	}
	return out
})

// structFields describes the JSON fields of the struct type t, in
// declaration (and so wire) order.
func structFields(code Code, t reflect.Type, enums map[reflect.Type][]string) []DetailsField {
	var fields []DetailsField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		f := DetailsField{Name: name, Required: !strings.Contains(opts, "omitempty")}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			f.Nullable = true
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.String:
			f.Type = FieldString
			if e, ok := narrowedEnums[fieldKey{code, name}]; ok {
				f.Enum = e
			} else if e, ok := enums[ft]; ok {
				f.Enum = e
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.Type = FieldInteger
			if m, ok := minimums[fieldKey{code, name}]; ok {
				f.Minimum = &m
			}
		case reflect.Slice:
			if ft.Elem().Kind() == reflect.Struct {
				f.Type = FieldArray
				f.Items = structFields(code, ft.Elem(), enums)
			}
		}
		fields = append(fields, f)
	}
	return fields
}

func stringsOf[S ~string](vs []S) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// cloneFields returns a deep copy of fields.
func cloneFields(fields []DetailsField) []DetailsField {
	if fields == nil {
		return nil
	}
	out := make([]DetailsField, len(fields))
	for i, f := range fields {
		if f.Enum != nil {
			f.Enum = append([]string(nil), f.Enum...)
		}
		if f.Minimum != nil {
			m := *f.Minimum
			f.Minimum = &m
		}
		f.Items = cloneFields(f.Items)
		out[i] = f
	}
	return out
}
