package devices

import (
	"github.com/tidwall/gjson"
)

// Access bits of an expose (zigbee-herdsman-converters' exposes.ts).
const (
	AccessState = 1 // the property appears in state payloads
	AccessSet   = 2 // writable via /set
	AccessGet   = 4 // readable on demand via /get
)

// Specific expose types, in the order that decides a device's type.
var specificTypes = []string{"light", "climate", "cover", "lock", "fan", "switch"}

// Preset is a named value of a numeric expose (value may be a number or a string).
type Preset struct {
	Name        string `json:"name"`
	Value       any    `json:"value"`
	Description string `json:"description,omitempty"`
}

// Expose describes one capability of a device, as listed in definition.exposes.
// Generic types: binary, numeric, enum, text, composite, list. Specific types:
// light, switch, fan, cover, lock, climate (these carry Features).
type Expose struct {
	Type        string `json:"type"`
	Name        string `json:"name,omitempty"`
	Label       string `json:"label,omitempty"`
	Property    string `json:"property,omitempty"`
	Description string `json:"description,omitempty"`
	Category    string `json:"category,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"`
	Access      int    `json:"access,omitempty"`

	// binary
	ValueOn     any `json:"value_on,omitempty"`
	ValueOff    any `json:"value_off,omitempty"`
	ValueToggle any `json:"value_toggle,omitempty"`

	// numeric
	ValueMin  *float64 `json:"value_min,omitempty"`
	ValueMax  *float64 `json:"value_max,omitempty"`
	ValueStep *float64 `json:"value_step,omitempty"`
	Unit      string   `json:"unit,omitempty"`
	Presets   []Preset `json:"presets,omitempty"`

	// enum
	Values []any `json:"values,omitempty"`

	// composite and specific types
	Features []Expose `json:"features,omitempty"`

	// list
	ItemType  *Expose `json:"item_type,omitempty"`
	LengthMin *int    `json:"length_min,omitempty"`
	LengthMax *int    `json:"length_max,omitempty"`
}

// IsSpecific reports whether the expose is one of the specific types
// (light, switch, fan, cover, lock, climate).
func (e *Expose) IsSpecific() bool {
	for _, t := range specificTypes {
		if e.Type == t {
			return true
		}
	}
	return false
}

// Can reports whether the expose's access includes bit.
func (e *Expose) Can(bit int) bool { return e.Access&bit != 0 }

// Feature returns the feature of a specific or composite expose with the given
// name (not property: "state", "brightness", "color_xy"), or nil.
func (e *Expose) Feature(name string) *Expose {
	for i := range e.Features {
		if e.Features[i].Name == name {
			return &e.Features[i]
		}
	}
	return nil
}

// StringValues returns an enum's values as strings (numbers are skipped).
func (e *Expose) StringValues() []string {
	out := make([]string, 0, len(e.Values))
	for _, v := range e.Values {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// maxExposeDepth bounds recursion on hostile input.
const maxExposeDepth = 8

func parseExposes(r gjson.Result, depth int) []Expose {
	if !r.IsArray() || depth > maxExposeDepth {
		return nil
	}
	var out []Expose
	r.ForEach(func(_, v gjson.Result) bool {
		if v.IsObject() {
			out = append(out, parseExpose(v, depth))
		}
		return true
	})
	return out
}

func parseExpose(v gjson.Result, depth int) Expose {
	e := Expose{}
	v.ForEach(func(k, f gjson.Result) bool {
		switch k.Str {
		case "type":
			e.Type = f.String()
		case "name":
			e.Name = f.String()
		case "label":
			e.Label = f.String()
		case "property":
			e.Property = f.String()
		case "description":
			e.Description = f.String()
		case "category":
			e.Category = f.String()
		case "endpoint":
			e.Endpoint = f.String()
		case "access":
			e.Access = int(f.Int())
		case "value_on":
			e.ValueOn = scalar(f)
		case "value_off":
			e.ValueOff = scalar(f)
		case "value_toggle":
			e.ValueToggle = scalar(f)
		case "value_min":
			e.ValueMin = number(f)
		case "value_max":
			e.ValueMax = number(f)
		case "value_step":
			e.ValueStep = number(f)
		case "unit":
			e.Unit = f.String()
		case "presets":
			f.ForEach(func(_, p gjson.Result) bool {
				if p.IsObject() {
					e.Presets = append(e.Presets, Preset{
						Name:        p.Get("name").String(),
						Value:       scalar(p.Get("value")),
						Description: p.Get("description").String(),
					})
				}
				return true
			})
		case "values":
			f.ForEach(func(_, x gjson.Result) bool {
				if s := scalar(x); s != nil {
					e.Values = append(e.Values, s)
				}
				return true
			})
		case "features":
			e.Features = parseExposes(f, depth+1)
		case "item_type":
			if f.IsObject() && depth < maxExposeDepth {
				it := parseExpose(f, depth+1)
				e.ItemType = &it
			}
		case "length_min":
			if f.Type == gjson.Number {
				n := int(f.Int())
				e.LengthMin = &n
			}
		case "length_max":
			if f.Type == gjson.Number {
				n := int(f.Int())
				e.LengthMax = &n
			}
		}
		return true
	})
	return e
}

// scalar returns a JSON scalar as string, float64 or bool; nil otherwise.
func scalar(r gjson.Result) any {
	switch r.Type {
	case gjson.String:
		return r.Str
	case gjson.Number:
		return r.Num
	case gjson.True:
		return true
	case gjson.False:
		return false
	}
	return nil
}

func number(r gjson.Result) *float64 {
	if r.Type != gjson.Number {
		return nil
	}
	n := r.Num
	return &n
}
