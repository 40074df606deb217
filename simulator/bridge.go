package simulator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// requestError is a failed bridge request; msg becomes the response error.
type requestError string

func (e requestError) Error() string { return string(e) }

var endsWithDigit = regexp.MustCompile(`/\d+$`)

// validateFriendlyName applies Zigbee2MQTT's friendly name rules (§1.3).
func validateFriendlyName(name string) error {
	if name == "" {
		return requestError("friendly_name must be at least 1 char long")
	}
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return requestError("friendly_name is not allowed to end or start with /")
	}
	for _, r := range name {
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) || (r >= 0xfdd0 && r <= 0xfdef) || r&0xfffe == 0xfffe {
			return requestError("friendly_name is not allowed to contain control char")
		}
	}
	if endsWithDigit.MatchString(name) {
		return requestError(fmt.Sprintf("Friendly name cannot end with a \"/DIGIT\" ('%s')", name))
	}
	if strings.ContainsAny(name, "+#") {
		return requestError(fmt.Sprintf("MQTT wildcard (+ and #) not allowed in friendly_name ('%s')", name))
	}
	return nil
}

func (e *engine) respond(name string, message any, data any, err error) {
	resp := map[string]any{"data": data, "status": "ok"}
	if err != nil {
		resp["data"] = map[string]any{}
		resp["status"] = "error"
		resp["error"] = err.Error()
	}
	if m, ok := message.(map[string]any); ok {
		if t, ok := m["transaction"]; ok {
			resp["transaction"] = t
		}
	}
	e.publish("bridge/response/"+name, 0, false, marshal(resp))
}

// handleRequest answers bridge/request/<name> (§8).
func (e *engine) handleRequest(topic, name string, payload []byte) {
	var message any
	if err := json.Unmarshal(payload, &message); err != nil {
		message = string(payload)
	}
	handlers := map[string]func(any) (any, error){
		"health_check":         func(any) (any, error) { return map[string]any{"healthy": true}, nil },
		"permit_join":          e.reqPermitJoin,
		"device/rename":        e.reqDeviceRename,
		"device/remove":        e.reqDeviceRemove,
		"group/add":            e.reqGroupAdd,
		"group/remove":         e.reqGroupRemove,
		"group/rename":         e.reqGroupRename,
		"group/members/add":    func(m any) (any, error) { return e.reqGroupMembers(m, true) },
		"group/members/remove": func(m any) (any, error) { return e.reqGroupMembers(m, false) },
		"coordinator_check":    func(any) (any, error) { return map[string]any{"missing_routers": []any{}}, nil },
	}
	h, ok := handlers[name]
	if !ok {
		return // unknown requests get no response
	}
	data, err := h(message)
	if err != nil {
		e.logError(fmt.Sprintf("Request '%s' failed with error: '%s'", topic, err.Error()))
	}
	if data == nil && err == nil {
		return // handler responded itself (ordering)
	}
	e.respond(name, message, data, err)
}

func strField(message any, key string) (string, bool) {
	m, ok := message.(map[string]any)
	if !ok {
		return "", false
	}
	switch v := m[key].(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

func (e *engine) reqPermitJoin(message any) (any, error) {
	var t float64
	data := map[string]any{}
	switch m := message.(type) {
	case map[string]any:
		v, ok := toNumber(m["time"])
		if !ok {
			return nil, requestError("Invalid payload")
		}
		t = v
		if dev, ok := m["device"]; ok {
			data["device"] = dev
		}
	default:
		v, ok := toNumber(m)
		if !ok {
			return nil, requestError("Invalid payload")
		}
		t = v
	}
	if t > 254 {
		return nil, requestError("Cannot permit join for more than 254 seconds.")
	}
	if t < 0 {
		return nil, requestError("Invalid payload")
	}
	data["time"] = t
	e.permitJoinGen++
	if t == 0 {
		e.permitJoinEnd = 0
	} else {
		d := time.Duration(t * float64(time.Second))
		e.permitJoinEnd = time.Now().Add(d).UnixMilli()
		gen := e.permitJoinGen
		e.after(d, func() {
			if gen == e.permitJoinGen {
				e.permitJoinEnd = 0
				e.publishInfo()
			}
		})
	}
	e.publishInfo()
	return data, nil
}

func (e *engine) reqDeviceRename(message any) (any, error) {
	m, ok := message.(map[string]any)
	if !ok {
		return nil, requestError("Invalid payload")
	}
	to, ok := m["to"].(string)
	if !ok {
		return nil, requestError("Invalid payload")
	}
	to = strings.TrimSpace(to)
	from, _ := strField(m, "from")
	if last, _ := m["last"].(bool); last {
		return nil, requestError("No device has joined since start")
	}
	d := e.deviceByName(from)
	if d == nil {
		return nil, requestError(fmt.Sprintf("Device '%s' does not exist", from))
	}
	if err := validateFriendlyName(to); err != nil {
		return nil, err
	}
	if to != d.name && e.nameInUse(to, d) {
		return nil, requestError(fmt.Sprintf("friendly_name '%s' is already in use", to))
	}
	old := d.name
	d.name = to
	e.publish(old, 0, true, []byte{})
	e.publish(old+"/availability", 1, true, []byte{})
	e.publishDeviceAvailability(d)
	e.publishInfo()
	e.publishDevices()
	if len(d.state) > 0 {
		e.publishDeviceState(d)
	}
	ha, _ := m["homeassistant_rename"].(bool)
	return map[string]any{"from": old, "to": to, "homeassistant_rename": ha}, nil
}

func (e *engine) reqDeviceRemove(message any) (any, error) {
	id, ok := message.(string)
	if !ok {
		id, ok = strField(message, "id")
	}
	if !ok {
		return nil, requestError("Invalid payload")
	}
	d := e.deviceByName(id)
	if d == nil || d.coordinator {
		return nil, requestError(fmt.Sprintf("Device '%s' does not exist", id))
	}
	m, _ := message.(map[string]any)
	block, _ := m["block"].(bool)
	force, _ := m["force"].(bool)
	d.motionGen++
	for i, x := range e.devices {
		if x == d {
			e.devices = append(e.devices[:i], e.devices[i+1:]...)
			break
		}
	}
	for _, g := range e.groups {
		kept := g.members[:0]
		for _, mb := range g.members {
			if mb.ieee != d.ieee {
				kept = append(kept, mb)
			}
		}
		g.members = kept
	}
	e.publish(d.name, 0, true, []byte{})
	e.publishGroups()
	e.publishDevices()
	return map[string]any{"id": id, "block": block, "force": force}, nil
}

func (e *engine) reqGroupAdd(message any) (any, error) {
	name, ok := message.(string)
	var id int
	if !ok {
		if name, ok = strField(message, "friendly_name"); !ok {
			return nil, requestError("Invalid payload")
		}
		if v, ok := toNumber(message.(map[string]any)["id"]); ok {
			id = int(v)
		}
	}
	if err := validateFriendlyName(name); err != nil {
		return nil, err
	}
	if e.nameInUse(name, nil) {
		return nil, requestError(fmt.Sprintf("friendly_name '%s' is already in use", name))
	}
	used := map[int]bool{}
	for _, g := range e.groups {
		used[g.id] = true
	}
	if id != 0 && used[id] {
		return nil, requestError(fmt.Sprintf("Group ID '%d' is already in use", id))
	}
	for id == 0 || used[id] {
		id++
	}
	g := &group{id: id, name: name, raw: map[string]any{}, state: map[string]any{}}
	e.groups = append(e.groups, g)
	sort.SliceStable(e.groups, func(i, j int) bool { return e.groups[i].id < e.groups[j].id })
	e.publishGroups()
	return map[string]any{"friendly_name": name, "id": id}, nil
}

func (e *engine) lookupGroup(message any, key string) (*group, string, error) {
	id, ok := message.(string)
	if !ok {
		id, ok = strField(message, key)
	}
	if !ok {
		return nil, "", requestError("Invalid payload")
	}
	g := e.groupByName(id)
	if g == nil {
		return nil, id, requestError(fmt.Sprintf("Group '%s' does not exist", id))
	}
	return g, id, nil
}

func (e *engine) reqGroupRemove(message any) (any, error) {
	g, id, err := e.lookupGroup(message, "id")
	if err != nil {
		return nil, err
	}
	for i, x := range e.groups {
		if x == g {
			e.groups = append(e.groups[:i], e.groups[i+1:]...)
			break
		}
	}
	for _, d := range e.devices {
		for k := range d.scenes {
			if k.group == g.id {
				delete(d.scenes, k)
			}
		}
	}
	e.publish(g.name, 0, true, []byte{})
	e.publishGroups()
	m, _ := message.(map[string]any)
	force, _ := m["force"].(bool)
	return map[string]any{"id": id, "force": force}, nil
}

func (e *engine) reqGroupRename(message any) (any, error) {
	g, from, err := e.lookupGroup(message, "from")
	if err != nil {
		return nil, err
	}
	to, _ := strField(message, "to")
	to = strings.TrimSpace(to)
	if err := validateFriendlyName(to); err != nil {
		return nil, err
	}
	if to != g.name && e.nameInUse(to, g) {
		return nil, requestError(fmt.Sprintf("friendly_name '%s' is already in use", to))
	}
	g.name = to
	e.publishGroups()
	e.publishInfo()
	m, _ := message.(map[string]any)
	ha, _ := m["homeassistant_rename"].(bool)
	return map[string]any{"from": from, "to": to, "homeassistant_rename": ha}, nil
}

func (e *engine) reqGroupMembers(message any, add bool) (any, error) {
	m, ok := message.(map[string]any)
	if !ok {
		return nil, requestError("Invalid payload")
	}
	gname, _ := strField(m, "group")
	dname, _ := strField(m, "device")
	g := e.groupByName(gname)
	if g == nil {
		return nil, requestError(fmt.Sprintf("Group '%s' does not exist", gname))
	}
	d := e.deviceByName(dname)
	if d == nil {
		return nil, requestError(fmt.Sprintf("Device '%s' does not exist", dname))
	}
	ep := d.defaultEndpoint()
	var epOut any = "default"
	if v, ok := m["endpoint"]; ok && v != nil {
		n, ok := d.resolveEndpoint(jsPlain(v))
		if !ok {
			return nil, requestError(fmt.Sprintf("Device '%s' does not have endpoint '%s'", dname, jsPlain(v)))
		}
		ep, epOut = n, v
	}
	if add {
		if !g.hasMember(d.ieee, ep) {
			g.members = append(g.members, member{ieee: d.ieee, ep: ep})
		}
	} else {
		kept := g.members[:0]
		for _, mb := range g.members {
			if mb.ieee != d.ieee || mb.ep != ep {
				kept = append(kept, mb)
			}
		}
		g.members = kept
	}
	// The response precedes bridge/groups here.
	e.respond(map[bool]string{true: "group/members/add", false: "group/members/remove"}[add], message,
		map[string]any{"device": dname, "endpoint": epOut, "group": gname}, nil)
	e.publishGroups()
	e.publishGroupAvailability(g, false)
	return nil, nil
}
