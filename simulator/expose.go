package simulator

import (
	"encoding/json"
	"sort"
	"strconv"
)

// Access bits of an expose (z2m-protocol.md §3.2).
const (
	accessState = 1
	accessSet   = 2
	accessGet   = 4
)

type preset struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// expose is the subset of an expose definition the simulator acts on.
type expose struct {
	Type        string    `json:"type"`
	Name        string    `json:"name"`
	Property    string    `json:"property"`
	Endpoint    string    `json:"endpoint"`
	Category    string    `json:"category"`
	Access      int       `json:"access"`
	ValueOn     any       `json:"value_on"`
	ValueOff    any       `json:"value_off"`
	ValueToggle any       `json:"value_toggle"`
	ValueMin    *float64  `json:"value_min"`
	ValueMax    *float64  `json:"value_max"`
	Values      []any     `json:"values"`
	Presets     []preset  `json:"presets"`
	Features    []*expose `json:"features"`
}

// prop is one settable/readable state key of a device.
type prop struct {
	key      string  // state key, endpoint suffix included
	ex       *expose // the generic expose describing the key
	kind     string  // enclosing specific type: light, switch, cover, lock, climate, fan; "" for top level
	endpoint string  // endpoint name, "" for the default endpoint
}

// lightCaps summarises one light expose.
type lightCaps struct {
	endpoint   string
	state      bool
	brightness bool
	colorTemp  *expose
	xy, hs     bool
}

func (l *lightCaps) hasColor() bool { return l.xy || l.hs }

var specificTypes = map[string]bool{"light": true, "switch": true, "fan": true, "cover": true, "lock": true, "climate": true}

// parseExposes indexes a definition's exposes by state key.
func parseExposes(raw any) (map[string]*prop, map[string]*lightCaps) {
	props := map[string]*prop{}
	lights := map[string]*lightCaps{}
	data, _ := json.Marshal(raw)
	var list []*expose
	_ = json.Unmarshal(data, &list)
	add := func(p *prop) {
		if p.key == "" {
			return
		}
		if _, dup := props[p.key]; !dup {
			props[p.key] = p
		}
	}
	for _, e := range list {
		if specificTypes[e.Type] {
			var lc *lightCaps
			if e.Type == "light" {
				lc = &lightCaps{endpoint: e.Endpoint}
				lights[e.Endpoint] = lc
			}
			for _, f := range e.Features {
				ep := f.Endpoint
				if ep == "" {
					ep = e.Endpoint
				}
				add(&prop{key: f.Property, ex: f, kind: e.Type, endpoint: ep})
				if lc != nil {
					switch f.Name {
					case "state":
						lc.state = true
					case "brightness":
						lc.brightness = true
					case "color_temp":
						lc.colorTemp = f
					case "color_xy":
						lc.xy = true
					case "color_hs":
						lc.hs = true
					}
				}
			}
			continue
		}
		add(&prop{key: e.Property, ex: e, endpoint: e.Endpoint})
	}
	return props, lights
}

// endpointInfo returns endpoint name → number, and the sorted numbers
// (without the green-power endpoint 242).
func endpointInfo(raw map[string]any) (map[string]int, []int) {
	names := map[string]int{}
	var nums []int
	eps, _ := raw["endpoints"].(map[string]any)
	for k, v := range eps {
		n, err := strconv.Atoi(k)
		if err != nil {
			continue
		}
		if n != 242 {
			nums = append(nums, n)
		}
		if m, ok := v.(map[string]any); ok {
			if name, ok := m["name"].(string); ok && name != "" {
				names[name] = n
			}
		}
	}
	sort.Ints(nums)
	return names, nums
}
