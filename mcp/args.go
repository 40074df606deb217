package mcp

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

// Limits on argument sizes: bigger inputs are refused before any work.
const (
	maxTargets    = 200
	maxNameLength = 256
	maxStringArg  = 1024
)

// args reads a tool's arguments strictly: unknown keys, wrong types and
// out-of-range values are errors that say what is valid.
type args struct {
	m    map[string]any
	tool string
}

func newArgs(tool string, raw any, allowed ...string) (*args, error) {
	m, ok := raw.(map[string]any)
	if raw == nil {
		m, ok = map[string]any{}, true
	}
	if !ok {
		return nil, fmt.Errorf("%s: arguments must be a JSON object", tool)
	}
	for k := range m {
		if !contains(allowed, k) {
			sorted := append([]string(nil), allowed...)
			sort.Strings(sorted)
			return nil, fmt.Errorf("%s: unknown argument %q; valid arguments: %s", tool, clip(k, 40), strings.Join(sorted, ", "))
		}
	}
	return &args{m: m, tool: tool}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func (a *args) has(k string) bool {
	v, ok := a.m[k]
	return ok && v != nil
}

func (a *args) str(k string) (string, error) {
	v, ok := a.m[k]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, got %s", k, typeName(v))
	}
	if len(s) > maxStringArg {
		return "", fmt.Errorf("%s is too long (%d bytes; at most %d)", k, len(s), maxStringArg)
	}
	return s, nil
}

// enum reads a case-insensitive enum value and returns it lower-cased.
func (a *args) enum(k string, values ...string) (string, error) {
	s, err := a.str(k)
	if err != nil || s == "" {
		return "", err
	}
	for _, v := range values {
		if strings.EqualFold(s, v) {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s must be one of %s, got %q", k, strings.Join(values, ", "), clip(s, 40))
}

func (a *args) num(k string, lo, hi float64) (*float64, error) {
	v, ok := a.m[k]
	if !ok || v == nil {
		return nil, nil
	}
	f, ok := v.(float64)
	if !ok {
		return nil, fmt.Errorf("%s must be a number from %s to %s, got %s", k, fmtNum(lo), fmtNum(hi), typeName(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < lo || f > hi {
		return nil, fmt.Errorf("%s must be %s–%s, got %s", k, fmtNum(lo), fmtNum(hi), fmtNum(f))
	}
	return &f, nil
}

func (a *args) integer(k string, lo, hi int) (*int, error) {
	f, err := a.num(k, float64(lo), float64(hi))
	if err != nil || f == nil {
		return nil, err
	}
	if *f != math.Trunc(*f) {
		return nil, fmt.Errorf("%s must be a whole number, got %s", k, fmtNum(*f))
	}
	n := int(*f)
	return &n, nil
}

func (a *args) boolean(k string, def bool) (bool, error) {
	v, ok := a.m[k]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s must be true or false, got %s", k, typeName(v))
	}
	return b, nil
}

// names reads a string or an array of strings, each checked to be usable as
// a name (no MQTT wildcards or control characters).
func (a *args) names(k string, required bool) ([]string, error) {
	v, ok := a.m[k]
	if !ok || v == nil {
		if required {
			return nil, fmt.Errorf("%s is required: a device, group or room name, or \"all\" (a string or an array of strings)", k)
		}
		return nil, nil
	}
	var list []string
	switch x := v.(type) {
	case string:
		list = []string{x}
	case []any:
		if len(x) > maxTargets {
			return nil, fmt.Errorf("%s has %d entries; at most %d", k, len(x), maxTargets)
		}
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s must contain only strings, got %s", k, typeName(e))
			}
			list = append(list, s)
		}
	default:
		return nil, fmt.Errorf("%s must be a string or an array of strings, got %s", k, typeName(v))
	}
	if required && len(list) == 0 {
		return nil, fmt.Errorf("%s must name at least one device, group or room", k)
	}
	for i, s := range list {
		// Only spaces are forgiven: a tab, newline or other control
		// character around a name is refused like one inside it.
		s = strings.Trim(s, " ")
		if err := checkName(s); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		list[i] = s
	}
	return list, nil
}

func checkName(s string) error {
	if len(s) > maxNameLength {
		return fmt.Errorf("name too long (%d bytes; at most %d)", len(s), maxNameLength)
	}
	if err := devices.CheckTopicName(s); err != nil {
		return fmt.Errorf("%q is not a valid name: MQTT wildcards (+, #), control characters and leading or trailing '/' are not allowed", clip(s, 60))
	}
	return nil
}

func (a *args) object(k string) (map[string]any, error) {
	v, ok := a.m[k]
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a JSON object, got %s", k, typeName(v))
	}
	return o, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func fmtNum(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%g", f)
}

// argsOf returns a request's arguments decoded as plain JSON values
// (objects as map[string]any, numbers as float64), whatever the transport
// handed over.
func argsOf(req mcpgo.CallToolRequest) any {
	raw := req.Params.RawArguments
	if len(raw) > 0 {
		if m, ok := req.Params.Arguments.(map[string]any); ok {
			return m // decoded from the wire already: plain JSON values
		}
	}
	if len(raw) == 0 {
		if req.Params.Arguments == nil {
			return nil
		}
		b, err := json.Marshal(req.Params.Arguments)
		if err != nil {
			return err
		}
		raw = b
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	return v
}
