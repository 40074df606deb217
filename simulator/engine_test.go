package simulator

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const base = "zigbee2mqtt/"

func TestStartupSequence(t *testing.T) {
	h := newHarness(t, fastConfig())
	ms := h.out.all()
	require.GreaterOrEqual(t, len(ms), 5)
	// bridge/state online first (after the connect log line), retained QoS 1.
	var order []string
	for _, m := range ms {
		if strings.HasPrefix(m.Topic, base+"bridge/") && m.Topic != base+"bridge/logging" {
			order = append(order, strings.TrimPrefix(m.Topic, base))
			require.True(t, m.Retained, m.Topic)
		}
	}
	require.Equal(t, []string{"bridge/state", "bridge/info", "bridge/devices", "bridge/groups"}, order)
	require.Equal(t, rec{base + "bridge/state", 1, true, `{"state":"online"}`}, ms[1])
	last := ms[len(ms)-1]
	require.Equal(t, base+"bridge/logging", last.Topic)
	require.JSONEq(t, `{"level":"info","message":"z2m: Zigbee2MQTT started!"}`, last.Payload)

	// Availability (retained, QoS 1) comes before any device state; states
	// are not retained.
	firstState := -1
	for i, m := range ms {
		switch {
		case strings.HasSuffix(m.Topic, "/availability"):
			require.True(t, m.Retained)
			require.EqualValues(t, 1, m.QoS)
			require.Equal(t, -1, firstState, "availability after a state: %s", m.Topic)
		case m.Topic == base+"front_door/lock":
			firstState = i
			require.False(t, m.Retained)
			require.JSONEq(t, `{"auto_relock_time":0,"battery":100,"linkquality":`+jsonNumber(decode(t, m.Payload), "linkquality")+`,"lock_state":"locked","sound_volume":"silent_mode","state":"LOCK"}`, m.Payload)
		}
	}
	// bridge/devices includes the coordinator and keys are sorted compactly.
	for _, m := range ms {
		if m.Topic == base+"bridge/devices" {
			require.Contains(t, m.Payload, `"friendly_name":"Coordinator"`)
			require.True(t, strings.HasPrefix(m.Payload, `[{"disabled":false,`), m.Payload[:80])
		}
		if m.Topic == base+"bridge/info" {
			info := decode(t, m.Payload).(map[string]any)
			require.Equal(t, false, info["permit_join"])
			cfg := info["config"].(map[string]any)
			require.Equal(t, true, cfg["availability"].(map[string]any)["enabled"])
			require.Equal(t, true, cfg["advanced"].(map[string]any)["cache_state"])
			require.Equal(t, "disable", cfg["advanced"].(map[string]any)["last_seen"])
		}
	}
}

func jsonNumber(v any, key string) string { return string(marshal(v.(map[string]any)[key])) }

func TestSampleHomeInitialStates(t *testing.T) {
	h := newHarness(t, fastConfig())
	ceiling := h.e.stateOf("lounge/ceiling")
	require.Equal(t, "OFF", ceiling["state"])
	require.EqualValues(t, 254, ceiling["brightness"])
	require.EqualValues(t, "color_temp", ceiling["color_mode"])
	require.Contains(t, ceiling, "color_temp")
	blind := h.e.stateOf("lounge/blind")
	require.EqualValues(t, 100, blind["position"])
	require.Equal(t, "OPEN", blind["state"])
	trv := h.e.stateOf("lounge/radiator")
	require.EqualValues(t, 20, trv["occupied_heating_setpoint"])
	require.EqualValues(t, 21.3, trv["local_temperature"])
	require.Len(t, h.e.deviceNames(), 18)
}

func TestSetEchoFullState(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"lounge/ceiling/set", `{"state":"ON","brightness":128,"color_temp":"warmest","transition":1}`)
	st := h.waitMsg(from, base+"lounge/ceiling", nil)
	require.Equal(t, "ON", st["state"])
	require.EqualValues(t, 128, st["brightness"])
	require.EqualValues(t, 454, st["color_temp"]) // warmest = top of range
	require.Equal(t, "color_temp", st["color_mode"])
	require.Contains(t, st, "power_on_behavior", "full cached state")
	require.NotContains(t, st, "transition")
	// Group propagation: lounge has the ceiling as a member.
	g := h.waitMsg(from, base+"lounge", nil)
	require.Equal(t, map[string]any{"brightness": 128.0, "color_mode": "color_temp", "color_temp": 454.0, "state": "ON"}, g)
	h.settle()
	n := 0
	for _, m := range h.out.since(from) {
		if m.Topic == base+"lounge/ceiling" {
			n++
		}
	}
	require.Equal(t, 1, n, "exactly one optimistic publish")
}

func TestLightSemantics(t *testing.T) {
	h := newHarness(t, fastConfig())
	set := func(payload string) map[string]any {
		from := h.mark()
		h.send(base+"lounge/reading_lamp/set", payload)
		return h.waitMsg(from, base+"lounge/reading_lamp", nil)
	}
	require.EqualValues(t, 254, set(`{"brightness":255}`)["brightness"])
	st := set(`{"brightness":0}`)
	require.Equal(t, "OFF", st["state"])
	set(`{"brightness":100}`)
	st = set(`{"state":"off"}`)
	require.Equal(t, "OFF", st["state"])
	require.EqualValues(t, 100, st["brightness"], "OFF keeps the cached brightness")
	require.Equal(t, "ON", set(`{"state":"TOGGLE"}`)["state"])
	require.Equal(t, "OFF", set(`{"state":"toggle"}`)["state"])
	require.EqualValues(t, 153, set(`{"color_temp":1}`)["color_temp"], "clamped to the device range")
	st = set(`{"color":{"hex":"#FF0000"}}`)
	require.Equal(t, "xy", st["color_mode"])
	col := st["color"].(map[string]any)
	require.InDelta(t, 0.70, col["x"], 0.02)
	st = set(`{"color":"#0000ff"}`)
	require.InDelta(t, 0.14, st["color"].(map[string]any)["x"], 0.03)
	st = set(`{"color":{"r":0,"g":255,"b":0}}`)
	require.Equal(t, "xy", st["color_mode"])
	st = set(`{"color":{"hue":120,"saturation":100}}`)
	require.Equal(t, "hs", st["color_mode"], "the Hue lamp supports HS")
	st = set(`{"color_temp":"neutral"}`)
	require.EqualValues(t, 370, st["color_temp"])
	require.Equal(t, "color_temp", st["color_mode"])
	set(`{"state":"ON","brightness":100}`)
	require.EqualValues(t, 150, set(`{"brightness_step":50}`)["brightness"])
	st = set(`{"brightness_step_onoff":-254}`)
	require.Equal(t, "OFF", st["state"])
	// Plain-string bodies.
	require.Equal(t, "ON", set(`on`)["state"])
	// /set/<attr> with a JSON and a bare value.
	from := h.mark()
	h.send(base+"lounge/reading_lamp/set/brightness", `42`)
	require.EqualValues(t, 42, h.waitMsg(from, base+"lounge/reading_lamp", nil)["brightness"])
	from = h.mark()
	h.send(base+"lounge/reading_lamp/set/state", `OFF`)
	require.Equal(t, "OFF", h.waitMsg(from, base+"lounge/reading_lamp", nil)["state"])
}

func TestInvalidValues(t *testing.T) {
	h := newHarness(t, fastConfig())
	cases := []struct{ topic, payload, want string }{
		{"lounge/ceiling/set", `{"brightness":300}`, `z2m: Publish 'set' 'brightness' to 'lounge/ceiling' failed: 'Error: Brightness value of message: '{"brightness":300}' invalid, must be a number >= 0 and =< 254'`},
		{"lounge/ceiling/set", `{"state":"BLAH"}`, `z2m: Publish 'set' 'state' to 'lounge/ceiling' failed: 'Error: State value of message: '{"state":"BLAH"}' invalid, must be 'ON', 'OFF' or 'TOGGLE''`},
		{"office/plug/set", `{"state":"blah"}`, `z2m: Publish 'set' 'state' to 'office/plug' failed: 'Error: 'blah' not allowed, choose between: toggle,off,on'`},
		{"lounge/radiator/set", `{"occupied_heating_setpoint":"abc"}`, `z2m: Publish 'set' 'occupied_heating_setpoint' to 'lounge/radiator' failed: 'Error: 'occupied_heating_setpoint' is not a number, got string (abc)'`},
		{"lounge/reading_lamp/set", `{"color":"nope"}`, `z2m: Publish 'set' 'color' to 'lounge/reading_lamp' failed: 'Error: Value does not contain valid color definition'`},
		{"hall/thermostat/set", `{"system_mode":"warp"}`, `z2m: Publish 'set' 'system_mode' to 'hall/thermostat' failed: 'Error: 'warp' not allowed, choose between: off,heat,cool'`},
		{"lounge/ceiling/set", `{"foo":1}`, `z2m: No converter available for 'foo' on 'lounge/ceiling': (1)`},
		{"lounge/ceiling/set", `{"linkquality":1}`, `z2m: No converter available for 'linkquality' on 'lounge/ceiling': (1)`},
		{"nosuch/set", `{"state":"ON"}`, `z2m: Entity 'nosuch' is unknown`},
		{"hall/switch/middle/set", `{"state":"ON"}`, `z2m: Device 'hall/switch' has no endpoint 'middle'`},
		{"lounge/ceiling/set", `blah`, `z2m: Invalid message 'undefined', skipping...`},
		{"lounge/ceiling/get", `{"effect":""}`, `z2m: No converter available for 'get' 'effect' ()`},
	}
	for _, c := range cases {
		from := h.mark()
		h.send(base+c.topic, c.payload)
		msg := h.waitLog(from, "z2m: ")
		require.Equal(t, c.want, msg, c.topic+" "+c.payload)
		from = h.settle()
		for _, m := range h.out.since(from) {
			require.Equal(t, base+"test/marker", m.Topic, "nothing else published for %s", c.payload)
		}
	}
}

func TestInvalidKeyDoesNotStopValidOnes(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"lounge/ceiling/set", `{"foo":"bar","state":"ON"}`)
	require.Equal(t, `z2m: No converter available for 'foo' on 'lounge/ceiling': ("bar")`, h.waitLog(from, "No converter"))
	st := h.waitMsg(from, base+"lounge/ceiling", nil)
	require.Equal(t, "ON", st["state"])
	require.NotContains(t, st, "foo")
}

func TestWriteOnlyNotEchoed(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"lounge/ceiling/set", `{"effect":"blink","identify":"identify"}`)
	h.settle()
	for _, m := range h.out.since(from) {
		require.NotEqual(t, base+"lounge/ceiling", m.Topic)
		require.NotEqual(t, base+"bridge/logging", m.Topic, m.Payload)
	}
}

func TestOfflineDevice(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	require.NoError(t, h.e.setOffline("office/plug", true))
	require.Equal(t, map[string]any{"state": "offline"}, h.waitMsg(from, base+"office/plug/availability", nil))

	from = h.mark()
	h.send(base+"office/plug/set", `{"state":"ON"}`)
	msg := h.waitLog(from, "failed")
	require.Regexp(t, `^z2m: Publish 'set' 'state' to 'office/plug' failed: 'Error: ZCL command 0x00124b0024a10011/1 genOnOff\.on\(\{\}, \{"timeout":10000,.*\}\) failed \(Timeout - 3539 - 1 - \d+ - 6 - 1 after 10000ms\)'$`, msg)
	h.settle()
	errors := 0
	for _, m := range h.out.since(from) {
		require.NotEqual(t, base+"office/plug", m.Topic, "no state for an unreachable device")
		if m.Topic == base+"bridge/logging" {
			errors++
		}
	}
	require.Equal(t, 1, errors)
	require.Equal(t, "OFF", h.e.stateOf("office/plug")["state"], "cache unchanged")

	from = h.mark()
	require.NoError(t, h.e.setOffline("office/plug", false))
	require.Equal(t, map[string]any{"state": "online"}, h.waitMsg(from, base+"office/plug/availability", nil))
	h.send(base+"office/plug/set", `{"state":"ON"}`)
	require.Equal(t, "ON", h.waitMsg(from, base+"office/plug", nil)["state"])
}

func TestGroupAvailabilityFollowsMembers(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	require.NoError(t, h.e.setOffline("bedroom/bedside_left", true))
	h.waitMsg(from, base+"bedroom/bedside_left/availability", nil)
	require.NoError(t, h.e.setOffline("bedroom/bedside_right", true))
	require.Equal(t, map[string]any{"state": "offline"}, h.waitMsg(from, base+"bedroom_lights/availability", nil))
}

func TestDropDevice(t *testing.T) {
	cfg := fastConfig()
	cfg.Drop = []string{"office/plug"}
	h := newHarness(t, cfg)
	from := h.mark()
	h.send(base+"office/plug/set", `{"state":"ON"}`)
	h.settle()
	require.Equal(t, []string{base + "test/marker"}, topicsAll(h.out.since(from)))
	require.NoError(t, h.e.setDrop("office/plug", false))
	h.send(base+"office/plug/set", `{"state":"ON"}`)
	require.Equal(t, "ON", h.waitMsg(from, base+"office/plug", nil)["state"])
}

func topicsAll(ms []rec) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Topic)
	}
	return out
}

func TestUnknownFaultNames(t *testing.T) {
	cfg := fastConfig()
	cfg.Offline = []string{"nope"}
	_, err := newCore(cfg, &recorder{})
	require.ErrorIs(t, err, ErrUnknownDevice)
	require.Contains(t, err.Error(), "lounge/ceiling")
}

func TestGroupSet(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"bedroom_lights/set", `{"state":"ON","brightness":50}`)
	require.Equal(t, map[string]any{"brightness": 50.0, "state": "ON"}, h.waitMsg(from, base+"bedroom_lights", nil))
	for _, name := range []string{"bedroom/bedside_left", "bedroom/bedside_right"} {
		st := h.waitMsg(from, base+name, nil)
		require.Equal(t, "ON", st["state"])
		require.EqualValues(t, 50, st["brightness"])
		require.Contains(t, st, "power_on_behavior")
	}
	// color_temp only reaches members that support it.
	from = h.mark()
	h.send(base+"lounge/set", `{"color_temp":300}`)
	require.EqualValues(t, 300, h.waitMsg(from, base+"lounge", nil)["color_temp"])
	require.EqualValues(t, 300, h.waitMsg(from, base+"lounge/ceiling", nil)["color_temp"])
}

func TestEmptyGroup(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"bridge/request/group/add", `{"friendly_name":"empty","transaction":1}`)
	resp := h.waitMsg(from, base+"bridge/response/group/add", nil)
	require.Equal(t, "ok", resp["status"])
	h.send(base+"empty/set", `{"state":"ON"}`)
	require.Equal(t, `z2m: No converter available for 'state' on 'empty': ("ON")`, h.waitLog(from, "No converter"))
}

func TestEndpointForms(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"hall/switch/left/set", `{"state":"ON"}`)
	st := h.waitMsg(from, base+"hall/switch", nil)
	require.Equal(t, "ON", st["state_left"])
	require.Equal(t, "OFF", st["state_right"])
	from = h.mark()
	h.send(base+"hall/switch/set", `{"state_right":"ON"}`)
	st = h.waitMsg(from, base+"hall/switch", nil)
	require.Equal(t, "ON", st["state_right"])
	from = h.mark()
	h.send(base+"hall/switch/2/set/state", `OFF`)
	require.Equal(t, "OFF", h.waitMsg(from, base+"hall/switch", nil)["state_right"])
	// Numeric endpoint of a single-endpoint device.
	from = h.mark()
	h.send(base+"lounge/reading_lamp/11/set", `{"state":"ON"}`)
	require.Equal(t, "ON", h.waitMsg(from, base+"lounge/reading_lamp", nil)["state"])
}

func TestNamesWithDots(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"garden/string.lights/set", `{"state":"ON"}`)
	require.Equal(t, "ON", h.waitMsg(from, base+"garden/string.lights", nil)["state"])
	// By IEEE address too.
	from = h.mark()
	h.send(base+"0x00124b0024a10012/set", `{"state":"OFF"}`)
	require.Equal(t, "OFF", h.waitMsg(from, base+"garden/string.lights", nil)["state"])
}

func TestGet(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"office/plug/get", `{"state":""}`)
	st := h.waitMsg(from, base+"office/plug", nil)
	require.Equal(t, "OFF", st["state"])
}

func TestCoverMotion(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"lounge/blind/set", `{"state":"CLOSE"}`)
	final := h.waitMsg(from, base+"lounge/blind", func(m map[string]any) bool { return m["position"] == 0.0 })
	require.Equal(t, "CLOSE", final["state"])
	var positions []float64
	for _, m := range h.out.since(from) {
		if m.Topic == base+"lounge/blind" {
			st := decode(t, m.Payload).(map[string]any)
			positions = append(positions, st["position"].(float64))
			if st["position"].(float64) > 0 {
				require.Equal(t, "OPEN", st["state"])
			}
		}
	}
	require.Greater(t, len(positions), 2, "several steps: %v", positions)
	for i := 1; i < len(positions); i++ {
		require.Less(t, positions[i], positions[i-1])
	}
	// Position is echoed.
	from = h.mark()
	h.send(base+"lounge/blind/set", `{"position":40}`)
	require.EqualValues(t, 40, h.waitMsg(from, base+"lounge/blind", nil)["position"])
	require.Equal(t, "OPEN", h.waitMsg(from, base+"lounge/blind", func(m map[string]any) bool { return m["state"] == "OPEN" })["state"])
}

func TestCoverStop(t *testing.T) {
	cfg := fastConfig()
	cfg.CoverSpeed = 1
	h := newHarness(t, cfg)
	from := h.mark()
	h.send(base+"lounge/blind/set", `{"state":"CLOSE"}`)
	h.waitMsg(from, base+"lounge/blind", func(m map[string]any) bool { return m["position"].(float64) < 100 })
	h.send(base+"lounge/blind/set", `{"state":"STOP"}`)
	h.settle()
	pos := h.e.stateOf("lounge/blind")["position"].(float64)
	require.Greater(t, pos, 0.0, "stopped before closing")
}

func TestLockReport(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"front_door/lock/set", `{"state":"UNLOCK"}`)
	st := h.waitMsg(from, base+"front_door/lock", nil)
	require.Equal(t, "UNLOCK", st["state"])
	require.Equal(t, "unlocked", st["lock_state"])
	from = h.mark()
	h.send(base+"front_door/lock/set", `lock`)
	st = h.waitMsg(from, base+"front_door/lock", nil)
	require.Equal(t, "LOCK", st["state"])
	require.Equal(t, "locked", st["lock_state"])
	from = h.mark()
	h.send(base+"front_door/lock/set", `{"state":"open_sesame"}`)
	require.Contains(t, h.waitLog(from, "failed"), "'open_sesame' not allowed, choose between: lock,unlock,toggle")
}

func TestScenes(t *testing.T) {
	h := newHarness(t, fastConfig())
	groupScenes := func(from int, group string) []any {
		m := h.out.since(from)
		for i := len(m) - 1; i >= 0; i-- {
			if m[i].Topic == base+"bridge/groups" {
				for _, g := range decode(t, m[i].Payload).([]any) {
					if g.(map[string]any)["friendly_name"] == group {
						return g.(map[string]any)["scenes"].([]any)
					}
				}
			}
		}
		t.Fatalf("no bridge/groups")
		return nil
	}
	// Store: bridge/devices then bridge/groups are republished.
	from := h.mark()
	h.send(base+"bedroom_lights/set", `{"state":"ON","brightness":77}`)
	h.waitMsg(from, base+"bedroom_lights", nil)
	from = h.mark()
	h.send(base+"bedroom_lights/set", `{"scene_store":{"ID":2,"name":"Night"}}`)
	h.waitMsg(from, base+"bridge/groups", nil)
	require.Equal(t, []string{base + "bridge/logging", base + "bridge/devices", base + "bridge/groups"}, topicsAll(h.out.since(from)))
	require.Equal(t, []any{map[string]any{"id": 2.0, "name": "Night"}}, groupScenes(from, "bedroom_lights"))

	// Recall restores the stored state on every member.
	from = h.mark()
	h.send(base+"bedroom_lights/set", `{"state":"OFF"}`)
	h.waitMsg(from, base+"bedroom/bedside_left", func(m map[string]any) bool { return m["state"] == "OFF" })
	from = h.mark()
	h.send(base+"bedroom_lights/set", `{"scene_recall":2}`)
	st := h.waitMsg(from, base+"bedroom/bedside_right", nil)
	require.Equal(t, "ON", st["state"])
	require.EqualValues(t, 77, st["brightness"])

	// Unnamed scene lists as "Scene <id>"; rename; remove.
	from = h.mark()
	h.send(base+"bedroom_lights/set", `{"scene_store":5}`)
	h.waitMsg(from, base+"bridge/groups", nil)
	require.Contains(t, groupScenes(from, "bedroom_lights"), map[string]any{"id": 5.0, "name": "Scene 5"})
	from = h.mark()
	h.send(base+"bedroom_lights/set", `{"scene_rename":{"ID":5,"name":"Reading"}}`)
	h.waitMsg(from, base+"bridge/groups", nil)
	require.Contains(t, groupScenes(from, "bedroom_lights"), map[string]any{"id": 5.0, "name": "Reading"})
	from = h.mark()
	h.send(base+"bedroom_lights/set", `{"scene_remove":2}`)
	h.waitMsg(from, base+"bridge/groups", nil)
	require.Equal(t, []any{map[string]any{"id": 5.0, "name": "Reading"}}, groupScenes(from, "bedroom_lights"))
	from = h.mark()
	h.send(base+"bedroom_lights/set", `{"scene_remove_all":""}`)
	h.waitMsg(from, base+"bridge/groups", nil)
	require.Empty(t, groupScenes(from, "bedroom_lights"))

	// Errors.
	from = h.mark()
	h.send(base+"bedroom_lights/set", `{"scene_rename":{"ID":9,"name":"x"}}`)
	require.Equal(t, "z2m: Publish 'set' 'scene_rename' to 'bedroom_lights' failed: 'Error: No such scene in device meta data'", h.waitLog(from, "scene_rename"))
	from = h.mark()
	h.send(base+"lounge/ceiling/set", `{"scene_store":0}`)
	require.Equal(t, "z2m: Publish 'set' 'scene_store' to 'lounge/ceiling' failed: 'Error: Scene ID 0 cannot be used with group ID 0 (reserved).'", h.waitLog(from, "scene_store"))

	// Device scenes are listed on the endpoint in bridge/devices.
	from = h.mark()
	h.send(base+"lounge/ceiling/set", `{"scene_add":{"ID":3,"name":"Bright","state":"ON","brightness":254}}`)
	h.waitMsg(from, base+"bridge/devices", nil)
	h.settle()
	var found bool
	for _, m := range h.out.since(from) {
		if m.Topic == base+"bridge/devices" {
			found = strings.Contains(m.Payload, `"scenes":[{"id":3,"name":"Bright"}]`)
		}
	}
	require.True(t, found)
	from = h.mark()
	h.send(base+"lounge/ceiling/set", `{"scene_recall":3}`)
	require.EqualValues(t, 254, h.waitMsg(from, base+"lounge/ceiling", nil)["brightness"])
}
