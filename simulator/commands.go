package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// commandTopic splits "<entity>/(set|get)[/<attr>]" like Zigbee2MQTT's
// regex ^<base>/(?!bridge)(.+?)/(get|set)(?:/(.+))?$ does (Go's regexp has
// no lookahead).
func commandTopic(rest string) (entity, cmd, attr string, ok bool) {
	if strings.HasPrefix(rest, "bridge") {
		return "", "", "", false
	}
	for i := 1; i+4 <= len(rest); i++ {
		if rest[i] != '/' {
			continue
		}
		word := rest[i+1 : i+4]
		if word != "set" && word != "get" {
			continue
		}
		after := rest[i+4:]
		if after == "" {
			return rest[:i], word, "", true
		}
		if after[0] == '/' && len(after) > 1 {
			return rest[:i], word, after[1:], true
		}
	}
	return "", "", "", false
}

// handleMessage is the engine's entry point for everything received on
// <base>/#.
func (e *engine) handleMessage(topic string, payload []byte) {
	prefix := e.cfg.baseTopic + "/"
	if !strings.HasPrefix(topic, prefix) {
		return
	}
	rest := topic[len(prefix):]
	if name, ok := strings.CutPrefix(rest, "bridge/request/"); ok {
		e.handleRequest(topic, name, payload)
		return
	}
	entity, cmd, attr, ok := commandTopic(rest)
	if !ok {
		return
	}
	e.handleCommand(entity, cmd, attr, payload)
}

var stateWords = map[string]bool{"on": true, "off": true, "toggle": true, "open": true, "close": true, "stop": true, "lock": true, "unlock": true}

// parseCommand turns a /set or /get body into ordered keys, as Zigbee2MQTT's
// parseMessage does. ok=false means "Invalid message"; a JSON value that is
// not an object yields no keys (Zigbee2MQTT then does nothing).
func parseCommand(attr string, payload []byte) ([]orderedKV, bool) {
	if attr != "" {
		var v any
		if err := json.Unmarshal(payload, &v); err != nil {
			v = string(payload)
		}
		return []orderedKV{{Key: attr, Value: v, Raw: marshal(v)}}, true
	}
	if kvs, ok := parseOrdered(payload); ok {
		return kvs, true
	}
	var v any
	if err := json.Unmarshal(payload, &v); err == nil {
		return nil, true
	}
	body := string(payload)
	if stateWords[strings.ToLower(body)] {
		return []orderedKV{{Key: "state", Value: body, Raw: marshal(body)}}, true
	}
	return nil, false
}

// sortKeys applies Zigbee2MQTT's key order: state, brightness and
// brightness_percent first, or last when the message turns the light off.
func sortKeys(kvs []orderedKV) []orderedKV {
	special := func(k string) bool { return k == "state" || k == "brightness" || k == "brightness_percent" }
	off := false
	for _, kv := range kvs {
		if s, ok := kv.Value.(string); ok && kv.Key == "state" && strings.EqualFold(s, "off") {
			off = true
		}
	}
	var first, rest []orderedKV
	for _, kv := range kvs {
		if special(kv.Key) {
			first = append(first, kv)
		} else {
			rest = append(rest, kv)
		}
	}
	if off {
		return append(rest, first...)
	}
	return append(first, rest...)
}

func (e *engine) handleCommand(entity, cmd, attr string, payload []byte) {
	var (
		dev     *device
		grp     *group
		epTopic string
	)
	if dev = e.deviceByName(entity); dev == nil {
		grp = e.groupByName(entity)
	}
	if dev == nil && grp == nil {
		if i := strings.LastIndex(entity, "/"); i > 0 {
			left, ep := entity[:i], entity[i+1:]
			if d := e.deviceByName(left); d != nil {
				if _, ok := d.resolveEndpoint(ep); !ok {
					e.logError(fmt.Sprintf("Device '%s' has no endpoint '%s'", d.name, ep))
					return
				}
				dev, epTopic = d, ep
			}
		}
	}
	if dev == nil && grp == nil {
		e.logError(fmt.Sprintf("Entity '%s' is unknown", entity))
		return
	}
	kvs, ok := parseCommand(attr, payload)
	if !ok {
		e.logError("Invalid message 'undefined', skipping...")
		return
	}
	if dev != nil && !dev.supported {
		e.logError(fmt.Sprintf("Cannot publish to unsupported device '%s'", dev.name))
		return
	}
	if len(kvs) == 0 {
		return
	}
	msgJSON := orderedJSON(kvs)
	kvs = sortKeys(kvs)
	switch {
	case dev != nil && cmd == "set":
		e.setDevice(dev, epTopic, kvs, msgJSON)
	case dev != nil:
		e.getDevice(dev, epTopic, kvs)
	case cmd == "set":
		e.setGroup(grp, kvs, msgJSON)
	default:
		e.getGroup(grp, kvs)
	}
}

// ---- key resolution ----

var lightExtraKeys = map[string]bool{
	"transition": true, "brightness_percent": true, "brightness_step": true, "brightness_step_onoff": true,
	"brightness_move": true, "brightness_move_onoff": true, "color_temp_percent": true, "color_temp_step": true,
	"color_temp_move": true, "hue_step": true, "hue_move": true, "saturation_step": true, "saturation_move": true,
	"on_time": true, "off_wait_time": true, "alert": true, "flash": true,
}

var genericExtraKeys = map[string]bool{"read": true, "write": true, "command": true}

var sceneKeys = map[string]bool{"scene_store": true, "scene_add": true, "scene_recall": true, "scene_remove": true, "scene_remove_all": true, "scene_rename": true}

// resolved is one message key matched to what handles it.
type resolved struct {
	kv   orderedKV
	base string // key without endpoint suffix
	sfx  string // "_<endpoint>" or ""
	p    *prop
	lc   *lightCaps
}

// capabilities is what a set/get can address: a device, or a group's
// combined member capabilities.
type capabilities struct {
	name   string
	props  map[string]*prop
	lights map[string]*lightCaps
}

func (c *capabilities) resolve(kv orderedKV, epName string) (resolved, bool) {
	r := resolved{kv: kv, base: kv.Key}
	try := func(key string) bool {
		p, ok := c.props[key]
		if !ok {
			return false
		}
		r.p = p
		if p.endpoint != "" && strings.HasSuffix(p.key, "_"+p.endpoint) {
			r.sfx = "_" + p.endpoint
			r.base = strings.TrimSuffix(p.key, r.sfx)
		} else {
			r.base = p.key
		}
		if p.kind == "light" {
			r.lc = c.lights[p.endpoint]
		}
		return true
	}
	if epName != "" && try(kv.Key+"_"+epName) {
		return r, true
	}
	if try(kv.Key) {
		return r, true
	}
	// Converter keys that are not exposes.
	if epName != "" {
		if lc, ok := c.lights[epName]; ok && lightExtraKeys[kv.Key] {
			r.lc, r.sfx = lc, "_"+epName
			return r, true
		}
	}
	for name, lc := range c.lights {
		if name == "" && lightExtraKeys[kv.Key] {
			r.lc = lc
			return r, true
		}
		if name != "" && strings.HasSuffix(kv.Key, "_"+name) && lightExtraKeys[strings.TrimSuffix(kv.Key, "_"+name)] {
			r.lc, r.sfx, r.base = lc, "_"+name, strings.TrimSuffix(kv.Key, "_"+name)
			return r, true
		}
	}
	if genericExtraKeys[kv.Key] {
		return r, true
	}
	return r, false
}

// op is one converter run: validated at receipt, applied when the simulated
// device acknowledges.
type op struct {
	key   string
	zcl   zclCommand
	apply func(cache map[string]any) map[string]any // optimistic state; nil for none
	post  func()                                    // after the optimistic publish
	local bool                                      // nothing goes on air
	scene bool                                      // republish bridge lists afterwards
}

func noConverter(key, name string, v any) string {
	return fmt.Sprintf("No converter available for '%s' on '%s': (%s)", key, name, jsString(v))
}

func publishFailed(kind, key, name, reason string) string {
	return fmt.Sprintf("Publish '%s' '%s' to '%s' failed: 'Error: %s'", kind, key, name, reason)
}

// buildOps validates a /set message and returns the converter runs; errors
// are logged at once, like a converter that throws before sending.
func (e *engine) buildOps(c *capabilities, epName string, kvs []orderedKV, msgJSON string, sceneOp func(orderedKV) (*op, string)) []*op {
	var ops []*op
	used := map[string]bool{}
	var all []resolved
	for _, kv := range kvs {
		r, _ := c.resolve(kv, epName)
		all = append(all, r)
	}
	for _, r := range all {
		kv := r.kv
		if sceneKeys[kv.Key] && sceneOp != nil {
			o, errMsg := sceneOp(kv)
			if errMsg != "" {
				e.logError(publishFailed("set", kv.Key, c.name, errMsg))
			}
			if o != nil {
				ops = append(ops, o)
			}
			continue
		}
		if r.p == nil && r.lc == nil && !genericExtraKeys[kv.Key] {
			e.logError(noConverter(kv.Key, c.name, kv.Value))
			continue
		}
		if r.p != nil && r.p.ex.Access&accessSet == 0 {
			if r.p.ex.Access&accessGet != 0 {
				e.logError(fmt.Sprintf("No converter available for 'set' '%s' (%s)", kv.Key, jsPlain(kv.Value)))
			} else {
				e.logError(noConverter(kv.Key, c.name, kv.Value))
			}
			continue
		}
		var (
			o      *op
			reason string
		)
		switch {
		case r.lc != nil && (r.base == "state" || r.base == "brightness" || r.base == "brightness_percent"):
			if used["onoff"+r.sfx] {
				continue
			}
			used["onoff"+r.sfx] = true
			o, reason = lightOnOff(r, all, msgJSON)
		case r.lc != nil:
			o, reason = lightOp(r, msgJSON)
		case r.p != nil && r.p.kind == "switch" && r.base == "state":
			o, reason = switchState(r)
		case r.p != nil && r.p.kind == "cover" && (r.base == "state" || r.base == "position" || r.base == "tilt"):
			o, reason = e.coverOp(c, r)
		case r.p != nil && r.p.kind == "lock" && r.base == "state":
			o, reason = e.lockOp(c, r)
		case r.p != nil:
			o, reason = genericOp(r)
		default:
			o = &op{key: kv.Key, zcl: zclCommand{cluster: "genBasic", clusterID: 0, command: kv.Key, commandID: 0, payload: map[string]any{}}}
		}
		if reason != "" {
			e.logError(publishFailed("set", kv.Key, c.name, reason))
			continue
		}
		if o != nil {
			if o.key == "" {
				o.key = kv.Key
			}
			ops = append(ops, o)
		}
	}
	return ops
}

// ---- light converters ----

func lightOnOff(first resolved, all []resolved, msgJSON string) (*op, string) {
	var stateV, briV, pctV any
	var hasState, hasBri, hasPct bool
	for _, r := range all {
		if r.lc != first.lc || r.sfx != first.sfx {
			continue
		}
		switch r.base {
		case "state":
			stateV, hasState = r.kv.Value, true
		case "brightness":
			briV, hasBri = r.kv.Value, true
		case "brightness_percent":
			pctV, hasPct = r.kv.Value, true
		}
	}
	brightness := -1.0
	if hasBri {
		b, ok := toNumber(briV)
		if !ok || b < 0 || b > 255 {
			return nil, fmt.Sprintf("Brightness value of message: '%s' invalid, must be a number >= 0 and =< 254", msgJSON)
		}
		brightness = b
	} else if hasPct {
		p, ok := toNumber(pctV)
		b := math.Round(p * 255 / 100)
		if !ok || b < 0 || b > 255 {
			return nil, fmt.Sprintf("Brightness value of message: '%s' invalid, must be a number >= 0 and =< 254", msgJSON)
		}
		brightness = b
	}
	if brightness > 254 {
		brightness = 254
	}
	brightness = math.Round(brightness)
	state := ""
	if hasState {
		s, ok := stateV.(string)
		s = strings.ToLower(s)
		if !ok || (s != "on" && s != "off" && s != "toggle") {
			return nil, fmt.Sprintf("State value of message: '%s' invalid, must be 'ON', 'OFF' or 'TOGGLE'", msgJSON)
		}
		state = s
	}
	sfx := first.sfx
	o := &op{key: first.kv.Key}
	switch {
	case brightness == 0 || state == "off":
		o.zcl = zclCommand{cluster: "genOnOff", clusterID: 6, command: "off", commandID: 0, payload: map[string]any{}}
	case brightness > 0:
		o.zcl = zclCommand{cluster: "genLevelCtrl", clusterID: 8, command: "moveToLevelWithOnOff", commandID: 4, payload: map[string]any{"level": brightness, "transtime": 0}}
	case state == "toggle":
		o.zcl = zclCommand{cluster: "genOnOff", clusterID: 6, command: "toggle", commandID: 2, payload: map[string]any{}}
	default:
		o.zcl = zclCommand{cluster: "genOnOff", clusterID: 6, command: "on", commandID: 1, payload: map[string]any{}}
	}
	o.apply = func(cache map[string]any) map[string]any {
		st := state
		if st == "toggle" {
			switch cache["state"+sfx] {
			case "ON":
				st = "off"
			case "OFF":
				st = "on"
			default:
				if brightness < 0 {
					return nil
				}
				st = "on"
			}
		}
		switch {
		case brightness == 0:
			return map[string]any{"state" + sfx: "OFF", "brightness" + sfx: 0}
		case st == "off":
			return map[string]any{"state" + sfx: "OFF"}
		case brightness > 0:
			return map[string]any{"state" + sfx: "ON", "brightness" + sfx: brightness}
		default:
			return map[string]any{"state" + sfx: "ON"}
		}
	}
	return o, ""
}

func ctRange(lc *lightCaps) (float64, float64) {
	lo, hi := 150.0, 500.0
	if lc.colorTemp != nil {
		if lc.colorTemp.ValueMin != nil {
			lo = *lc.colorTemp.ValueMin
		}
		if lc.colorTemp.ValueMax != nil {
			hi = *lc.colorTemp.ValueMax
		}
	}
	return lo, hi
}

// colorTempUpdate sets color_temp and refreshes the colour representations
// already cached (color_sync).
func colorTempUpdate(lc *lightCaps, sfx string, mireds float64, cache map[string]any) map[string]any {
	u := map[string]any{"color_temp" + sfx: mireds, "color_mode" + sfx: "color_temp"}
	if cached, ok := cache["color"+sfx].(map[string]any); ok && lc.hasColor() {
		x, y := miredsToXY(mireds)
		col := map[string]any{}
		if _, ok := cached["x"]; ok {
			col["x"], col["y"] = x, y
		}
		if _, ok := cached["hue"]; ok {
			h, s := xyToHS(x, y)
			col["hue"], col["saturation"] = h, s
		}
		if len(col) > 0 {
			u["color"+sfx] = col
		}
	}
	return u
}

// xyToHS is a rough conversion used only to keep cached hue/saturation
// plausible.
func xyToHS(x, y float64) (float64, float64) {
	z := 1 - x - y
	Y := 1.0
	X := (Y / y) * x
	Z := (Y / y) * z
	r := X*1.656492 - Y*0.354851 - Z*0.255038
	g := -X*0.707196 + Y*1.655397 + Z*0.036152
	b := X*0.051713 - Y*0.121364 + Z*1.011530
	mx := math.Max(r, math.Max(g, b))
	mn := math.Min(r, math.Min(g, b))
	if mx <= 0 {
		return 0, 0
	}
	d := mx - mn
	h := 0.0
	switch {
	case d == 0:
	case mx == r:
		h = 60 * math.Mod((g-b)/d, 6)
	case mx == g:
		h = 60 * ((b-r)/d + 2)
	default:
		h = 60 * ((r-g)/d + 4)
	}
	if h < 0 {
		h += 360
	}
	return math.Round(h), math.Round(d / mx * 100)
}

func lightOp(r resolved, msgJSON string) (*op, string) {
	lc, sfx, v := r.lc, r.sfx, r.kv.Value
	switch r.base {
	case "transition", "on_time", "off_wait_time":
		return &op{local: true}, ""
	case "color_temp", "color_temp_percent":
		lo, hi := ctRange(lc)
		var m float64
		if r.base == "color_temp_percent" {
			p, ok := toNumber(v)
			if !ok {
				return nil, fmt.Sprintf("'%s' is not a number, got %s (%s)", r.kv.Key, jsTypeof(v), jsPlain(v))
			}
			m = math.Round(lo + (hi-lo)*clamp(p, 0, 100)/100)
		} else if s, ok := v.(string); ok {
			if n, ok := toNumber(s); ok {
				m = n
			} else {
				presets := map[string]float64{"coolest": lo, "cool": 250, "neutral": 370, "warm": 454, "warmest": hi}
				p, ok := presets[strings.ToLower(s)]
				if !ok {
					return nil, fmt.Sprintf("Unknown preset '%s'", s)
				}
				m = p
			}
		} else if n, ok := toNumber(v); ok {
			m = n
		} else {
			return nil, fmt.Sprintf("'%s' is not a number, got %s (%s)", r.kv.Key, jsTypeof(v), jsPlain(v))
		}
		m = math.Round(clamp(m, lo, hi))
		return &op{
			zcl:   zclCommand{cluster: "lightingColorCtrl", clusterID: 768, command: "moveToColorTemp", commandID: 10, payload: map[string]any{"colortemp": m, "transtime": 0}},
			apply: func(cache map[string]any) map[string]any { return colorTempUpdate(lc, sfx, m, cache) },
		}, ""
	case "color":
		pc, ok := parseColor(v)
		if !ok {
			return nil, "Value does not contain valid color definition"
		}
		if pc.hs && !lc.hs {
			h, s := pc.hue, pc.sat
			if !pc.hasSat {
				s = 100
			}
			rr, gg, bb := hsvToRGB(h, s, 100)
			pc.x, pc.y = rgbToXY(rr, gg, bb)
			pc.hs = false
		}
		o := &op{}
		if pc.hs {
			o.zcl = zclCommand{cluster: "lightingColorCtrl", clusterID: 768, command: "enhancedMoveToHueAndSaturation", commandID: 67, payload: map[string]any{"enhancehue": pc.hue, "saturation": pc.sat, "transtime": 0}}
		} else {
			o.zcl = zclCommand{cluster: "lightingColorCtrl", clusterID: 768, command: "moveToColor", commandID: 7, payload: map[string]any{"colorx": math.Round(pc.x * 65535), "colory": math.Round(pc.y * 65535), "transtime": 0}}
		}
		o.apply = func(cache map[string]any) map[string]any {
			cached, _ := cache["color"+sfx].(map[string]any)
			col := map[string]any{}
			u := map[string]any{}
			if pc.hs {
				if pc.hasHue {
					col["hue"] = pc.hue
				}
				if pc.hasSat {
					col["saturation"] = pc.sat
				}
				u["color_mode"+sfx] = "hs"
			} else {
				col["x"], col["y"] = pc.x, pc.y
				if _, ok := cached["hue"]; ok {
					col["hue"], col["saturation"] = xyToHS(pc.x, pc.y)
				}
				u["color_mode"+sfx] = "xy"
				if _, ok := cache["color_temp"+sfx]; ok && lc.colorTemp != nil {
					lo, hi := ctRange(lc)
					u["color_temp"+sfx] = clamp(xyToMireds(pc.x, pc.y), lo, hi)
				}
			}
			u["color"+sfx] = col
			return u
		}
		return o, ""
	case "brightness_step", "brightness_step_onoff":
		step, ok := toNumber(v)
		if !ok {
			return nil, fmt.Sprintf("'%s' is not a number, got %s (%s)", r.kv.Key, jsTypeof(v), jsPlain(v))
		}
		onOff := strings.HasSuffix(r.base, "_onoff")
		return &op{
			zcl: zclCommand{cluster: "genLevelCtrl", clusterID: 8, command: "step", commandID: 2, payload: map[string]any{"stepmode": 0, "stepsize": math.Abs(step), "transtime": 0}},
			apply: func(cache map[string]any) map[string]any {
				cur, ok := num(cache["brightness"+sfx])
				if !ok {
					return nil
				}
				on := cache["state"+sfx] == "ON"
				if !onOff && !on {
					return nil
				}
				if !on {
					cur = 0
				}
				b := cur + step
				if onOff {
					b = clamp(b, 0, 254)
					if b == 0 {
						return map[string]any{"state" + sfx: "OFF"}
					}
					return map[string]any{"brightness" + sfx: b, "state" + sfx: "ON"}
				}
				return map[string]any{"brightness" + sfx: clamp(b, 1, 254)}
			},
		}, ""
	default:
		// Continuous moves and the like: sent, nothing optimistic.
		return &op{zcl: zclCommand{cluster: "genLevelCtrl", clusterID: 8, command: r.base, commandID: 1, payload: map[string]any{}}}, ""
	}
}

// ---- switches, covers, locks ----

func switchState(r resolved) (*op, string) {
	s, ok := r.kv.Value.(string)
	s = strings.ToLower(s)
	if !ok {
		s = "null"
	}
	if s != "on" && s != "off" && s != "toggle" {
		return nil, fmt.Sprintf("'%s' not allowed, choose between: toggle,off,on", s)
	}
	key := r.p.key
	cmdID := map[string]int{"off": 0, "on": 1, "toggle": 2}[s]
	return &op{
		zcl: zclCommand{cluster: "genOnOff", clusterID: 6, command: s, commandID: cmdID, payload: map[string]any{}},
		apply: func(cache map[string]any) map[string]any {
			switch s {
			case "on":
				return map[string]any{key: "ON"}
			case "off":
				return map[string]any{key: "OFF"}
			}
			switch cache[key] {
			case "ON":
				return map[string]any{key: "OFF"}
			case "OFF":
				return map[string]any{key: "ON"}
			}
			return nil
		},
	}, ""
}

func notANumber(key string, v any) string {
	return fmt.Sprintf("'%s' is not a number, got %s (%s)", key, jsTypeof(v), jsPlain(v))
}

// genericOp handles any other expose: validated per its type, echoed when
// the expose is part of the state (access bit 1).
func genericOp(r resolved) (*op, string) {
	p, v := r.p, r.kv.Value
	ex := p.ex
	out := v
	switch ex.Type {
	case "numeric":
		if s, ok := v.(string); ok {
			found := false
			for _, pr := range ex.Presets {
				if strings.EqualFold(pr.Name, s) {
					out, found = pr.Value, true
				}
			}
			if !found {
				return nil, notANumber(r.base, v)
			}
		} else if _, ok := num(v); !ok {
			return nil, notANumber(r.base, v)
		}
	case "enum":
		found := false
		for _, allowed := range ex.Values {
			if jsonEqual(allowed, v) {
				out, found = allowed, true
				break
			}
			if as, ok := allowed.(string); ok {
				if vs, ok := v.(string); ok && strings.EqualFold(as, vs) {
					out, found = allowed, true
					break
				}
			}
		}
		if !found {
			names := make([]string, len(ex.Values))
			for i, a := range ex.Values {
				names[i] = jsPlain(a)
			}
			return nil, fmt.Sprintf("'%s' not allowed, choose between: %s", jsPlain(v), strings.Join(names, ","))
		}
	case "binary":
		var toggle bool
		found := false
		for _, cand := range []any{ex.ValueOn, ex.ValueOff, ex.ValueToggle} {
			if cand == nil {
				continue
			}
			cs, cok := cand.(string)
			vs, vok := v.(string)
			if jsonEqual(cand, v) || (cok && vok && strings.EqualFold(cs, vs)) {
				out, found = cand, true
				toggle = ex.ValueToggle != nil && jsonEqual(cand, ex.ValueToggle)
				break
			}
		}
		if !found {
			allowed := []string{jsPlain(ex.ValueOn), jsPlain(ex.ValueOff)}
			if ex.ValueToggle != nil {
				allowed = append(allowed, jsPlain(ex.ValueToggle))
			}
			return nil, fmt.Sprintf("'%s' not allowed, choose between: %s", jsPlain(v), strings.Join(allowed, ","))
		}
		if toggle {
			key := p.key
			return &op{
				zcl: writeCommand(key, v),
				apply: func(cache map[string]any) map[string]any {
					switch {
					case jsonEqual(cache[key], ex.ValueOn):
						return map[string]any{key: ex.ValueOff}
					case jsonEqual(cache[key], ex.ValueOff):
						return map[string]any{key: ex.ValueOn}
					}
					return nil
				},
			}, ""
		}
	case "composite":
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Sprintf("'%s' is not an object, got %s (%s)", r.base, jsTypeof(v), jsPlain(v))
		}
	}
	o := &op{zcl: writeCommand(p.key, out)}
	if ex.Access&accessState != 0 {
		key := p.key
		o.apply = func(map[string]any) map[string]any { return map[string]any{key: cloneValue(out)} }
	}
	return o, ""
}

func (e *engine) coverOp(c *capabilities, r resolved) (*op, string) {
	v := r.kv.Value
	sfx := r.sfx
	d := e.deviceByName(c.name)
	switch r.base {
	case "state":
		s, _ := v.(string)
		s = strings.ToLower(s)
		target := map[string]float64{"open": 100, "on": 100, "close": 0, "off": 0, "stop": -1}
		t, ok := target[s]
		if !ok {
			return nil, fmt.Sprintf("'%s' not allowed, choose between: open,close,stop,on,off", jsPlain(s))
		}
		cmd := map[string]int{"open": 0, "on": 0, "close": 1, "off": 1, "stop": 2}[s]
		name := map[int]string{0: "upOpen", 1: "downClose", 2: "stop"}[cmd]
		return &op{
			zcl: zclCommand{cluster: "closuresWindowCovering", clusterID: 258, command: name, commandID: cmd, payload: map[string]any{}},
			post: func() {
				if d != nil {
					e.moveCover(d, sfx, t)
				}
			},
		}, ""
	default: // position, tilt
		n, ok := num(v)
		if !ok {
			return nil, notANumber(r.base, v)
		}
		key := r.kv.Key
		if r.p != nil {
			key = r.p.key
		}
		o := &op{
			zcl:   zclCommand{cluster: "closuresWindowCovering", clusterID: 258, command: "goToLiftPercentage", commandID: 5, payload: map[string]any{"percentageliftvalue": 100 - n}},
			apply: func(map[string]any) map[string]any { return map[string]any{key: n} },
		}
		if r.base == "position" && d != nil {
			o.post = func() {
				d.motionGen++
				want := "OPEN"
				if n == 0 {
					want = "CLOSE"
				}
				if _, has := d.props["state"+sfx]; has && d.state["state"+sfx] != want {
					gen := d.motionGen
					e.afterDevice(d, e.cfg.coverStep, func() {
						if gen == d.motionGen {
							e.applyDeviceUpdate(d, map[string]any{"position" + sfx: n, "state" + sfx: want}, true)
						}
					})
				}
			}
		}
		return o, ""
	}
}

// moveCover simulates a cover travelling to target (−1 = stop), reporting
// its position every coverStep.
func (e *engine) moveCover(d *device, sfx string, target float64) {
	d.motionGen++
	gen := d.motionGen
	_, hasPos := d.props["position"+sfx]
	stateOf := func(pos float64) string {
		if pos <= 0 {
			return "CLOSE"
		}
		return "OPEN"
	}
	if !hasPos {
		if target >= 0 {
			e.afterDevice(d, e.cfg.coverStep, func() {
				if gen == d.motionGen {
					e.applyDeviceUpdate(d, map[string]any{"state" + sfx: stateOf(target)}, true)
				}
			})
		}
		return
	}
	current := func() float64 {
		if p, ok := num(d.state["position"+sfx]); ok {
			return p
		}
		if d.state["state"+sfx] == "CLOSE" {
			return 0
		}
		return 100
	}
	if target < 0 {
		pos := current()
		e.afterDevice(d, 0, func() {
			e.applyDeviceUpdate(d, map[string]any{"position" + sfx: pos, "state" + sfx: stateOf(pos)}, true)
		})
		return
	}
	var step func()
	step = func() {
		if gen != d.motionGen {
			return
		}
		pos := current()
		if pos < target {
			pos = math.Min(target, pos+e.cfg.coverSpeed)
		} else {
			pos = math.Max(target, pos-e.cfg.coverSpeed)
		}
		e.applyDeviceUpdate(d, map[string]any{"position" + sfx: pos, "state" + sfx: stateOf(pos)}, true)
		if pos != target {
			e.afterDevice(d, e.cfg.coverStep, step)
		}
	}
	e.afterDevice(d, e.cfg.coverStep, step)
}

func (e *engine) lockOp(c *capabilities, r resolved) (*op, string) {
	v := r.kv.Value
	if m, ok := v.(map[string]any); ok {
		v = m["state"]
	}
	s, _ := v.(string)
	s = strings.ToLower(s)
	if s != "lock" && s != "unlock" && s != "toggle" {
		return nil, fmt.Sprintf("'%s' not allowed, choose between: lock,unlock,toggle", jsPlain(s))
	}
	sfx := r.sfx
	d := e.deviceByName(c.name)
	cmd := map[string]int{"lock": 0, "unlock": 1, "toggle": 2}[s]
	name := map[string]string{"lock": "lockDoor", "unlock": "unlockDoor", "toggle": "toggleDoor"}[s]
	return &op{
		zcl: zclCommand{cluster: "closuresDoorLock", clusterID: 257, command: name, commandID: cmd, payload: map[string]any{"pincodevalue": ""}},
		post: func() {
			if d == nil {
				return
			}
			e.afterDevice(d, e.cfg.lockDelay, func() {
				want := strings.ToUpper(s)
				if s == "toggle" {
					want = "LOCK"
					if d.state["state"+sfx] == "LOCK" {
						want = "UNLOCK"
					}
				}
				u := map[string]any{"state" + sfx: want}
				if _, ok := d.props["lock_state"+sfx]; ok {
					u["lock_state"+sfx] = map[string]string{"LOCK": "locked", "UNLOCK": "unlocked"}[want]
				}
				e.applyDeviceUpdate(d, u, true)
			})
		},
	}, ""
}
