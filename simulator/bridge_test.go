package simulator

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHealthCheck(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"bridge/request/health_check", `{"transaction":"abc"}`)
	resp := h.waitMsg(from, base+"bridge/response/health_check", nil)
	require.Equal(t, map[string]any{"data": map[string]any{"healthy": true}, "status": "ok", "transaction": "abc"}, resp)
	from = h.mark()
	h.send(base+"bridge/request/health_check", ``)
	require.Equal(t, map[string]any{"data": map[string]any{"healthy": true}, "status": "ok"}, h.waitMsg(from, base+"bridge/response/health_check", nil))
}

func TestUnknownRequestGetsNoResponse(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"bridge/request/does/not/exist", `{"transaction":1}`)
	h.settle()
	require.Equal(t, []string{base + "test/marker"}, topicsAll(h.out.since(from)))
}

func TestRenameSideEffects(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"bridge/request/device/rename", `{"from":"office/plug","to":"office/heater_plug","transaction":"t1"}`)
	resp := h.waitMsg(from, base+"bridge/response/device/rename", nil)
	require.Equal(t, map[string]any{"data": map[string]any{"from": "office/plug", "homeassistant_rename": false, "to": "office/heater_plug"}, "status": "ok", "transaction": "t1"}, resp)
	ms := h.out.since(from)
	require.Equal(t, []string{
		base + "office/plug",
		base + "office/plug/availability",
		base + "office/heater_plug/availability",
		base + "bridge/info",
		base + "bridge/devices",
		base + "office/heater_plug",
		base + "bridge/response/device/rename",
	}, topicsAll(ms))
	require.Equal(t, rec{base + "office/plug", 0, true, ""}, ms[0])
	require.Equal(t, rec{base + "office/plug/availability", 1, true, ""}, ms[1])
	require.Contains(t, ms[4].Payload, `"friendly_name":"office/heater_plug"`)
	// The new name works, the old one is gone.
	from = h.mark()
	h.send(base+"office/heater_plug/set", `{"state":"ON"}`)
	require.Equal(t, "ON", h.waitMsg(from, base+"office/heater_plug", nil)["state"])
	h.send(base+"office/plug/set", `{"state":"ON"}`)
	require.Equal(t, "z2m: Entity 'office/plug' is unknown", h.waitLog(from, "unknown"))
}

func TestRenameValidation(t *testing.T) {
	h := newHarness(t, fastConfig())
	// Ordered: Zigbee2MQTT suppresses a log line identical to the previous one.
	cases := []struct{ req, want string }{
		{`{"from":"office/plug","to":"/lead"}`, "friendly_name is not allowed to end or start with /"},
		{`{"from":"nosuch","to":"x"}`, "Device 'nosuch' does not exist"},
		{`{"from":"office/plug","to":"a+b"}`, "MQTT wildcard (+ and #) not allowed in friendly_name ('a+b')"},
		{`{"from":"office/plug","to":"a/#"}`, "MQTT wildcard (+ and #) not allowed in friendly_name ('a/#')"},
		{`{"from":"office/plug","to":"trail/"}`, "friendly_name is not allowed to end or start with /"},
		{`{"from":"office/plug","to":"lamp/2"}`, `Friendly name cannot end with a "/DIGIT" ('lamp/2')`},
		{`{"from":"office/plug","to":"lounge"}`, "friendly_name 'lounge' is already in use"},
		{`{"from":"office/plug","to":"hall/switch"}`, "friendly_name 'hall/switch' is already in use"},
		{`{"from":"office/plug","to":"a\u0001b"}`, "friendly_name is not allowed to contain control char"},
	}
	for _, c := range cases {
		req, want := c.req, c.want
		from := h.mark()
		h.send(base+"bridge/request/device/rename", req[:len(req)-1]+`,"transaction":7}`)
		resp := h.waitMsg(from, base+"bridge/response/device/rename", nil)
		require.Equal(t, map[string]any{"data": map[string]any{}, "error": want, "status": "error", "transaction": 7.0}, resp, req)
		require.Equal(t, "z2m: Request 'zigbee2mqtt/bridge/request/device/rename' failed with error: '"+want+"'", h.waitLog(from, "failed with error"))
	}
}

func TestPermitJoin(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"bridge/request/permit_join", `{"time":120,"transaction":2}`)
	resp := h.waitMsg(from, base+"bridge/response/permit_join", nil)
	require.Equal(t, map[string]any{"data": map[string]any{"time": 120.0}, "status": "ok", "transaction": 2.0}, resp)
	info := h.waitMsg(from, base+"bridge/info", nil)
	require.Equal(t, true, info["permit_join"])
	require.Greater(t, info["permit_join_end"], 0.0)

	from = h.mark()
	h.send(base+"bridge/request/permit_join", `{"time":0}`)
	info = h.waitMsg(from, base+"bridge/info", nil)
	require.Equal(t, false, info["permit_join"])
	require.NotContains(t, info, "permit_join_end")

	from = h.mark()
	h.send(base+"bridge/request/permit_join", `{"time":255}`)
	resp = h.waitMsg(from, base+"bridge/response/permit_join", nil)
	require.Equal(t, map[string]any{"data": map[string]any{}, "error": "Cannot permit join for more than 254 seconds.", "status": "error"}, resp)
}

func TestGroupMembership(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	h.send(base+"bridge/request/group/add", `{"friendly_name":"office","transaction":"g"}`)
	resp := h.waitMsg(from, base+"bridge/response/group/add", nil)
	require.Equal(t, map[string]any{"data": map[string]any{"friendly_name": "office", "id": 3.0}, "status": "ok", "transaction": "g"}, resp)
	from = h.mark()
	h.send(base+"bridge/request/group/members/add", `{"group":"office","device":"office/desk_lamp"}`)
	resp = h.waitMsg(from, base+"bridge/response/group/members/add", nil)
	require.Equal(t, map[string]any{"data": map[string]any{"device": "office/desk_lamp", "endpoint": "default", "group": "office"}, "status": "ok"}, resp)
	groups := h.waitMsg(from, base+"bridge/groups", nil)
	_ = groups
	from = h.mark()
	h.send(base+"office/set", `{"state":"ON"}`)
	require.Equal(t, "ON", h.waitMsg(from, base+"office/desk_lamp", nil)["state"])
	from = h.mark()
	h.send(base+"bridge/request/group/members/add", `{"group":"nope","device":"office/desk_lamp"}`)
	require.Equal(t, "Group 'nope' does not exist", h.waitMsg(from, base+"bridge/response/group/members/add", nil)["error"])
}

func TestUnsupportedDevice(t *testing.T) {
	home := SampleHome()
	home.Devices = append(home.Devices, map[string]any{
		"ieee_address": "0x00000000deadbeef", "friendly_name": "mystery", "type": "EndDevice", "supported": false,
		"network_address": 1234, "disabled": false, "endpoints": map[string]any{},
	})
	cfg := fastConfig()
	cfg.Home = home
	h := newHarness(t, cfg)
	from := h.mark()
	h.send(base+"mystery/set", `{"state":"ON"}`)
	require.Equal(t, "z2m: Cannot publish to unsupported device 'mystery'", h.waitLog(from, "unsupported"))
}

func TestReportAndState(t *testing.T) {
	h := newHarness(t, fastConfig())
	from := h.mark()
	require.NoError(t, h.e.report("lounge/ceiling", map[string]any{"state": "ON", "brightness": 10}))
	st := h.waitMsg(from, base+"lounge/ceiling", nil)
	require.EqualValues(t, 10, st["brightness"])
	require.Equal(t, "ON", h.waitMsg(from, base+"lounge", nil)["state"], "member report reaches the group")
	require.EqualValues(t, 10, h.e.stateOf("lounge/ceiling")["brightness"])
	require.ErrorIs(t, h.e.report("nope", nil), ErrUnknownDevice)
}

func TestParseHomeForms(t *testing.T) {
	h, err := ParseHome([]byte(`[{"ieee_address":"0x1","friendly_name":"a","type":"Router","supported":true,"definition":{"exposes":[]}}]`))
	require.NoError(t, err)
	require.Len(t, h.Devices, 1)
	h, err = ParseHome([]byte(`{"devices":[{"ieee_address":"0x1","type":"Router"}],"groups":[{"id":4,"friendly_name":"g","members":[{"ieee_address":"0x1","endpoint":1}],"scenes":[]}],"states":{"0x1":{"x":1}}}`))
	require.NoError(t, err)
	require.Equal(t, "0x1", h.Devices[0]["friendly_name"])
	_, err = ParseHome([]byte(`"nope"`))
	require.Error(t, err)
	_, err = ParseHome([]byte(`[]`))
	require.Error(t, err)
	// A loaded home gains a coordinator.
	out := &recorder{}
	e, err := newCore(Config{Home: h}, out)
	require.NoError(t, err)
	defer e.close()
	var n int
	e.call(func() { n = len(e.buildDevices()) })
	require.Equal(t, 2, n)
}

func TestCommandTopic(t *testing.T) {
	cases := []struct{ in, entity, cmd, attr string }{
		{"lamp/set", "lamp", "set", ""},
		{"a/b/set/brightness", "a/b", "set", "brightness"},
		{"a/left/get", "a/left", "get", ""},
		{"a/set/x/set", "a", "set", "x/set"},
		{"a/setting/set", "a/setting", "set", ""},
		{"a/set/", "", "", ""},
		{"bridgelamp/set", "", "", ""},
		{"lamp", "", "", ""},
	}
	for _, c := range cases {
		e, cmd, attr, ok := commandTopic(c.in)
		require.Equal(t, c.entity != "", ok, c.in)
		require.Equal(t, []string{c.entity, c.cmd, c.attr}, []string{e, cmd, attr}, c.in)
	}
}
