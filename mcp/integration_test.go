package mcp_test

// Integration tests: a real MCP client (mcp-go's, in-process and over
// Streamable HTTP) against the z2m-mcp server, a real broker (mqtttest) and
// the simulated Zigbee2MQTT home. The stdio transport is tested against the
// built binary in cmd/z2m-mcp.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/devices"
	"github.com/z2m-mcp/z2m-mcp/mcp"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// near asserts a numeric state value within tol of want.
func near(t *testing.T, want float64, got any, tol float64, what string) {
	t.Helper()
	f, ok := got.(float64)
	require.True(t, ok, "%s: want a number, got %#v", what, got)
	require.InDelta(t, want, f, tol, what)
}

// waitAvailability waits until the model sees a device's availability.
func (e *env) waitAvailability(t *testing.T, name string, want devices.Availability) {
	t.Helper()
	d := e.model.Snapshot().Device(name)
	require.NotNil(t, d, name)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, e.model.WaitAvailability(ctx, d.IEEEAddress, want), "%s never became %s", name, want)
}

func TestStatuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{
		Sim: simulator.Config{UnreachableDelay: 200 * time.Millisecond},
		MCP: mcp.Config{Policy: mcp.Policy{AllowLocks: true}},
	})
	c := e.client(t)
	w := e.cmds
	w.take() // start-up noise, if any

	t.Run("confirmed light brightness", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "lounge/ceiling", "brightness": 50})
		require.False(t, res.IsError, text(res))
		require.Len(t, out.Results, 1)
		r := out.Results[0]
		require.Equal(t, "confirmed", r.Status, r.Reason)
		require.Equal(t, "lounge/ceiling", r.Target)
		require.Equal(t, "lounge/ceiling", r.Device)
		near(t, 127, r.Sent["brightness"], 1, "sent brightness")
		near(t, 127, r.State["brightness"], 1, "confirmed brightness")
		require.Equal(t, 1, r.Attempts)
		require.Contains(t, text(res), "confirmed")
		w.requireSent(t, "lounge/ceiling/set")
		near(t, 127, e.sim.State("lounge/ceiling")["brightness"], 1, "simulator brightness")
	})

	t.Run("confirmed case-insensitive name", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": []any{"Lounge/Ceiling"}, "state": "OFF"})
		require.False(t, res.IsError, text(res))
		r := out.Results[0]
		require.Equal(t, "confirmed", r.Status, r.Reason)
		require.Equal(t, "Lounge/Ceiling", r.Target)
		require.Equal(t, "lounge/ceiling", r.Device)
		w.requireSent(t, "lounge/ceiling/set")
	})

	t.Run("confirmed climate setpoint snapped", func(t *testing.T) {
		res, out := setter(t, c, "set_climate", map[string]any{"targets": "hall/thermostat", "temperature": 21.3})
		require.False(t, res.IsError, text(res))
		r := out.Results[0]
		require.Equal(t, "confirmed", r.Status, r.Reason)
		require.Contains(t, r.Reason, "snapped")
		require.Contains(t, r.Reason, "21.5")
		near(t, 21.5, r.Sent["occupied_heating_setpoint"], 0, "sent setpoint")
		near(t, 21.5, r.State["occupied_heating_setpoint"], 0, "confirmed setpoint")
		w.requireSent(t, "hall/thermostat/set")
	})

	t.Run("confirmed climate setpoint outside device range is an error", func(t *testing.T) {
		res := call(t, c, "set_climate", map[string]any{"targets": "hall/thermostat", "temperature": 45})
		requireToolError(t, res, "30")
		w.requireNothingPublished(t)
	})

	t.Run("confirmed switch endpoint", func(t *testing.T) {
		res, out := setter(t, c, "set_switches", map[string]any{"targets": "hall/switch", "state": "on", "endpoint": "left"})
		require.False(t, res.IsError, text(res))
		r := out.Results[0]
		require.Equal(t, "confirmed", r.Status, r.Reason)
		require.Equal(t, map[string]any{"state_left": "ON"}, r.Sent)
		require.Equal(t, "ON", r.State["state_left"])
		w.requireSent(t, "hall/switch/set")
		require.Equal(t, "ON", e.sim.State("hall/switch")["state_left"])
		require.NotEqual(t, "ON", e.sim.State("hall/switch")["state_right"], "only the left gang was switched")
	})

	t.Run("switch endpoint that does not exist is an error", func(t *testing.T) {
		res := call(t, c, "set_switches", map[string]any{"targets": "hall/switch", "state": "on", "endpoint": "l7"})
		require.True(t, res.IsError, text(res))
		w.requireNothingPublished(t)
	})

	t.Run("confirmed cover position", func(t *testing.T) {
		res, out := setter(t, c, "set_covers", map[string]any{"targets": "lounge/blind", "position": 30})
		require.False(t, res.IsError, text(res))
		r := out.Results[0]
		require.Equal(t, "confirmed", r.Status, r.Reason)
		near(t, 30, r.Sent["position"], 0, "sent position")
		near(t, 30, r.State["position"], 0, "confirmed position")
		w.requireSent(t, "lounge/blind/set")
	})

	t.Run("confirmed lock", func(t *testing.T) {
		res, out := setter(t, c, "set_locks", map[string]any{"targets": "front_door/lock", "action": "lock"})
		require.False(t, res.IsError, text(res))
		r := out.Results[0]
		require.Equal(t, "confirmed", r.Status, r.Reason)
		require.Equal(t, "LOCK", r.Sent["state"])
		w.requireSent(t, "front_door/lock/set")
	})

	t.Run("unlock needs allow-unlock", func(t *testing.T) {
		res := call(t, c, "set_locks", map[string]any{"targets": "front_door/lock", "action": "unlock"})
		requireToolError(t, res, "--allow-unlock")
		w.requireNothingPublished(t)
	})

	t.Run("assumed effect", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "lounge/ceiling", "effect": "blink"})
		require.False(t, res.IsError, text(res))
		r := out.Results[0]
		require.Equal(t, "assumed", r.Status, r.Reason)
		require.NotEmpty(t, r.Reason)
		w.requireSent(t, "lounge/ceiling/set")
	})

	t.Run("sent without confirmation", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "kitchen/spots", "state": "on", "confirm": false})
		require.False(t, res.IsError, text(res))
		r := out.Results[0]
		require.Equal(t, "sent", r.Status, r.Reason)
		require.Equal(t, 1, r.Attempts)
		require.Nil(t, r.State["brightness"])
		w.requireSent(t, "kitchen/spots/set")
	})

	t.Run("unsupported brightness on a plug", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "office/plug", "brightness": 50})
		require.True(t, res.IsError, "no target succeeded: %s", text(res))
		r := out.Results[0]
		require.Equal(t, "unsupported", r.Status)
		require.Contains(t, r.Reason, "office/plug")
		w.requireNothingPublished(t)
	})

	t.Run("unsupported colour on a white-only bulb, the other light confirmed", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": []any{"lounge/ceiling", "lounge/reading_lamp"}, "color": "red"})
		require.False(t, res.IsError, "one target succeeded: %s", text(res))
		m := byDevice(out)
		require.Equal(t, "unsupported", m["lounge/ceiling"].Status)
		require.NotEmpty(t, m["lounge/ceiling"].Reason)
		require.Empty(t, m["lounge/ceiling"].Sent)
		require.Equal(t, "confirmed", m["lounge/reading_lamp"].Status, m["lounge/reading_lamp"].Reason)
		w.requireSent(t, "lounge/reading_lamp/set")
	})

	t.Run("room expands to the tool's kind only", func(t *testing.T) {
		res, out := setter(t, c, "set_switches", map[string]any{"targets": "kitchen", "state": "off"})
		require.False(t, res.IsError, text(res))
		require.Len(t, out.Results, 1, "only the coffee plug is a switch in the kitchen")
		require.Equal(t, "kitchen/coffee_plug", out.Results[0].Device)
		require.Equal(t, "kitchen", out.Results[0].Target)
		require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
		w.requireSent(t, "kitchen/coffee_plug/set")
	})

	t.Run("failed on an unreachable device quotes Zigbee2MQTT", func(t *testing.T) {
		require.NoError(t, e.sim.SetOffline("office/desk_lamp", true))
		t.Cleanup(func() { _ = e.sim.SetOffline("office/desk_lamp", false) })
		e.waitAvailability(t, "office/desk_lamp", devices.AvailabilityOffline)
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "office/desk_lamp", "state": "on"})
		require.True(t, res.IsError, text(res))
		r := out.Results[0]
		require.Equal(t, "failed", r.Status, r.Reason)
		require.Contains(t, r.Reason, "Zigbee2MQTT")
		require.Contains(t, r.Reason, "Timeout")
		require.Contains(t, r.Reason, "already marked offline")
		require.Equal(t, 1, r.Attempts, "a failure is not retried")
		w.requireSent(t, "office/desk_lamp/set")
	})

	t.Run("timeout with last state and a retry", func(t *testing.T) {
		// A state to show: confirm 80 % first.
		_, out := setter(t, c, "set_lights", map[string]any{"targets": "bedroom/bedside_left", "brightness": 80})
		require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
		w.take()
		require.NoError(t, e.sim.SetDrop("bedroom/bedside_left", true))
		t.Cleanup(func() { _ = e.sim.SetDrop("bedroom/bedside_left", false) })
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "bedroom/bedside_left", "brightness": 20, "timeout_ms": 800})
		require.True(t, res.IsError, text(res))
		r := out.Results[0]
		require.Equal(t, "timeout", r.Status, r.Reason)
		require.Equal(t, 2, r.Attempts, "an idempotent command is re-sent once by default")
		require.NotEmpty(t, r.Reason)
		near(t, 203, r.State["brightness"], 1, "last state seen")
		w.requireSent(t, "bedroom/bedside_left/set", "bedroom/bedside_left/set")

		res, out = setter(t, c, "set_lights", map[string]any{"targets": "bedroom/bedside_left", "brightness": 20, "timeout_ms": 300, "retries": 0})
		require.True(t, res.IsError)
		require.Equal(t, "timeout", out.Results[0].Status)
		require.Equal(t, 1, out.Results[0].Attempts)
		w.requireSent(t, "bedroom/bedside_left/set")
	})

	t.Run("assumed groupcast with one publish", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "bedroom_lights", "brightness": 40})
		require.False(t, res.IsError, text(res))
		require.Len(t, out.Results, 2)
		for _, r := range out.Results {
			require.Equal(t, "assumed", r.Status, "%s: %s", r.Device, r.Reason)
			require.Equal(t, "bedroom_lights", r.Target)
			require.Contains(t, r.Reason, "groupcast")
		}
		require.ElementsMatch(t, []string{"bedroom/bedside_left", "bedroom/bedside_right"}, []string{out.Results[0].Device, out.Results[1].Device})
		w.requireSent(t, "bedroom_lights/set")
	})

	t.Run("readback upgrades groupcast to confirmed", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "bedroom_lights", "brightness": 60, "verify": "readback"})
		require.False(t, res.IsError, text(res))
		require.Len(t, out.Results, 2)
		for _, r := range out.Results {
			require.Equal(t, "confirmed", r.Status, "%s: %s", r.Device, r.Reason)
			near(t, 152, r.State["brightness"], 1, r.Device)
		}
		w.requireSent(t, "bedroom_lights/set", "bedroom/bedside_left/get", "bedroom/bedside_right/get")
	})

	t.Run("readback on one device", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "kitchen/spots", "brightness": 10, "verify": "readback"})
		require.False(t, res.IsError, text(res))
		require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
		w.requireSent(t, "kitchen/spots/set", "kitchen/spots/get")
	})

	t.Run("recall group scene: members assumed", func(t *testing.T) {
		res, out := setter(t, c, "recall_scene", map[string]any{"scene": "Movie", "target": "lounge"})
		require.False(t, res.IsError, text(res))
		require.Len(t, out.Results, 3)
		for _, r := range out.Results {
			require.Equal(t, "assumed", r.Status, "%s: %s", r.Device, r.Reason)
			near(t, 1, r.Sent["scene_recall"], 0, "scene id")
		}
		msgs := w.requireSent(t, "lounge/set")
		require.JSONEq(t, `{"scene_recall":1}`, string(msgs[0].Payload))
		near(t, 60, e.sim.State("lounge/ceiling")["brightness"], 1, "scene applied")
	})

	t.Run("recall unknown scene lists the scenes", func(t *testing.T) {
		res := call(t, c, "recall_scene", map[string]any{"scene": "Party", "target": "lounge"})
		requireToolError(t, res, "Movie")
		w.requireNothingPublished(t)
	})

	t.Run("store, list and remove a group scene", func(t *testing.T) {
		res, out := setter(t, c, "store_scene", map[string]any{"scene": "Reading", "target": "bedroom_lights"})
		require.False(t, res.IsError, text(res))
		require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
		msgs := w.requireSent(t, "bedroom_lights/set")
		require.JSONEq(t, `{"scene_store":{"ID":1,"name":"Reading"}}`, string(msgs[0].Payload))

		var scenes struct {
			Scenes []struct {
				Target, Kind, Name string
				ID                 int
			} `json:"scenes"`
		}
		decode(t, call(t, c, "list_scenes", map[string]any{"target": "bedroom_lights"}), &scenes)
		require.Len(t, scenes.Scenes, 1)
		require.Equal(t, "Reading", scenes.Scenes[0].Name)
		require.Equal(t, "group", scenes.Scenes[0].Kind)
		require.Equal(t, 1, scenes.Scenes[0].ID)

		res, out = setter(t, c, "recall_scene", map[string]any{"scene": 1, "target": "bedroom_lights"})
		require.False(t, res.IsError, text(res))
		require.Equal(t, "assumed", out.Results[0].Status)
		w.requireSent(t, "bedroom_lights/set")

		res, out = setter(t, c, "remove_scene", map[string]any{"scene": "reading", "target": "bedroom_lights"})
		require.False(t, res.IsError, text(res))
		require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
		w.requireSent(t, "bedroom_lights/set")
		decode(t, call(t, c, "list_scenes", map[string]any{"target": "bedroom_lights"}), &scenes)
		require.Empty(t, scenes.Scenes)
	})

	t.Run("bridge_status reports the offline device", func(t *testing.T) {
		require.NoError(t, e.sim.SetOffline("hall/motion", true))
		t.Cleanup(func() { _ = e.sim.SetOffline("hall/motion", false) })
		e.waitAvailability(t, "hall/motion", devices.AvailabilityOffline)
		res := call(t, c, "bridge_status", nil)
		require.False(t, res.IsError)
		var st struct {
			Online         bool     `json:"online"`
			State          string   `json:"state"`
			MQTTConnected  bool     `json:"mqtt_connected"`
			Version        string   `json:"version"`
			Devices        int      `json:"devices"`
			Groups         int      `json:"groups"`
			Offline        []string `json:"offline_devices"`
			AvailabilityOn bool     `json:"availability_enabled"`
		}
		decode(t, res, &st)
		require.True(t, st.Online)
		require.Equal(t, "online", st.State)
		require.True(t, st.MQTTConnected)
		require.NotEmpty(t, st.Version)
		require.Equal(t, len(e.sim.Devices()), st.Devices)
		require.Equal(t, 2, st.Groups)
		require.Contains(t, st.Offline, "hall/motion")
		require.True(t, st.AvailabilityOn)
		require.Contains(t, text(res), "hall/motion")
		w.requireNothingPublished(t)
	})
}

// TestOfflineStatus: the device is offline and Zigbee2MQTT's own give-up
// comes after our deadline, so the status is offline (not timeout).
func TestOfflineStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Sim: simulator.Config{Offline: []string{"kitchen/spots"}, UnreachableDelay: time.Minute}})
	c := e.client(t)
	e.waitAvailability(t, "kitchen/spots", devices.AvailabilityOffline)
	e.cmds.take()
	res, out := setter(t, c, "set_lights", map[string]any{"targets": "kitchen/spots", "state": "on", "timeout_ms": 500, "retries": 0})
	require.True(t, res.IsError, text(res))
	r := out.Results[0]
	require.Equal(t, "offline", r.Status, r.Reason)
	require.Contains(t, r.Reason, "offline")
	// It is still sent: availability can be stale.
	e.cmds.requireSent(t, "kitchen/spots/set")

	// A group with an offline member: that member is offline, not assumed.
	// (lounge has no offline member here, so use a mixed explicit list.)
	res, out = setter(t, c, "set_lights", map[string]any{"targets": []any{"kitchen/spots", "office/desk_lamp"}, "state": "on", "timeout_ms": 3000, "retries": 0})
	require.False(t, res.IsError, "the desk lamp confirmed: %s", text(res))
	m := byDevice(out)
	require.Equal(t, "offline", m["kitchen/spots"].Status)
	require.Equal(t, "confirmed", m["office/desk_lamp"].Status, m["office/desk_lamp"].Reason)
}

// TestBadInput: every invalid call is isError and publishes nothing, as
// seen by a separate client watching the broker.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{MCP: mcp.Config{Policy: mcp.Policy{AllowRaw: true, AllowLocks: true}}})
	c := e.client(t)
	e.cmds.take()
	cases := []struct {
		name string
		tool string
		args any
		want []string
	}{
		{"unknown name with a suggestion", "set_lights", map[string]any{"targets": "lounge/celing", "state": "on"}, []string{"lounge/celing", "did you mean", "'lounge/ceiling'"}},
		{"partial name is never acted on", "set_lights", map[string]any{"targets": "light", "state": "on"}, []string{"not a device, group or room", "did you mean"}},
		{"partial name in a list", "set_lights", map[string]any{"targets": []any{"lounge/ceiling", "ceiling"}, "state": "on"}, []string{`"ceiling"`, "'lounge/ceiling'"}},
		{"brightness out of range", "set_lights", map[string]any{"targets": "lounge/ceiling", "brightness": 150}, []string{"brightness", "0–100"}},
		{"negative brightness", "set_lights", map[string]any{"targets": "lounge/ceiling", "brightness": -1}, []string{"brightness"}},
		{"kelvin out of range", "set_lights", map[string]any{"targets": "lounge/ceiling", "color_temp_kelvin": 20000}, []string{"color_temp_kelvin"}},
		{"position out of range", "set_covers", map[string]any{"targets": "lounge/blind", "position": 101}, []string{"position"}},
		{"wildcard +", "set_lights", map[string]any{"targets": "+", "state": "on"}, []string{"wildcard"}},
		{"wildcard #", "set_lights", map[string]any{"targets": "#", "state": "on"}, []string{"wildcard"}},
		{"wildcard in a path", "set_lights", map[string]any{"targets": "lounge/+", "state": "on"}, []string{"wildcard"}},
		{"wildcard in a list", "set_switches", map[string]any{"targets": []any{"office/plug", "office/#"}, "state": "on"}, []string{"wildcard"}},
		{"control character", "set_lights", map[string]any{"targets": "lounge/ceiling\u0000", "state": "on"}, []string{"control characters"}},
		{"newline", "set_lights", map[string]any{"targets": "lounge/\nceiling", "state": "on"}, []string{"control characters"}},
		{"brightness as a string", "set_lights", map[string]any{"targets": "lounge/ceiling", "brightness": "50"}, []string{"brightness", "number"}},
		{"targets as a number", "set_lights", map[string]any{"targets": 5, "state": "on"}, []string{"targets", "string"}},
		{"targets with a number", "set_lights", map[string]any{"targets": []any{"lounge/ceiling", 5}, "state": "on"}, []string{"targets"}},
		{"unknown argument", "set_lights", map[string]any{"targets": "lounge/ceiling", "brightnes": 50}, []string{"unknown argument", "brightnes", "brightness"}},
		{"empty targets", "set_lights", map[string]any{"targets": []any{}, "state": "on"}, []string{"targets"}},
		{"missing targets", "set_lights", map[string]any{"state": "on"}, []string{"targets is required"}},
		{"empty string target", "set_lights", map[string]any{"targets": "", "state": "on"}, []string{"targets"}},
		{"nothing to do", "set_lights", map[string]any{"targets": "lounge/ceiling"}, nil},
		{"bad state enum", "set_lights", map[string]any{"targets": "lounge/ceiling", "state": "bright"}, []string{"state", "on, off, toggle"}},
		{"bad colour", "set_lights", map[string]any{"targets": "lounge/reading_lamp", "color": "not-a-colour"}, []string{"not-a-colour"}},
		{"bad verify", "set_lights", map[string]any{"targets": "lounge/ceiling", "state": "on", "verify": "maybe"}, []string{"verify"}},
		{"timeout_ms too small", "set_lights", map[string]any{"targets": "lounge/ceiling", "state": "on", "timeout_ms": 5}, []string{"timeout_ms"}},
		{"retries too many", "set_lights", map[string]any{"targets": "lounge/ceiling", "state": "on", "retries": 9}, []string{"retries"}},
		{"confirm as a string", "set_lights", map[string]any{"targets": "lounge/ceiling", "state": "on", "confirm": "no"}, []string{"confirm"}},
		{"room without lights", "set_lights", map[string]any{"targets": "hall", "state": "on"}, []string{"hall"}},
		{"switch without state", "set_switches", map[string]any{"targets": "office/plug"}, []string{"state"}},
		{"cover with nothing", "set_covers", map[string]any{"targets": "lounge/blind"}, nil},
		{"climate mode unknown", "set_climate", map[string]any{"targets": "hall/thermostat", "mode": "turbo"}, []string{"turbo"}},
		{"climate setpoint outside device range", "set_climate", map[string]any{"targets": "hall/thermostat", "temperature": 31}, []string{"30"}},
		{"lock bad action", "set_locks", map[string]any{"targets": "front_door/lock", "action": "open"}, []string{"action"}},
		{"recall scene bad target", "recall_scene", map[string]any{"scene": "Movie", "target": "loung"}, []string{"did you mean", "'lounge'"}},
		{"recall scene on a room", "recall_scene", map[string]any{"scene": 1, "target": "kitchen"}, []string{"room"}},
		{"store scene without name", "store_scene", map[string]any{"scene": " ", "target": "lounge"}, []string{"scene"}},
		{"store scene bad id", "store_scene", map[string]any{"scene": "X", "target": "lounge", "id": 300}, []string{"id"}},
		{"remove unknown scene", "remove_scene", map[string]any{"scene": 9, "target": "lounge"}, []string{"no scene 9", "Movie"}},
		{"set_device unknown property", "set_device", map[string]any{"name": "office/plug", "payload": map[string]any{"turbo": true}}, []string{"turbo"}},
		{"set_device read-only property", "set_device", map[string]any{"name": "office/plug", "payload": map[string]any{"linkquality": 5}}, []string{"linkquality"}},
		{"set_device empty payload", "set_device", map[string]any{"name": "office/plug", "payload": map[string]any{}}, []string{"payload"}},
		{"set_device payload not an object", "set_device", map[string]any{"name": "office/plug", "payload": "ON"}, []string{"payload"}},
		{"set_device on a group", "set_device", map[string]any{"name": "lounge", "payload": map[string]any{"state": "ON"}}, []string{"group"}},
		{"get_device unknown", "get_device", map[string]any{"name": "lounge/celing"}, []string{"'lounge/ceiling'"}},
		{"get_device wildcard", "get_device", map[string]any{"name": "lounge/#"}, []string{"wildcard"}},
		{"list_devices bad type", "list_devices", map[string]any{"type": "toaster"}, []string{"type"}},
		{"list_devices unknown room", "list_devices", map[string]any{"room": "attic"}, []string{"attic", "lounge"}},
		{"list_devices unknown argument", "list_devices", map[string]any{"verbose": true}, []string{"unknown argument"}},
		{"bridge_status with an argument", "bridge_status", map[string]any{"x": 1}, []string{"unknown argument"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := call(t, c, tc.tool, tc.args)
			msg := requireToolError(t, res, tc.want...)
			require.NotEmpty(t, msg)
			e.cmds.requireNothingPublished(t)
		})
	}
}

func TestReadTools(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	// Some state to show.
	_, out := setter(t, c, "set_lights", map[string]any{"targets": "lounge/reading_lamp", "brightness": 70, "color_temp_kelvin": 2700})
	require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)

	t.Run("list_devices is compact", func(t *testing.T) {
		res := call(t, c, "list_devices", nil)
		require.False(t, res.IsError)
		var list struct {
			Count   int `json:"count"`
			Devices []struct {
				Name, Type, Room, Model, Available string
				State                              map[string]any
			} `json:"devices"`
		}
		decode(t, res, &list)
		names := e.sim.Devices()
		require.Equal(t, len(names), list.Count)
		require.Len(t, list.Devices, len(names))
		seen := map[string]string{}
		for _, d := range list.Devices {
			seen[d.Name] = d.Type
			require.NotEqual(t, "Coordinator", d.Name)
		}
		for _, n := range names {
			require.Contains(t, seen, n)
		}
		require.Equal(t, "light", seen["lounge/ceiling"])
		require.Equal(t, "switch", seen["office/plug"])
		require.Equal(t, "climate", seen["hall/thermostat"])
		require.Equal(t, "cover", seen["lounge/blind"])
		require.Equal(t, "lock", seen["front_door/lock"])
		require.Equal(t, "sensor", seen["hall/motion"])
		for _, d := range list.Devices {
			if d.Name == "lounge/reading_lamp" {
				require.Equal(t, "lounge", d.Room)
				require.Equal(t, "online", d.Available)
				require.EqualValues(t, 70, d.State["brightness_pct"])
			}
		}
		lines := strings.Split(text(res), "\n")
		require.Len(t, lines, len(names)+1, text(res))
		total := 0
		for _, l := range lines {
			require.LessOrEqual(t, len(l), 150, "line too long for a compact list: %q", l)
			total += len(l)
		}
		// ~4 characters per token: at most ~30 tokens per device.
		require.LessOrEqual(t, total/len(names), 120)
	})

	t.Run("list_devices filters", func(t *testing.T) {
		var list struct {
			Count   int `json:"count"`
			Devices []struct{ Name, Type, Room string }
		}
		decode(t, call(t, c, "list_devices", map[string]any{"type": "LIGHT", "room": "lounge"}), &list)
		var names []string
		for _, d := range list.Devices {
			names = append(names, d.Name)
			require.Equal(t, "light", d.Type)
			require.Equal(t, "lounge", d.Room)
		}
		require.ElementsMatch(t, []string{"lounge/ceiling", "lounge/reading_lamp", "lounge/tv_backlight"}, names)
		decode(t, call(t, c, "list_devices", map[string]any{"query": "S31ZB", "include_state": false}), &list)
		require.Equal(t, 1, list.Count)
		require.Equal(t, "office/plug", list.Devices[0].Name)
	})

	t.Run("get_device has capabilities with ranges", func(t *testing.T) {
		res := call(t, c, "get_device", map[string]any{"name": "lounge/reading_lamp"})
		require.False(t, res.IsError, text(res))
		var det struct {
			Name, IEEEAddress, Type, Available string
			Capabilities                       []struct {
				Property, Type, Access string
				Min, Max               *float64
				Values                 []any
			} `json:"capabilities"`
			State  map[string]any `json:"state"`
			Groups []string       `json:"groups"`
			Scenes []struct {
				ID   int
				Name string
			} `json:"scenes"`
		}
		decode(t, res, &det)
		require.Equal(t, "lounge/reading_lamp", det.Name)
		require.Equal(t, "light", det.Type)
		caps := map[string]int{}
		for i, cp := range det.Capabilities {
			caps[cp.Property] = i
		}
		require.Contains(t, caps, "brightness")
		b := det.Capabilities[caps["brightness"]]
		require.NotNil(t, b.Min)
		require.NotNil(t, b.Max)
		require.Equal(t, 254.0, *b.Max)
		require.Contains(t, b.Access, "w")
		require.Contains(t, caps, "color_temp")
		ct := det.Capabilities[caps["color_temp"]]
		require.NotNil(t, ct.Min)
		require.NotNil(t, ct.Max)
		require.Less(t, *ct.Min, *ct.Max)
		require.Contains(t, caps, "effect")
		require.NotEmpty(t, det.Capabilities[caps["effect"]].Values)
		require.Contains(t, det.Groups, "lounge")
		near(t, 178, det.State["brightness"], 1, "state brightness")
		require.Contains(t, text(res), "brightness")
		require.Contains(t, text(res), "0–254")
	})

	t.Run("get_device on a group", func(t *testing.T) {
		res := call(t, c, "get_device", map[string]any{"name": "lounge"})
		require.False(t, res.IsError, text(res))
		var g struct {
			Name    string
			Kind    string
			Members []string
			Scenes  []struct {
				ID   int
				Name string
			}
		}
		decode(t, res, &g)
		require.Equal(t, "group", g.Kind)
		require.ElementsMatch(t, []string{"lounge/ceiling", "lounge/reading_lamp", "lounge/tv_backlight"}, g.Members)
		require.Equal(t, "Movie", g.Scenes[0].Name)
	})

	t.Run("list_scenes", func(t *testing.T) {
		res := call(t, c, "list_scenes", nil)
		require.False(t, res.IsError, text(res))
		var scenes struct {
			Scenes []struct {
				Target, Kind, Name string
				ID                 int
			} `json:"scenes"`
		}
		decode(t, res, &scenes)
		found := false
		for _, s := range scenes.Scenes {
			if s.Target == "lounge" && s.Kind == "group" && s.Name == "Movie" && s.ID == 1 {
				found = true
			}
		}
		require.True(t, found, "lounge's Movie scene: %+v", scenes)
		require.Contains(t, text(res), "Movie")
	})

	e.cmds.take()
	t.Run("read tools publish nothing", func(t *testing.T) {
		call(t, c, "list_devices", nil)
		call(t, c, "get_device", map[string]any{"name": "office/plug"})
		call(t, c, "list_scenes", map[string]any{"target": "lounge"})
		call(t, c, "bridge_status", nil)
		e.cmds.requireNothingPublished(t)
	})
}

func TestToolsList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, proto := range []struct {
		name string
		opts []client.ClientOption
	}{{"default", nil}, {"2025-11-25", []client.ClientOption{pinned()}}} {
		t.Run(proto.name, func(t *testing.T) {
			c := e.client(t, proto.opts...)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			res, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
			require.NoError(t, err)
			b, err := json.Marshal(res)
			require.NoError(t, err)
			require.Less(t, len(b), 12*1024, "tools/list is %d bytes", len(b))
			want := map[string]bool{ // name → read-only
				"list_devices": true, "get_device": true, "set_lights": false, "set_climate": false,
				"set_switches": false, "set_covers": false, "set_locks": false, "list_scenes": true,
				"recall_scene": false, "store_scene": false, "remove_scene": false, "set_device": false,
				"bridge_status": true,
			}
			got := map[string]bool{}
			for _, tool := range res.Tools {
				require.NotNil(t, tool.Annotations.ReadOnlyHint, tool.Name)
				got[tool.Name] = *tool.Annotations.ReadOnlyHint
				require.NotEmpty(t, tool.Description, tool.Name)
				hasOut := len(tool.RawOutputSchema) > 0 || tool.OutputSchema.Type != ""
				require.True(t, hasOut, "%s has no outputSchema", tool.Name)
				if !got[tool.Name] {
					require.NotNil(t, tool.Annotations.IdempotentHint, tool.Name)
				}
			}
			require.Equal(t, want, got)
		})
	}
}

// TestProtocols runs the core subset on both protocol generations.
func TestProtocols(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, proto := range []struct {
		name   string
		opts   []client.ClientOption
		device string
	}{{"default", nil, "lounge/ceiling"}, {"2025-11-25", []client.ClientOption{pinned()}, "lounge/tv_backlight"}} {
		t.Run(proto.name, func(t *testing.T) {
			c, err := client.NewInProcessClientWithOptions(e.srv.MCPServer(), proto.opts...)
			require.NoError(t, err)
			init := startClient(t, c)
			if len(proto.opts) > 0 {
				require.Equal(t, mcpgo.ProtocolVersion20251125, init.ProtocolVersion)
			}
			require.Contains(t, init.Instructions, "confirmed")
			requireCore(t, c, len(e.sim.Devices()), proto.device)
		})
	}
}

// requireCore: list_devices and a confirmed set_lights.
func requireCore(t *testing.T, c *client.Client, devices int, light string) {
	t.Helper()
	res := call(t, c, "list_devices", map[string]any{})
	require.False(t, res.IsError, text(res))
	var list struct {
		Count int `json:"count"`
	}
	decode(t, res, &list)
	require.Equal(t, devices, list.Count)
	require.Contains(t, text(res), light)
	res, out := setter(t, c, "set_lights", map[string]any{"targets": light, "brightness": 33, "color_temp_kelvin": 3000})
	require.False(t, res.IsError, text(res))
	require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
	near(t, 84, out.Results[0].State["brightness"], 1, "brightness")
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.cmds.take()

	t.Run("read-only refuses setters", func(t *testing.T) {
		c := inProcess(t, e.server(t, mcp.Config{Policy: mcp.Policy{ReadOnly: true, AllowRaw: true, AllowLocks: true}}))
		for _, tc := range []struct {
			tool string
			args map[string]any
		}{
			{"set_lights", map[string]any{"targets": "lounge/ceiling", "state": "on"}},
			{"set_climate", map[string]any{"targets": "hall/thermostat", "temperature": 20}},
			{"set_switches", map[string]any{"targets": "office/plug", "state": "on"}},
			{"set_covers", map[string]any{"targets": "lounge/blind", "position": 10}},
			{"set_locks", map[string]any{"targets": "front_door/lock", "action": "lock"}},
			{"recall_scene", map[string]any{"scene": 1, "target": "lounge"}},
			{"store_scene", map[string]any{"scene": "X", "target": "lounge"}},
			{"remove_scene", map[string]any{"scene": 1, "target": "lounge"}},
			{"set_device", map[string]any{"name": "office/plug", "payload": map[string]any{"state": "ON"}}},
		} {
			res := call(t, c, tc.tool, tc.args)
			requireToolError(t, res, "read-only")
		}
		res := call(t, c, "list_devices", nil)
		require.False(t, res.IsError)
		e.cmds.requireNothingPublished(t)
	})

	t.Run("deny hides and refuses", func(t *testing.T) {
		c := inProcess(t, e.server(t, mcp.Config{Policy: mcp.Policy{Deny: []string{"office/*"}, AllowRaw: true}}))
		res := call(t, c, "list_devices", nil)
		require.False(t, res.IsError)
		require.NotContains(t, text(res), "office/")
		require.Contains(t, text(res), "lounge/ceiling")
		requireToolError(t, call(t, c, "set_switches", map[string]any{"targets": "office/plug", "state": "on"}), "office/plug")
		requireToolError(t, call(t, c, "set_lights", map[string]any{"targets": "office/desk_lamp", "state": "on"}))
		requireToolError(t, call(t, c, "set_device", map[string]any{"name": "office/plug", "payload": map[string]any{"state": "ON"}}))
		requireToolError(t, call(t, c, "get_device", map[string]any{"name": "office/plug"}))
		// A room or "all" silently leaves denied devices out.
		_, out := setter(t, c, "set_lights", map[string]any{"targets": "all", "state": "off"})
		require.NotEmpty(t, out.Results)
		for _, r := range out.Results {
			require.False(t, strings.HasPrefix(r.Device, "office/"), r.Device)
		}
		for _, m := range e.cmds.take() {
			require.NotContains(t, m.Topic, "office/", "a denied device was commanded")
		}
		var st struct {
			Devices int `json:"devices"`
		}
		decode(t, call(t, c, "bridge_status", nil), &st)
		require.Equal(t, len(e.sim.Devices())-2, st.Devices)
	})

	t.Run("allow list", func(t *testing.T) {
		c := inProcess(t, e.server(t, mcp.Config{Policy: mcp.Policy{Allow: []string{"lounge/*"}}}))
		var list struct {
			Devices []struct{ Name string }
		}
		decode(t, call(t, c, "list_devices", nil), &list)
		require.Len(t, list.Devices, 5)
		requireToolError(t, call(t, c, "set_lights", map[string]any{"targets": "kitchen/spots", "state": "on"}))
		e.cmds.requireNothingPublished(t)
	})

	t.Run("rate limit", func(t *testing.T) {
		// One command per 100 s with a burst of one: the second is refused
		// however slow the machine.
		c := inProcess(t, e.server(t, mcp.Config{Policy: mcp.Policy{Rate: 0.01, RateBurst: 1}}))
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "kitchen/spots", "state": "on"})
		require.False(t, res.IsError, text(res))
		require.Equal(t, "confirmed", out.Results[0].Status)
		e.cmds.requireSent(t, "kitchen/spots/set")
		res = call(t, c, "set_lights", map[string]any{"targets": "kitchen/spots", "state": "off"})
		requireToolError(t, res, "rate limit")
		// Read tools are not limited (list_devices may /get states never
		// seen, but sends no command).
		require.False(t, call(t, c, "list_devices", nil).IsError)
		e.cmds.requireNoCommands(t)
		// Another session has its own bucket.
		c2 := inProcess(t, e.server(t, mcp.Config{Policy: mcp.Policy{Rate: 0.01, RateBurst: 1}}))
		res, _ = setter(t, c2, "set_lights", map[string]any{"targets": "kitchen/spots", "state": "off"})
		require.False(t, res.IsError, text(res))
		e.cmds.requireSent(t, "kitchen/spots/set")
	})

	t.Run("locks and set_device are off by default", func(t *testing.T) {
		c := inProcess(t, e.server(t, mcp.Config{}))
		requireToolError(t, call(t, c, "set_locks", map[string]any{"targets": "front_door/lock", "action": "lock"}), "--allow-locks")
		requireToolError(t, call(t, c, "set_device", map[string]any{"name": "office/plug", "payload": map[string]any{"state": "ON"}}), "--allow-raw")
		e.cmds.requireNothingPublished(t)
	})

	t.Run("set_device with allow-raw", func(t *testing.T) {
		c := inProcess(t, e.server(t, mcp.Config{Policy: mcp.Policy{AllowRaw: true}}))
		res, out := setter(t, c, "set_device", map[string]any{"name": "office/plug", "payload": map[string]any{"state": "ON"}})
		require.False(t, res.IsError, text(res))
		require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
		require.Equal(t, "ON", out.Results[0].State["state"])
		e.cmds.requireSent(t, "office/plug/set")
	})
}

// updates collects the URIs of notifications/resources/updated.
type updates struct {
	mu   sync.Mutex
	seen map[string]int
}

func collectUpdates(c *client.Client) *updates {
	u := &updates{seen: map[string]int{}}
	c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method != mcpgo.MethodNotificationResourceUpdated {
			return
		}
		if uri, ok := n.Params.AdditionalFields["uri"].(string); ok {
			u.mu.Lock()
			u.seen[uri]++
			u.mu.Unlock()
		}
	})
	return u
}

func (u *updates) count(uri string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[uri]
}

// require waits for a notification for uri.
func (u *updates) require(t *testing.T, uri string) {
	t.Helper()
	require.Eventually(t, func() bool { return u.count(uri) > 0 }, wait, 10*time.Millisecond,
		"no notifications/resources/updated for %s", uri)
}

func readResource(t *testing.T, c *client.Client, uri string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req := mcpgo.ReadResourceRequest{}
	req.Params.URI = uri
	res, err := c.ReadResource(ctx, req)
	require.NoError(t, err, uri)
	require.Len(t, res.Contents, 1)
	tc, ok := res.Contents[0].(mcpgo.TextResourceContents)
	require.True(t, ok, "%T", res.Contents[0])
	require.Equal(t, "application/json", tc.MIMEType)
	require.NoError(t, json.Unmarshal([]byte(tc.Text), v), tc.Text)
}

func TestResources(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t, pinned())

	t.Run("read", func(t *testing.T) {
		requireResources(t, c, len(e.sim.Devices()))
	})

	t.Run("unknown device", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		req := mcpgo.ReadResourceRequest{}
		req.Params.URI = "z2m://devices/lounge/celing"
		_, err := c.ReadResource(ctx, req)
		require.Error(t, err)
		require.Contains(t, err.Error(), "lounge/ceiling")
	})

	t.Run("subscribe", func(t *testing.T) {
		requireSubscription(t, c, c, "lounge/tv_backlight")
	})
}

// requireResources reads every resource.
func requireResources(t *testing.T, c *client.Client, devices int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	list, err := c.ListResources(ctx, mcpgo.ListResourcesRequest{})
	require.NoError(t, err)
	var uris []string
	for _, r := range list.Resources {
		uris = append(uris, r.URI)
	}
	require.ElementsMatch(t, []string{"z2m://bridge", "z2m://devices", "z2m://groups"}, uris)
	tpl, err := c.ListResourceTemplates(ctx, mcpgo.ListResourceTemplatesRequest{})
	require.NoError(t, err)
	require.Len(t, tpl.ResourceTemplates, 1)

	var bridge struct {
		Online  bool `json:"online"`
		Devices int  `json:"devices"`
	}
	readResource(t, c, "z2m://bridge", &bridge)
	require.True(t, bridge.Online)
	require.Equal(t, devices, bridge.Devices)

	var devs struct {
		Count   int `json:"count"`
		Devices []struct{ Name string }
	}
	readResource(t, c, "z2m://devices", &devs)
	require.Equal(t, devices, devs.Count)

	for _, uri := range []string{"z2m://devices/lounge/ceiling", "z2m://devices/lounge%2Fceiling", "z2m://devices/lounge%2fceiling"} {
		var det struct {
			Name         string `json:"name"`
			IEEEAddress  string `json:"ieee_address"`
			Capabilities []any  `json:"capabilities"`
		}
		readResource(t, c, uri, &det)
		require.Equal(t, "lounge/ceiling", det.Name, uri)
		require.NotEmpty(t, det.Capabilities, uri)
	}
	var dot struct {
		Name string `json:"name"`
	}
	readResource(t, c, "z2m://devices/garden/string.lights", &dot)
	require.Equal(t, "garden/string.lights", dot.Name)

	var groups []struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
	}
	readResource(t, c, "z2m://groups", &groups)
	require.Len(t, groups, 2)
	names := []string{groups[0].Name, groups[1].Name}
	require.ElementsMatch(t, []string{"lounge", "bedroom_lights"}, names)
}

// requireSubscription subscribes sub to a device resource (and its %2F
// form), commands the device through cmd and waits for the notification.
func requireSubscription(t *testing.T, sub, cmd *client.Client, device string) {
	t.Helper()
	updates := collectUpdates(sub)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	uri := "z2m://devices/" + device
	req := mcpgo.SubscribeRequest{}
	req.Params.URI = uri
	require.NoError(t, sub.Subscribe(ctx, req))
	req.Params.URI = "z2m://devices"
	require.NoError(t, sub.Subscribe(ctx, req))
	res, out := setter(t, cmd, "set_lights", map[string]any{"targets": device, "brightness": 12})
	require.False(t, res.IsError, text(res))
	require.Equal(t, "confirmed", out.Results[0].Status)
	updates.require(t, uri)
	updates.require(t, "z2m://devices")
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// post sends one raw JSON-RPC POST to url.
func post(t *testing.T, url, body string, header map[string]string) *http.Response {
	t.Helper()
	return httpDo(t, http.MethodPost, url, body, header)
}

// httpDo sends one raw request with JSON-RPC's content headers; the body is
// closed when t ends.
func httpDo(t *testing.T, method, url, body string, header map[string]string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const token = "s3cret-token"
	ts := httptest.NewServer(e.srv.HTTPHandler(mcp.HTTPConfig{Token: token, AllowOrigins: []string{"https://app.example"}}))
	t.Cleanup(ts.Close)
	url := ts.URL + "/mcp"
	auth := map[string]string{"Authorization": "Bearer " + token}

	t.Run("streamable HTTP client on 2025-11-25 with subscriptions", func(t *testing.T) {
		c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(auth), transport.WithContinuousListening())
		require.NoError(t, err)
		c = client.NewClient(c.GetTransport(), pinned())
		init := startClient(t, c)
		require.Equal(t, mcpgo.ProtocolVersion20251125, init.ProtocolVersion)
		require.NotEmpty(t, c.GetSessionId())
		requireCore(t, c, len(e.sim.Devices()), "lounge/ceiling")
		requireResources(t, c, len(e.sim.Devices()))
		// The command comes from another session: mcp-go v1.2.1's Streamable
		// HTTP server may hand a notification to this session's in-flight
		// POST, whose forwarder drops it once the POST ends (seen in about 1
		// run in 5 when the same session sends set_lights). In-process, the
		// same session is tested in TestResources.
		requireSubscription(t, c, e.client(t), "lounge/reading_lamp")
		res := call(t, c, "set_lights", map[string]any{"targets": "lounge/+", "state": "on"})
		requireToolError(t, res, "wildcard")
	})

	t.Run("streamable HTTP client on the default protocol", func(t *testing.T) {
		c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(auth))
		require.NoError(t, err)
		startClient(t, c)
		requireCore(t, c, len(e.sim.Devices()), "lounge/tv_backlight")
	})

	t.Run("no token", func(t *testing.T) {
		resp := post(t, url, initializeBody, nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer"), resp.Header.Get("WWW-Authenticate"))
		c, err := client.NewStreamableHttpClient(url)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, c.Start(ctx))
		defer c.Close()
		_, err = c.Initialize(ctx, mcpgo.InitializeRequest{})
		require.Error(t, err, "a client without the token must not get in")
	})

	t.Run("wrong token", func(t *testing.T) {
		resp := post(t, url, initializeBody, map[string]string{"Authorization": "Bearer wrong"})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
		resp = post(t, url, initializeBody, map[string]string{"Authorization": token})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the token without the Bearer scheme")
		body, _ := io.ReadAll(resp.Body)
		require.NotContains(t, string(body), token)
	})

	t.Run("right token", func(t *testing.T) {
		resp := post(t, url, initializeBody, auth)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotEmpty(t, resp.Header.Get("Mcp-Session-Id"))
	})

	t.Run("foreign Origin", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "http://localhost.evil.example", "null"} {
			resp := post(t, url, initializeBody, map[string]string{"Authorization": "Bearer " + token, "Origin": origin})
			require.Equal(t, http.StatusForbidden, resp.StatusCode, origin)
		}
	})

	t.Run("loopback and allowed Origins", func(t *testing.T) {
		for _, origin := range []string{"http://localhost:6274", "http://127.0.0.1", "http://[::1]:8080", "https://app.example"} {
			resp := post(t, url, initializeBody, map[string]string{"Authorization": "Bearer " + token, "Origin": origin})
			require.Equal(t, http.StatusOK, resp.StatusCode, origin)
		}
	})

	t.Run("forged session id", func(t *testing.T) {
		resp := post(t, url, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, map[string]string{
			"Authorization": "Bearer " + token, "Mcp-Session-Id": "forged-0000", "MCP-Protocol-Version": "2025-11-25",
		})
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})

	t.Run("body too large", func(t *testing.T) {
		big := `{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
		resp := post(t, url, big, auth)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	})

	t.Run("body too large without Content-Length", func(t *testing.T) {
		big := `{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		// A reader of unknown length makes the request chunked.
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, io.MultiReader(strings.NewReader(big)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.GreaterOrEqual(t, resp.StatusCode, 400, "an oversized chunked body must be refused")
		require.Less(t, resp.StatusCode, 500)
	})

	e.cmds.take()
	t.Run("refused requests publish nothing", func(t *testing.T) {
		call := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"set_lights","arguments":{"targets":"lounge/ceiling","state":"on"}}}`
		require.Equal(t, http.StatusUnauthorized, post(t, url, call, nil).StatusCode)
		require.Equal(t, http.StatusForbidden, post(t, url, call, map[string]string{"Authorization": "Bearer " + token, "Origin": "https://evil.example"}).StatusCode)
		require.Equal(t, http.StatusNotFound, post(t, url, call, map[string]string{"Authorization": "Bearer " + token, "Mcp-Session-Id": "forged", "MCP-Protocol-Version": "2025-11-25"}).StatusCode)
		e.cmds.requireNothingPublished(t)
	})
}
