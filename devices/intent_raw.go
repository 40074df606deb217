package devices

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// BuildRaw builds a set_device command from a raw payload. Every key must be a
// writable expose property of the device (top-level exposes and the features
// of specific ones; a composite's property takes an object of its features),
// and every value must fit the expose: binary its value_on/off/toggle, numeric
// a number within value_min/value_max (or one of its preset names), enum one
// of its values, text a string, list an array. Values are sent in the
// device's casing. Lights also take "transition" (seconds ≥ 0). Properties
// whose expose has the STATE bit are expected back; write-only ones (access 2,
// e.g. effect, identify) are not.
func BuildRaw(d *Device, payload map[string]any, cur *State) (Command, error) {
	if len(payload) == 0 {
		return Command{}, errors.New("payload is empty; give at least one property to set")
	}
	writableProps := rawWritableProperties(d)
	if len(writableProps) == 0 {
		return unsupported(d, "writable properties"), nil
	}
	keys := make([]string, 0, len(payload))
	for k := range payload {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	name := d.FriendlyName
	light := firstSpecific(d, TypeLight)
	cmd := Command{Device: d, Payload: make(map[string]any, len(payload)), Idempotent: true}
	exposeOf := map[string]*Expose{}
	for _, k := range keys {
		v := payload[k]
		es := rawExposes(d, k)
		if len(es) == 0 {
			if k == "transition" && light != nil {
				n, ok := toFloat(v)
				if !ok || math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
					return Command{}, errors.New("transition must be a number of seconds ≥ 0")
				}
				cmd.Payload[k] = n
				continue
			}
			if f := d.FindProperty(k); f != nil && !f.IsSpecific() {
				return Command{}, fmt.Errorf("%s is read-only on %s (it is reported, not set); writable: %s", k, name, rawPropList(writableProps, k))
			}
			return Command{}, fmt.Errorf("%s has no writable property %q; writable: %s", name, k, rawPropList(writableProps, k))
		}
		val, err := rawCheck(es, v, k, name)
		if err != nil {
			return Command{}, err
		}
		cmd.Payload[k] = val
		e := es[0]
		exposeOf[k] = e
		if e.Type == "binary" && e.ValueToggle != nil && sameKindValue(val, e.ValueToggle) && !sameValue(e.ValueOn, e.ValueToggle) && !sameValue(e.ValueOff, e.ValueToggle) {
			cmd.Idempotent = false
		}
		if !e.Can(AccessState) {
			continue
		}
		cmd.Expect = append(cmd.Expect, rawExpect(e, es, k, val, cur)...)
		if e.Can(AccessGet) {
			cmd.Readback = append(cmd.Readback, k)
		}
	}

	// A light turned off applies neither level nor colour: expect only its state.
	if light != nil {
		if st := light.Feature("state"); st != nil {
			if v, ok := cmd.Payload[st.Property]; ok && sameValue(v, st.ValueOff) {
				inLight := map[string]bool{}
				for i := range light.Features {
					if p := light.Features[i].Property; p != st.Property {
						inLight[p] = true
					}
				}
				var keep []Expectation
				for _, e := range cmd.Expect {
					if !inLight[e.Property] {
						keep = append(keep, e)
					}
				}
				cmd.Expect = keep
				var rb []string
				for _, p := range cmd.Readback {
					if !inLight[p] {
						rb = append(rb, p)
					}
				}
				cmd.Readback = rb
			}
		}
	}
	return cmd, nil
}

// rawExposes returns the writable generic exposes whose property is key
// (several for "color": color_xy and color_hs).
func rawExposes(d *Device, key string) []*Expose {
	var out []*Expose
	var walk func(ex []Expose)
	walk = func(ex []Expose) {
		for i := range ex {
			e := &ex[i]
			if e.IsSpecific() {
				walk(e.Features)
				continue
			}
			if e.Property == key && e.Can(AccessSet) {
				out = append(out, e)
			}
		}
	}
	walk(d.Exposes())
	return out
}

// rawWritableProperties lists the device's writable properties in expose order.
func rawWritableProperties(d *Device) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(ex []Expose)
	walk = func(ex []Expose) {
		for i := range ex {
			e := &ex[i]
			if e.IsSpecific() {
				walk(e.Features)
				continue
			}
			if e.Property != "" && e.Can(AccessSet) && !seen[e.Property] {
				seen[e.Property] = true
				out = append(out, e.Property)
			}
		}
	}
	walk(d.Exposes())
	return out
}

// rawPropList names a few writable properties, the ones closest to key first.
func rawPropList(props []string, key string) string {
	const show = 8
	list := append([]string(nil), props...)
	if len(key) <= 64 {
		sort.SliceStable(list, func(i, j int) bool {
			return EditDistance(key, list[i]) < EditDistance(key, list[j]) && EditDistance(key, list[i]) <= 3
		})
	}
	if len(list) > show {
		return strings.Join(list[:show], ", ") + fmt.Sprintf(", ... (%d in all)", len(list))
	}
	return strings.Join(list, ", ")
}

// sameKindValue is sameValue restricted to values of the same JSON kind.
func sameKindValue(a, b any) bool {
	switch a.(type) {
	case string:
		if _, ok := b.(string); !ok {
			return false
		}
	case bool:
		if _, ok := b.(bool); !ok {
			return false
		}
	}
	return sameValue(a, b)
}

// rawCheck validates v against the exposes for path and returns the value to
// send (in the device's casing).
func rawCheck(es []*Expose, v any, path, name string) (any, error) {
	e := es[0]
	switch e.Type {
	case "binary":
		var allowed []any
		for _, c := range []any{e.ValueOn, e.ValueOff, e.ValueToggle} {
			if c == nil {
				continue
			}
			allowed = append(allowed, c)
			if sameKindValue(v, c) {
				return c, nil
			}
		}
		return nil, fmt.Errorf("%s on %s must be one of %s", path, name, enumList(allowed))
	case "numeric":
		if s, ok := v.(string); ok {
			for _, p := range e.Presets {
				if strings.EqualFold(p.Name, s) {
					return p.Name, nil
				}
			}
			return nil, fmt.Errorf("%s on %s must be a number%s", path, name, rawRange(e))
		}
		n, ok := toFloat(v)
		if !ok || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fmt.Errorf("%s on %s must be a number%s", path, name, rawRange(e))
		}
		if (e.ValueMin != nil && n < *e.ValueMin) || (e.ValueMax != nil && n > *e.ValueMax) {
			return nil, fmt.Errorf("%s on %s must be%s, got %s", path, name, rawRange(e), intentNum(n, 6))
		}
		return n, nil
	case "enum":
		var got any
		switch x := v.(type) {
		case string:
			got, _ = matchEnum(e.Values, x)
		default:
			if n, ok := toFloat(x); ok {
				for _, ev := range e.Values {
					if en, ok := ev.(float64); ok && en == n {
						got = ev
					}
				}
			}
		}
		if got == nil {
			return nil, fmt.Errorf("%s on %s must be one of %s", path, name, enumList(e.Values))
		}
		return got, nil
	case "text":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s on %s must be a string", path, name)
		}
		return s, nil
	case "composite":
		obj, ok := v.(map[string]any)
		if !ok || len(obj) == 0 {
			return nil, fmt.Errorf("%s on %s must be an object with %s", path, name, strings.Join(compositeFeatureNames(es), ", "))
		}
		out := make(map[string]any, len(obj))
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var sub []*Expose
			for _, c := range es {
				for i := range c.Features {
					if c.Features[i].Property == k {
						sub = append(sub, &c.Features[i])
					}
				}
			}
			if len(sub) == 0 {
				return nil, fmt.Errorf("%s on %s has no field %q; fields: %s", path, name, k, strings.Join(compositeFeatureNames(es), ", "))
			}
			sv, err := rawCheck(sub[:1], obj[k], path+"."+k, name)
			if err != nil {
				return nil, err
			}
			out[k] = sv
		}
		return out, nil
	case "list":
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s on %s must be an array", path, name)
		}
		if (e.LengthMin != nil && len(arr) < *e.LengthMin) || (e.LengthMax != nil && len(arr) > *e.LengthMax) {
			return nil, fmt.Errorf("%s on %s has a wrong number of items (%d)", path, name, len(arr))
		}
		if e.ItemType == nil || e.ItemType.Type == "" {
			return arr, nil
		}
		out := make([]any, len(arr))
		for i, it := range arr {
			sv, err := rawCheck([]*Expose{e.ItemType}, it, fmt.Sprintf("%s[%d]", path, i), name)
			if err != nil {
				return nil, err
			}
			out[i] = sv
		}
		return out, nil
	}
	return v, nil // a type this version does not know: pass it through
}

func compositeFeatureNames(es []*Expose) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range es {
		for i := range c.Features {
			if p := c.Features[i].Property; p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

func rawRange(e *Expose) string {
	switch {
	case e.ValueMin != nil && e.ValueMax != nil:
		return " " + intentNum(*e.ValueMin, 6) + "–" + intentNum(*e.ValueMax, 6)
	case e.ValueMin != nil:
		return " ≥ " + intentNum(*e.ValueMin, 6)
	case e.ValueMax != nil:
		return " ≤ " + intentNum(*e.ValueMax, 6)
	}
	return ""
}

// rawExpect returns what confirms key=val.
func rawExpect(e *Expose, es []*Expose, key string, val any, cur *State) []Expectation {
	switch e.Type {
	case "binary":
		if e.ValueToggle != nil && sameKindValue(val, e.ValueToggle) && !sameValue(val, e.ValueOn) && !sameValue(val, e.ValueOff) {
			if _, expect, _, _ := binaryValue(e, wordToggle, cur); expect != nil {
				return []Expectation{{Property: key, Value: expect}}
			}
			return nil
		}
		return []Expectation{{Property: key, Value: val}}
	case "numeric":
		if s, ok := val.(string); ok { // a preset name: expect its value when numeric
			for _, p := range e.Presets {
				if p.Name == s {
					if n, ok := p.Value.(float64); ok {
						return []Expectation{{Property: key, Value: n, Tolerance: numericTolerance(e)}}
					}
				}
			}
			return nil
		}
		return []Expectation{{Property: key, Value: val, Tolerance: numericTolerance(e)}}
	case "enum", "text":
		return []Expectation{{Property: key, Value: val}}
	case "composite":
		obj, _ := val.(map[string]any)
		if key == "color" || e.Name == "color_xy" || e.Name == "color_hs" {
			xy, hs, other := map[string]any{}, map[string]any{}, map[string]any{}
			for k, v := range obj {
				switch k {
				case "x", "y":
					xy[k] = v
				case "hue", "saturation":
					hs[k] = v
				default:
					other[k] = v
				}
			}
			var out []Expectation
			if len(xy) > 0 {
				out = append(out, Expectation{Property: key, Value: xy, Tolerance: 0.01})
			}
			if len(hs) > 0 {
				out = append(out, Expectation{Property: key, Value: hs, Tolerance: 1})
			}
			if len(other) > 0 {
				out = append(out, Expectation{Property: key, Value: other})
			}
			return out
		}
		return []Expectation{{Property: key, Value: obj}}
	}
	return nil // lists and unknown types: nothing comparable
}

// numericTolerance is how far a reported value may differ from the one sent.
func numericTolerance(e *Expose) float64 {
	switch e.Name {
	case "brightness":
		return 1
	case "color_temp", "color_temp_startup":
		return 2
	}
	if e.ValueStep != nil && *e.ValueStep > 0 {
		return *e.ValueStep / 2
	}
	return 0
}
