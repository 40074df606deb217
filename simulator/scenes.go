package simulator

import "fmt"

type sceneKey struct{ ep, group, id int }

type storedScene struct {
	name  string
	state map[string]any
}

var sceneStateKeys = []string{"state", "brightness", "color", "color_temp", "color_mode"}

type sceneArg struct {
	id       int
	name     string
	hasName  bool
	groupID  int
	hasGroup bool
	obj      map[string]any
}

func parseSceneArg(v any) (sceneArg, string) {
	var a sceneArg
	if m, ok := v.(map[string]any); ok {
		a.obj = m
		n, ok := num(m["ID"])
		if !ok {
			return a, notANumber("ID", m["ID"])
		}
		a.id = int(n)
		a.name, a.hasName = m["name"].(string)
		if g, ok := num(m["group_id"]); ok {
			a.groupID, a.hasGroup = int(g), true
		}
	} else {
		n, ok := toNumber(v)
		if !ok {
			return a, notANumber("ID", v)
		}
		a.id = int(n)
	}
	if a.id < 0 || a.id > 255 {
		return a, fmt.Sprintf("Scene ID must be between 0 and 255, got %d", a.id)
	}
	return a, ""
}

// sceneStateOf captures what scene_store records from a member endpoint.
// sceneAddition returns the explicit state of a scene_add (nil for a
// scene_store), or Zigbee2MQTT's error text.
func sceneAddition(key string, a sceneArg) (map[string]any, string) {
	if key != "scene_add" {
		return nil, ""
	}
	if a.obj == nil {
		return nil, "Invalid payload"
	}
	return sceneAddState(a.obj)
}

// storeScene stores a scene on one device endpoint: the explicit state of a
// scene_add, or the device's current state for scene_store. A store without
// a name keeps the name the scene had.
func storeScene(d *device, key sceneKey, a sceneArg, added map[string]any) {
	st := added
	if st == nil {
		st = sceneStateOf(d, key.ep)
	}
	s := &storedScene{name: a.name, state: cloneMap(st)}
	if old, ok := d.scenes[key]; ok && !a.hasName {
		s.name = old.name
	}
	d.scenes[key] = s
}

func sceneStateOf(d *device, ep int) map[string]any {
	sfx := ""
	if n := d.endpointName(ep); n != "" {
		if _, ok := d.state["state_"+n]; ok {
			sfx = "_" + n
		}
	}
	out := map[string]any{}
	for _, k := range sceneStateKeys {
		if v, ok := d.state[k+sfx]; ok {
			out[k] = cloneValue(v)
		}
	}
	return out
}

func suffixState(d *device, ep int, st map[string]any) map[string]any {
	sfx := ""
	if n := d.endpointName(ep); n != "" {
		if _, ok := d.props["state_"+n]; ok {
			sfx = "_" + n
		}
	}
	out := map[string]any{}
	for k, v := range st {
		out[k+sfx] = cloneValue(v)
	}
	return out
}

// sceneAddState is the state a scene_add defines.
func sceneAddState(m map[string]any) (map[string]any, string) {
	st := map[string]any{}
	if _, ok := m["color_temp"]; ok {
		if _, ok := m["color"]; ok {
			return nil, "Don't specify both 'color_temp' and 'color'"
		}
	}
	for _, k := range []string{"state", "brightness", "position"} {
		if v, ok := m[k]; ok {
			st[k] = cloneValue(v)
		}
	}
	if v, ok := m["color_temp"]; ok {
		st["color_temp"], st["color_mode"] = cloneValue(v), "color_temp"
	}
	if v, ok := m["color"]; ok {
		pc, ok := parseColor(v)
		if !ok {
			return nil, "Value does not contain valid color definition"
		}
		if pc.hs {
			st["color"], st["color_mode"] = map[string]any{"hue": pc.hue, "saturation": pc.sat}, "hs"
		} else {
			st["color"], st["color_mode"] = map[string]any{"x": pc.x, "y": pc.y}, "xy"
		}
	}
	return st, ""
}

func (e *engine) sceneLog(msg string) { e.logMessage("info", "zhc:tz: "+msg) }

func scenesCommand(name string, id, cmd, groupID int) zclCommand {
	return zclCommand{cluster: "genScenes", clusterID: 5, command: name, commandID: cmd, payload: map[string]any{"groupid": groupID, "sceneid": id}}
}

// deviceSceneOp handles a scene key sent to a device endpoint.
func (e *engine) deviceSceneOp(d *device, ep int, kv orderedKV) (*op, string) {
	republish := &op{local: true, scene: true}
	switch kv.Key {
	case "scene_store", "scene_add":
		a, errMsg := parseSceneArg(kv.Value)
		if errMsg != "" {
			return republish, errMsg
		}
		if a.id == 0 && a.groupID == 0 {
			return republish, "Scene ID 0 cannot be used with group ID 0 (reserved)."
		}
		added, errMsg := sceneAddition(kv.Key, a)
		if errMsg != "" {
			return republish, errMsg
		}
		key := sceneKey{ep: ep, group: a.groupID, id: a.id}
		cmd := scenesCommand("store", a.id, 4, a.groupID)
		if added != nil {
			cmd = scenesCommand("add", a.id, 0, a.groupID)
		}
		return &op{zcl: cmd, scene: true, post: func() {
			storeScene(d, key, a, added)
			if added != nil {
				e.sceneLog("Successfully added scene")
			} else {
				e.sceneLog("Successfully stored scene")
			}
		}}, ""
	case "scene_recall":
		a, errMsg := parseSceneArg(kv.Value)
		if errMsg != "" {
			return nil, errMsg
		}
		key := sceneKey{ep: ep, group: a.groupID, id: a.id}
		return &op{
			zcl: scenesCommand("recall", a.id, 5, a.groupID),
			apply: func(map[string]any) map[string]any {
				if s, ok := d.scenes[key]; ok {
					return suffixState(d, ep, s.state)
				}
				return nil
			},
			post: func() { e.sceneLog("Successfully recalled scene") },
		}, ""
	case "scene_remove":
		a, errMsg := parseSceneArg(kv.Value)
		if errMsg != "" {
			return republish, errMsg
		}
		key := sceneKey{ep: ep, group: a.groupID, id: a.id}
		return &op{zcl: scenesCommand("remove", a.id, 2, a.groupID), scene: true, post: func() {
			delete(d.scenes, key)
			e.sceneLog("Successfully removed scene")
		}}, ""
	case "scene_remove_all":
		return &op{zcl: scenesCommand("removeAll", 0, 3, 0), scene: true, post: func() {
			for k := range d.scenes {
				if k.ep == ep && k.group == 0 {
					delete(d.scenes, k)
				}
			}
			e.sceneLog("Successfully removed all scenes")
		}}, ""
	case "scene_rename":
		a, errMsg := parseSceneArg(kv.Value)
		if errMsg != "" {
			return republish, errMsg
		}
		key := sceneKey{ep: ep, group: a.groupID, id: a.id}
		if _, ok := d.scenes[key]; !ok {
			return republish, "No such scene in device meta data"
		}
		return &op{local: true, scene: true, post: func() {
			if s, ok := d.scenes[key]; ok {
				s.name = a.name
			}
		}}, ""
	}
	return nil, ""
}

// groupSceneOp handles a scene key sent to a group: every member endpoint
// acts on the scene stored under the group's ID.
func (e *engine) groupSceneOp(g *group, kv orderedKV) (*op, string) {
	republish := &op{local: true, scene: true}
	var a sceneArg
	if kv.Key != "scene_remove_all" {
		var errMsg string
		if a, errMsg = parseSceneArg(kv.Value); errMsg != "" {
			if kv.Key == "scene_recall" {
				return nil, errMsg
			}
			return republish, errMsg
		}
	}
	each := func(f func(d *device, k sceneKey)) {
		for _, m := range g.members {
			f(e.deviceByIEEE(m.ieee), sceneKey{ep: m.ep, group: g.id, id: a.id})
		}
	}
	switch kv.Key {
	case "scene_store", "scene_add":
		added, errMsg := sceneAddition(kv.Key, a)
		if errMsg != "" {
			return republish, errMsg
		}
		return &op{scene: true, post: func() {
			each(func(d *device, k sceneKey) { storeScene(d, k, a, added) })
			if added != nil {
				e.sceneLog("Successfully added group scene")
			} else {
				e.sceneLog("Successfully stored scene")
			}
		}}, ""
	case "scene_recall":
		return &op{post: func() {
			e.sceneLog("Successfully recalled group scene")
			each(func(d *device, k sceneKey) {
				if s, ok := d.scenes[k]; ok {
					e.applyDeviceUpdate(d, suffixState(d, k.ep, s.state), true)
				}
			})
		}}, ""
	case "scene_remove":
		return &op{scene: true, post: func() {
			each(func(d *device, k sceneKey) { delete(d.scenes, k) })
			e.sceneLog("Successfully removed scene")
		}}, ""
	case "scene_remove_all":
		return &op{scene: true, post: func() {
			for _, m := range g.members {
				d := e.deviceByIEEE(m.ieee)
				for k := range d.scenes {
					if k.ep == m.ep && k.group == g.id {
						delete(d.scenes, k)
					}
				}
			}
			e.sceneLog("Successfully removed all scenes")
		}}, ""
	case "scene_rename":
		found := false
		each(func(d *device, k sceneKey) { _, ok := d.scenes[k]; found = found || ok })
		if !found {
			return republish, "No such scene in device meta data"
		}
		return &op{scene: true, post: func() {
			each(func(d *device, k sceneKey) {
				if s, ok := d.scenes[k]; ok {
					s.name = a.name
				}
			})
		}}, ""
	}
	return nil, ""
}
