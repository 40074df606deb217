package simulator

import (
	"hash/fnv"
	"math"
	"strings"
)

// uncachedKeys are never part of the cached state (z2m-protocol.md §4.1).
func uncachedKey(k string) bool {
	return k == "action" || strings.HasPrefix(k, "action_") || k == "update" || k == "button" ||
		k == "step_size" || k == "step_mode" || k == "transition_time" || k == "illuminance_lux"
}

var numericDefaults = map[string]float64{
	"battery": 100, "local_temperature": 21.3, "temperature": 21.3, "humidity": 48.5, "pressure": 1013,
	"occupied_heating_setpoint": 20, "current_heating_setpoint": 20, "unoccupied_heating_setpoint": 17,
	"occupied_cooling_setpoint": 24, "unoccupied_cooling_setpoint": 26, "illuminance": 120,
	"device_temperature": 25, "position": 100, "display_switch_on_duration": 5,
}

// initialState derives a plausible start state from a device's exposes.
func initialState(d *device) map[string]any {
	st := map[string]any{}
	battery := d.raw["power_source"] == "Battery"
	for key, p := range d.props {
		ex := p.ex
		base := strings.TrimSuffix(key, "_"+p.endpoint)
		if ex.Access&accessState == 0 || uncachedKey(key) || base == "effect" {
			continue // an effect is only in the cache once one ran (the fixture transcript has none)
		}
		switch {
		case p.kind == "light" && base == "state", p.kind == "switch" && base == "state":
			st[key] = "OFF"
			continue
		case p.kind == "light" && base == "brightness":
			st[key] = 254
			continue
		case p.kind == "light" && base == "color_temp":
			lo, hi := 150.0, 500.0
			if ex.ValueMin != nil {
				lo = *ex.ValueMin
			}
			if ex.ValueMax != nil {
				hi = *ex.ValueMax
			}
			st[key] = math.Round((lo + hi) / 2)
			continue
		case p.kind == "cover" && base == "state":
			st[key] = "OPEN"
			continue
		case p.kind == "lock" && base == "state":
			st[key] = "LOCK"
			continue
		case p.kind == "lock" && base == "lock_state":
			st[key] = "locked"
			continue
		case base == "linkquality":
			h := fnv.New32a()
			h.Write([]byte(d.ieee))
			st[key] = 60 + int(h.Sum32()%150)
			continue
		}
		switch ex.Type {
		case "binary":
			v := ex.ValueOff
			if base == "contact" {
				v = ex.ValueOn
			}
			if v != nil {
				st[key] = v
			}
		case "enum":
			if len(ex.Values) == 0 {
				continue
			}
			v := ex.Values[0]
			for _, pref := range []string{"heat", "idle", "locked", "auto", "off"} {
				found := false
				for _, x := range ex.Values {
					if x == pref {
						v, found = x, true
						break
					}
				}
				if found {
					break
				}
			}
			st[key] = v
		case "numeric":
			if v, ok := numericDefaults[base]; ok {
				st[key] = v
				continue
			}
			switch {
			case base == "voltage" && battery:
				st[key] = 3000
			case base == "voltage":
				st[key] = 230
			case ex.ValueMin != nil && *ex.ValueMin > 0:
				st[key] = *ex.ValueMin
			default:
				st[key] = 0
			}
		}
	}
	for ep, lc := range d.lights {
		sfx := ""
		if ep != "" {
			sfx = "_" + ep
		}
		if lc.colorTemp != nil {
			st["color_mode"+sfx] = "color_temp"
			if lc.hasColor() {
				ct, _ := num(st["color_temp"+sfx])
				x, y := miredsToXY(ct)
				st["color"+sfx] = map[string]any{"x": x, "y": y}
			}
		} else if lc.hasColor() {
			st["color_mode"+sfx] = "xy"
			st["color"+sfx] = map[string]any{"x": 0.3127, "y": 0.329}
		}
	}
	return st
}
