package simulator

import (
	"fmt"
	"strings"
	"unicode"
)

// zclCommand describes what a converter sends, for the unreachable error.
type zclCommand struct {
	cluster   string
	clusterID int
	command   string
	commandID int
	payload   any
}

const zclOptions = `{"timeout":10000,"disableResponse":false,"disableRecovery":false,"disableDefaultResponse":true,"direction":0,"reservedBits":0,"writeUndiv":false}`

var climateKeys = map[string]bool{
	"occupied_heating_setpoint": true, "occupied_cooling_setpoint": true, "unoccupied_heating_setpoint": true,
	"unoccupied_cooling_setpoint": true, "current_heating_setpoint": true, "local_temperature_calibration": true,
	"system_mode": true, "running_state": true, "local_temperature": true, "pi_heating_demand": true,
}

func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			r := []rune(parts[i])
			r[0] = unicode.ToUpper(r[0])
			parts[i] = string(r)
		}
	}
	return strings.Join(parts, "")
}

func writeCommand(key string, v any) zclCommand {
	if climateKeys[key] {
		if n, ok := num(v); ok && strings.HasSuffix(key, "setpoint") {
			v = n * 100
		}
		return zclCommand{cluster: "hvacThermostat", clusterID: 513, command: "write", commandID: 2, payload: map[string]any{camel(key): v}}
	}
	return zclCommand{cluster: "genBasic", clusterID: 0, command: "write", commandID: 2, payload: map[string]any{camel(key): v}}
}

func readCommand(base string) zclCommand {
	switch {
	case base == "state":
		return zclCommand{cluster: "genOnOff", clusterID: 6, command: "read", payload: []any{"onOff"}}
	case base == "brightness":
		return zclCommand{cluster: "genLevelCtrl", clusterID: 8, command: "read", payload: []any{"currentLevel"}}
	case base == "color_temp" || base == "color":
		return zclCommand{cluster: "lightingColorCtrl", clusterID: 768, command: "read", payload: []any{"colorMode", "currentX", "currentY", "colorTemperature"}}
	case climateKeys[base]:
		return zclCommand{cluster: "hvacThermostat", clusterID: 513, command: "read", payload: []any{camel(base)}}
	}
	return zclCommand{cluster: "genBasic", clusterID: 0, command: "read", payload: []any{camel(base)}}
}

// timeoutError is the reason Zigbee2MQTT logs when a device never answers.
func (e *engine) timeoutError(d *device, ep int, c zclCommand, seq int) string {
	return fmt.Sprintf("ZCL command %s/%d %s.%s(%s, %s) failed (Timeout - %d - %d - %d - %d - %d after 10000ms)",
		d.ieee, ep, c.cluster, c.command, jsString(c.payload), zclOptions, d.nwk, ep, seq, c.clusterID, c.commandID)
}

func (d *device) nextSeq() int {
	d.zclSeq++
	return d.zclSeq
}

// topicEndpoint maps a topic endpoint to its name (for key suffixes) and
// number.
func (d *device) topicEndpoint(ep string) (string, int) {
	if ep == "" {
		return "", d.defaultEndpoint()
	}
	n, _ := d.resolveEndpoint(ep)
	if _, named := d.epNames[ep]; named {
		return ep, n
	}
	return d.endpointName(n), n
}

func (e *engine) deviceCaps(d *device) *capabilities {
	return &capabilities{name: d.name, props: d.props, lights: d.lights}
}

func (e *engine) setDevice(d *device, epTopic string, kvs []orderedKV, msgJSON string) {
	epName, epNum := d.topicEndpoint(epTopic)
	ops := e.buildOps(e.deviceCaps(d), epName, kvs, msgJSON, func(kv orderedKV) (*op, string) {
		return e.deviceSceneOp(d, epNum, kv)
	})
	if len(ops) == 0 || d.drop {
		return
	}
	scene := false
	for _, o := range ops {
		scene = scene || o.scene
	}
	if d.offline {
		n := 0
		for _, o := range ops {
			if o.local {
				continue
			}
			n++
			msg := publishFailed("set", o.key, d.name, e.timeoutError(d, epNum, o.zcl, d.nextSeq()))
			e.afterDevice(d, e.cfg.unreachableDelay, func() { e.logError(msg) })
		}
		if scene {
			e.afterDevice(d, 0, func() { e.publishDevices(); e.publishGroups() })
		}
		return
	}
	for _, o := range ops {
		if !o.local {
			d.nextSeq()
		}
	}
	e.afterDevice(d, e.cfg.latency, func() {
		working := cloneMap(d.state)
		update := map[string]any{}
		for _, o := range ops {
			if o.apply == nil {
				continue
			}
			if u := o.apply(working); len(u) > 0 {
				deepMerge(working, u)
				deepMerge(update, u)
			}
		}
		if len(update) > 0 {
			e.applyDeviceUpdate(d, update, true)
		}
		for _, o := range ops {
			if o.post != nil {
				o.post()
			}
		}
		if scene {
			e.publishDevices()
			e.publishGroups()
		}
	})
}

func (e *engine) getDevice(d *device, epTopic string, kvs []orderedKV) {
	epName, epNum := d.topicEndpoint(epTopic)
	c := e.deviceCaps(d)
	var valid []resolved
	for _, kv := range kvs {
		r, ok := c.resolve(kv, epName)
		if !ok || r.p == nil {
			if ok {
				e.logError(fmt.Sprintf("No converter available for 'get' '%s' (%s)", kv.Key, jsPlain(kv.Value)))
			} else {
				e.logError(noConverter(kv.Key, d.name, kv.Value))
			}
			continue
		}
		if r.p.ex.Access&accessGet == 0 {
			e.logError(fmt.Sprintf("No converter available for 'get' '%s' (%s)", kv.Key, jsPlain(kv.Value)))
			continue
		}
		valid = append(valid, r)
	}
	if len(valid) == 0 || d.drop {
		return
	}
	if d.offline {
		for _, r := range valid {
			msg := publishFailed("get", r.kv.Key, d.name, e.timeoutError(d, epNum, readCommand(r.base), d.nextSeq()))
			e.afterDevice(d, e.cfg.unreachableDelay, func() { e.logError(msg) })
		}
		return
	}
	e.afterDevice(d, e.cfg.latency, func() { e.publishDeviceState(d) })
}

// applyDeviceUpdate merges a device report or optimistic result into the
// cache, publishes the full state and, unless it came from a group command,
// propagates the light properties to the groups containing the device.
func (e *engine) applyDeviceUpdate(d *device, update map[string]any, propagate bool) {
	deepMerge(d.state, update)
	e.publishDeviceState(d)
	if propagate {
		e.propagateToGroups(d, update)
	}
}

var groupProperties = map[string]bool{"state": true, "brightness": true, "color_temp": true, "color": true, "color_mode": true}

func (e *engine) propagateToGroups(d *device, update map[string]any) {
	payload := map[string]any{}
	epName := ""
	for k, v := range update {
		prop := k
		for name := range d.epNames {
			if strings.HasSuffix(k, "_"+name) {
				prop, epName = strings.TrimSuffix(k, "_"+name), name
				break
			}
		}
		if groupProperties[prop] {
			payload[prop] = cloneValue(v)
		}
	}
	if len(payload) == 0 {
		return
	}
	ep := d.defaultEndpoint()
	if epName != "" {
		ep = d.epNames[epName]
	}
	for _, g := range e.groups {
		if !g.hasMember(d.ieee, ep) || (g.lastOptimistic != nil && jsonEqual(g.lastOptimistic, payload)) || !e.shouldPublishForGroup(g, payload) {
			continue
		}
		g.lastOptimistic = cloneMap(payload)
		deepMerge(g.state, payload)
		e.publishGroupState(g)
	}
}

// shouldPublishForGroup implements off_state "all_members_off": an OFF or
// CLOSE reaches the group only when every member is off or closed.
func (e *engine) shouldPublishForGroup(g *group, payload map[string]any) bool {
	s := payload["state"]
	if s != "OFF" && s != "CLOSE" {
		return true
	}
	for _, m := range g.members {
		d := e.deviceByIEEE(m.ieee)
		key := "state"
		if n := d.endpointName(m.ep); n != "" {
			if _, ok := d.state["state_"+n]; ok {
				key = "state_" + n
			}
		}
		if v := d.state[key]; v == "ON" || v == "OPEN" {
			return false
		}
	}
	return true
}

// groupCaps combines the capabilities of a group's member endpoints under
// unsuffixed keys.
func (e *engine) groupCaps(g *group) *capabilities {
	c := &capabilities{name: g.name, props: map[string]*prop{}, lights: map[string]*lightCaps{}}
	merged := &lightCaps{}
	hasLight := false
	for _, m := range g.members {
		d := e.deviceByIEEE(m.ieee)
		epName := d.endpointName(m.ep)
		for _, p := range d.props {
			if p.endpoint != "" && p.endpoint != epName {
				continue
			}
			key := strings.TrimSuffix(p.key, "_"+p.endpoint)
			if p.endpoint == "" {
				key = p.key
			}
			if _, ok := c.props[key]; !ok {
				cp := *p
				cp.key, cp.endpoint = key, ""
				c.props[key] = &cp
			}
		}
		if lc, ok := d.lights[epName]; ok {
			hasLight = true
			merged.state = merged.state || lc.state
			merged.brightness = merged.brightness || lc.brightness
			merged.xy = merged.xy || lc.xy
			merged.hs = merged.hs || lc.hs
			if merged.colorTemp == nil {
				merged.colorTemp = lc.colorTemp
			}
		}
	}
	if hasLight {
		c.lights[""] = merged
	}
	return c
}

func (e *engine) setGroup(g *group, kvs []orderedKV, msgJSON string) {
	if len(g.members) == 0 {
		for _, kv := range kvs {
			e.logError(noConverter(kv.Key, g.name, kv.Value))
		}
		return
	}
	ops := e.buildOps(e.groupCaps(g), "", kvs, msgJSON, func(kv orderedKV) (*op, string) {
		return e.groupSceneOp(g, kv)
	})
	if len(ops) == 0 {
		return
	}
	e.afterGroup(g, e.cfg.latency, func() {
		working := cloneMap(g.state)
		update := map[string]any{}
		scene := false
		for _, o := range ops {
			scene = scene || o.scene
			if o.apply == nil {
				continue
			}
			if u := o.apply(working); len(u) > 0 {
				deepMerge(working, u)
				deepMerge(update, u)
			}
		}
		if len(update) > 0 {
			e.groupOptimistic(g, update)
		}
		for _, o := range ops {
			if o.post != nil {
				o.post()
			}
		}
		if scene {
			e.publishDevices()
			e.publishGroups()
		}
	})
}

// groupOptimistic publishes a group command's result: the group, then each
// member with the light properties it supports, then other groups sharing
// those members.
func (e *engine) groupOptimistic(g *group, update map[string]any) {
	deepMerge(g.state, update)
	e.publishGroupState(g)
	g.lastOptimistic = nil
	var others []*group
	for _, m := range g.members {
		d := e.deviceByIEEE(m.ieee)
		if disabled, _ := d.raw["disabled"].(bool); disabled {
			continue
		}
		if mp := memberPayload(d, m.ep, update); len(mp) > 0 {
			e.applyDeviceUpdate(d, mp, false)
		}
		for _, og := range e.groups {
			if og == g || !og.hasMember(m.ieee, m.ep) {
				continue
			}
			dup := false
			for _, x := range others {
				dup = dup || x == og
			}
			if !dup {
				others = append(others, og)
			}
		}
	}
	for _, og := range others {
		deepMerge(og.state, update)
		e.publishGroupState(og)
	}
}

func memberPayload(d *device, ep int, update map[string]any) map[string]any {
	epName := d.endpointName(ep)
	lc := d.lights[epName]
	out := map[string]any{}
	for k, v := range update {
		if !groupProperties[k] {
			continue
		}
		key := k
		if epName != "" {
			if _, ok := d.props[k+"_"+epName]; ok {
				key = k + "_" + epName
			}
		}
		ok := false
		switch k {
		case "state":
			_, ok = d.props[key]
		case "brightness":
			ok = lc != nil && lc.brightness
		case "color_temp":
			ok = lc != nil && lc.colorTemp != nil
		case "color":
			ok = lc != nil && lc.hasColor()
		case "color_mode":
			ok = lc != nil && (lc.colorTemp != nil || lc.hasColor())
		}
		if ok {
			out[key] = cloneValue(v)
		}
	}
	return out
}

func (e *engine) getGroup(g *group, kvs []orderedKV) {
	if len(g.members) == 0 {
		for _, kv := range kvs {
			e.logError(noConverter(kv.Key, g.name, kv.Value))
		}
		return
	}
	e.afterGroup(g, e.cfg.latency, func() {
		if len(g.state) > 0 {
			e.publishGroupState(g)
		}
	})
}
