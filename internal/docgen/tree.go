package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The generated documents are trees of obj (an object whose keys keep their
// order), []any, string, int, int64, bool, json.Number and nil. Keeping the
// order makes the files stable and readable: "type" before "properties",
// codes in catalogue order.

// obj is a JSON object whose keys keep the order they were set in.
type obj struct {
	keys []string
	vals map[string]any
}

// o builds an obj from key, value pairs.
func o(kv ...any) *obj {
	m := &obj{vals: make(map[string]any, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		m.set(kv[i].(string), kv[i+1])
	}
	return m
}

// set sets k to v, keeping k's place when it is already there.
func (m *obj) set(k string, v any) *obj {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
	return m
}

// get returns the value of k.
func (m *obj) get(k string) (any, bool) {
	v, ok := m.vals[k]
	return v, ok
}

// MarshalJSON writes the object with its keys in order, without HTML
// escaping.
func (m *obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		vb, err := marshal(m.vals[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping and without the trailing
// newline of an Encoder.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// jsonFile renders v as a JSON file: two-space indentation, a final newline.
func jsonFile(v any) ([]byte, error) {
	raw, err := marshal(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// parseOrdered decodes JSON into the tree types, keeping object key order
// and numbers as json.Number.
func parseOrdered(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("docgen: trailing data after a JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := o()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				m.set(kt.(string), v)
			}
			_, err := dec.Token() // '}'
			return m, err
		case '[':
			l := []any{}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := dec.Token() // ']'
			return l, err
		}
		return nil, fmt.Errorf("docgen: unexpected %v", t)
	default:
		return t, nil // string, json.Number, bool or nil
	}
}

// yamlFile renders the tree v as YAML (block style; lists of scalars in
// flow style), with header as leading comment lines. Strings that could
// read as anything but a string are double-quoted, in JSON's escaping,
// which YAML's double-quoted style is a superset of.
func yamlFile(header string, v *obj) ([]byte, error) {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(header, "\n"), "\n") {
		b.WriteString("# " + line + "\n")
	}
	if err := writeYAMLObj(&b, v, 0); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func writeYAMLObj(b *strings.Builder, m *obj, indent int) error {
	pad := strings.Repeat(" ", indent)
	for _, k := range m.keys {
		b.WriteString(pad + yamlScalar(k) + ":")
		if err := writeYAMLValue(b, m.vals[k], indent); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// writeYAMLValue writes v as the value of a key at indent: on the key's line
// for scalars, flow lists and empty collections, below it otherwise.
func writeYAMLValue(b *strings.Builder, v any, indent int) error {
	switch t := v.(type) {
	case *obj:
		if len(t.keys) == 0 {
			b.WriteString(" {}\n")
			return nil
		}
		b.WriteString("\n")
		return writeYAMLObj(b, t, indent+2)
	case []any:
		if len(t) == 0 {
			b.WriteString(" []\n")
			return nil
		}
		if flow, ok := yamlFlowList(t); ok {
			b.WriteString(" " + flow + "\n")
			return nil
		}
		b.WriteString("\n")
		return writeYAMLList(b, t, indent+2)
	case []string:
		l := make([]any, len(t))
		for i, s := range t {
			l[i] = s
		}
		return writeYAMLValue(b, l, indent)
	default:
		s, err := yamlAtom(v)
		if err != nil {
			return err
		}
		b.WriteString(" " + s + "\n")
		return nil
	}
}

func writeYAMLList(b *strings.Builder, l []any, indent int) error {
	pad := strings.Repeat(" ", indent)
	for _, it := range l {
		m, ok := it.(*obj)
		if !ok || len(m.keys) == 0 {
			b.WriteString(pad + "-")
			if err := writeYAMLValue(b, it, indent); err != nil {
				return err
			}
			continue
		}
		// The first key goes on the dash's line, the others under it.
		var first strings.Builder
		if err := writeYAMLObj(&first, o(m.keys[0], m.vals[m.keys[0]]), indent+2); err != nil {
			return err
		}
		b.WriteString(pad + "- " + strings.TrimPrefix(first.String(), pad+"  "))
		if err := writeYAMLObj(b, &obj{keys: m.keys[1:], vals: m.vals}, indent+2); err != nil {
			return err
		}
	}
	return nil
}

// yamlFlowList renders a list of scalars as [a, b, c].
func yamlFlowList(l []any) (string, bool) {
	parts := make([]string, len(l))
	for i, it := range l {
		switch it.(type) {
		case *obj, []any, []string:
			return "", false
		}
		s, err := yamlAtom(it)
		if err != nil {
			return "", false
		}
		parts[i] = s
	}
	return "[" + strings.Join(parts, ", ") + "]", true
}

func yamlAtom(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case json.Number:
		return t.String(), nil
	case string:
		return yamlScalar(t), nil
	}
	return "", fmt.Errorf("docgen: no YAML form for %T", v)
}

// plainSafe are the strings written without quotes: words of letters,
// digits and _ . / $ - separated by single spaces, starting with a letter
// or $. They hold no YAML indicator (: # , [ ] { } quotes) and so read back
// as the same string in block and flow context alike, unless they are a
// YAML 1.1 boolean or null (yamlSpecial).
var plainSafe = regexp.MustCompile(`^[A-Za-z$][A-Za-z0-9_./$-]*( [A-Za-z0-9_./$-]+)*$`)

var yamlSpecial = map[string]bool{
	"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true,
	"true": true, "false": true, "null": true,
}

// yamlScalar writes s plain when it is safe, double-quoted otherwise.
func yamlScalar(s string) string {
	if plainSafe.MatchString(s) && !yamlSpecial[strings.ToLower(s)] {
		return s
	}
	q, _ := marshal(s) // a string always marshals
	return string(q)
}
