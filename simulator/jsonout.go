package simulator

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// marshal writes v the way Zigbee2MQTT does: compact, map keys sorted
// (encoding/json sorts map keys) and without HTML escaping, because
// JavaScript's JSON.stringify never escapes <, > or &.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte("null")
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// jsString renders a value as JSON.stringify would (used inside messages).
func jsString(v any) string { return string(marshal(v)) }

// jsPlain renders a value as JavaScript's template-string conversion would:
// strings bare, everything else as JSON.
func jsPlain(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return "null"
	}
	return jsString(v)
}

// cloneValue deep-copies JSON-shaped values (maps, slices, scalars).
func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return cloneMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = cloneValue(e)
		}
		return out
	default:
		return v
	}
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

// deepMerge merges src into dst key by key; nested objects merge recursively
// like Zigbee2MQTT's state cache.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = cloneValue(v)
	}
}

// jsonEqual compares two JSON-shaped values structurally.
func jsonEqual(a, b any) bool {
	return bytes.Equal(marshal(normalizeNumbers(a)), marshal(normalizeNumbers(b)))
}

func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalizeNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalizeNumbers(e)
		}
		return out
	case int:
		return float64(t)
	case json.Number:
		f, _ := t.Float64()
		return f
	default:
		return v
	}
}

// toNumber converts a JSON value to a number the way JavaScript's Number()
// does for the cases converters accept: numbers and numeric strings.
func toNumber(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, !math.IsNaN(t)
	case int:
		return float64(t), true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(t, 64)
		return f, err == nil
	}
	return 0, false
}

// num returns v as float64 when it is a JSON number.
func num(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case int:
		return float64(t), true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}

// jsTypeof mirrors JavaScript's typeof for JSON values.
func jsTypeof(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64, int, json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil, map[string]any, []any:
		return "object"
	}
	return "undefined"
}

// orderedKV is one top-level key of a JSON object, in document order.
type orderedKV struct {
	Key   string
	Value any
	Raw   json.RawMessage
}

// parseOrdered decodes a JSON object keeping the order of its top-level keys
// (Zigbee2MQTT processes keys in message order).
func parseOrdered(data []byte) ([]orderedKV, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []orderedKV
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := kt.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, false
		}
		// A repeated key overrides the earlier one, as in JSON.parse.
		replaced := false
		for i := range out {
			if out[i].Key == key {
				out[i].Value, out[i].Raw = v, compactRaw(raw)
				replaced = true
			}
		}
		if !replaced {
			out = append(out, orderedKV{Key: key, Value: v, Raw: compactRaw(raw)})
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	return out, true
}

func compactRaw(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// orderedJSON re-serialises an ordered object compactly in its own key order,
// as JSON.stringify does for a parsed message.
func orderedJSON(kvs []orderedKV) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshal(kv.Key))
		b.WriteByte(':')
		if kv.Raw != nil {
			b.Write(kv.Raw)
		} else {
			b.Write(marshal(kv.Value))
		}
	}
	b.WriteByte('}')
	return b.String()
}
