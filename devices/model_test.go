package devices

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// compact returns the fixture as Zigbee2MQTT sends it (compact JSON).
func compact(t testing.TB, name string) []byte {
	var v any
	require.NoError(t, json.Unmarshal(readFixture(t, name), &v))
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

type transcriptLine struct{ topic, payload string }

// transcript returns home-transcript.tsv with placeholders filled in.
func transcript(t testing.TB) []transcriptLine {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "home-transcript.tsv"))
	require.NoError(t, err)
	defer f.Close()
	fill := map[string][]byte{
		"zigbee2mqtt/bridge/info":    compact(t, "home-bridge-info.json"),
		"zigbee2mqtt/bridge/devices": compact(t, "home-bridge-devices.json"),
	}
	var out []transcriptLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		topic, payload, _ := strings.Cut(sc.Text(), "\t")
		if strings.HasPrefix(payload, "<") {
			b, ok := fill[topic]
			if !ok {
				continue
			}
			payload = string(b)
		}
		out = append(out, transcriptLine{topic, payload})
	}
	require.NoError(t, sc.Err())
	return out
}

func loadFixtureModel(t testing.TB) *Model {
	m := New(Options{Logger: zerolog.Nop()})
	m.HandleMessage("zigbee2mqtt/bridge/state", []byte(`{"state":"online"}`))
	m.HandleMessage("zigbee2mqtt/bridge/info", compact(t, "home-bridge-info.json"))
	m.HandleMessage("zigbee2mqtt/bridge/devices", compact(t, "home-bridge-devices.json"))
	m.HandleMessage("zigbee2mqtt/bridge/groups", compact(t, "home-bridge-groups.json"))
	return m
}

func TestModelMatchesFixtures(t *testing.T) {
	m := loadFixtureModel(t)
	s := m.Snapshot()

	var raw []map[string]any
	require.NoError(t, json.Unmarshal(readFixture(t, "home-bridge-devices.json"), &raw))
	require.Len(t, s.Devices(), len(raw))
	for _, rd := range raw {
		d := s.Device(rd["friendly_name"].(string))
		require.NotNil(t, d, rd["friendly_name"])
		require.Equal(t, rd["ieee_address"], d.IEEEAddress)
		def, ok := rd["definition"].(map[string]any)
		if !ok {
			require.Nil(t, d.Definition)
			continue
		}
		require.Equal(t, def["model"], d.Definition.Model)
		// Exposes round-trip: every field we parse equals the fixture's.
		want, err := json.Marshal(def["exposes"])
		require.NoError(t, err)
		got, err := json.Marshal(d.Definition.Exposes)
		require.NoError(t, err)
		require.JSONEq(t, stripUnparsed(t, want), string(got), d.FriendlyName)
		eps := rd["endpoints"].(map[string]any)
		require.Len(t, d.Endpoints, len(eps))
	}

	require.Len(t, s.Groups(), 3)
	lounge := s.Group("lounge")
	require.NotNil(t, lounge)
	require.Equal(t, []Scene{{ID: 1, Name: "Movie"}}, lounge.Scenes)
	require.Len(t, lounge.Members, 3)
	require.Same(t, lounge, s.Group("1"))
	require.Len(t, s.Members(s.Group("downstairs")), 4)
	require.Len(t, s.GroupsOf("0x680ae2fffe1a0001"), 2)

	b := s.Bridge
	require.True(t, b.Online())
	require.True(t, b.InfoReceived)
	require.True(t, b.AvailabilityOn)
	require.NotEmpty(t, b.Version)
}

// stripUnparsed drops the expose keys the model deliberately ignores.
func stripUnparsed(t testing.TB, b []byte) string {
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			delete(x, "homeassistant")
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	out, err := json.Marshal(v)
	require.NoError(t, err)
	return string(out)
}

func TestDeviceKinds(t *testing.T) {
	s := loadFixtureModel(t).Snapshot()
	want := map[string]string{
		"lounge/ceiling":      TypeLight,
		"lounge/radiator":     TypeClimate,
		"lounge/blind":        TypeCover,
		"kitchen/coffee_plug": TypeSwitch,
		"kitchen/window":      TypeSensor,
		"hall/switch":         TypeSwitch,
		"guest/trv":           TypeClimate, // switch exposes come first, climate wins
		"bedroom/curtain":     TypeCover,
		"Coordinator":         TypeOther,
		"remote_dimmer":       TypeSensor,
	}
	for name, kind := range want {
		require.Equal(t, kind, s.Device(name).Kind(), name)
	}
	require.Equal(t, "lounge", s.Device("lounge/ceiling").Room)
	require.Equal(t, "", s.Device("remote_dimmer").Room)
	sw := s.Device("hall/switch").Specific(TypeSwitch)
	require.Len(t, sw, 2)
	require.Equal(t, "state_left", sw[0].Features[0].Property)
	require.Equal(t, "left", s.Device("hall/switch").EndpointByName("left").Name)
	trv := s.Device("bedroom/trv").FindProperty("occupied_heating_setpoint")
	require.NotNil(t, trv)
	require.Equal(t, 0.5, *trv.ValueStep)
}

func TestTranscriptIngest(t *testing.T) {
	m := New(Options{Logger: zerolog.Nop()})
	m.HandleMessage("zigbee2mqtt/bridge/groups", compact(t, "home-bridge-groups.json"))
	lines := transcript(t)
	renameAt := -1
	for i, l := range lines {
		if l.topic == "zigbee2mqtt/bridge/request/device/rename" {
			renameAt = i
		}
	}
	require.Positive(t, renameAt)
	for _, l := range lines[:renameAt] {
		m.HandleMessage(l.topic, []byte(l.payload))
	}
	s := m.Snapshot()
	require.True(t, s.Bridge.Online())
	ceiling := s.Device("lounge/ceiling")
	st := m.State(ceiling.IEEEAddress)
	require.NotNil(t, st)
	// After the scene recall the ceiling reports brightness 60.
	require.EqualValues(t, 60, st.Values["brightness"])
	require.Equal(t, AvailabilityOnline, m.Availability(ceiling.IEEEAddress))
	require.Equal(t, AvailabilityOffline, m.Availability(s.Device("guest/plug").IEEEAddress))
	require.Equal(t, "ON", m.State(s.Device("hall/switch").IEEEAddress).Values["state_left"])
	require.NotNil(t, m.State(GroupKey(s.Group("lounge"))))

	// The rest (the fixture's bridge/devices stands in for the renamed list,
	// so the rename itself is covered by TestRemovalAndRenameEvents).
	plug := s.Device("office/plug").IEEEAddress
	for _, l := range lines[renameAt:] {
		m.HandleMessage(l.topic, []byte(l.payload))
	}
	s = m.Snapshot()
	require.NotNil(t, m.State(plug))
	require.False(t, s.Bridge.Online(), "the will message ends the transcript")
	logs := m.RecentLogs()
	require.NotEmpty(t, logs)
}

func TestPendingBeforeInventory(t *testing.T) {
	// The broker may deliver retained availability before bridge/devices.
	m := New(Options{Logger: zerolog.Nop()})
	m.HandleMessage("zigbee2mqtt/lounge/ceiling/availability", []byte(`{"state":"offline"}`))
	m.HandleMessage("zigbee2mqtt/lounge/ceiling", []byte(`{"state":"ON","brightness":10}`))
	m.HandleMessage("zigbee2mqtt/lounge/ceiling/set", []byte(`{"state":"ON"}`))
	m.HandleMessage("zigbee2mqtt/bridge/devices", compact(t, "home-bridge-devices.json"))
	ieee := m.Snapshot().Device("lounge/ceiling").IEEEAddress
	require.Equal(t, AvailabilityOffline, m.Availability(ieee))
	require.Equal(t, "ON", m.State(ieee).Values["state"])
}

func TestLegacyPayloadsAndMerge(t *testing.T) {
	m := loadFixtureModel(t)
	m.HandleMessage("zigbee2mqtt/bridge/state", []byte(`offline`))
	require.False(t, m.Snapshot().Bridge.Online())
	m.HandleMessage("zigbee2mqtt/bridge/state", []byte(`online`))
	require.True(t, m.Snapshot().Bridge.Online())

	ieee := m.Snapshot().Device("lounge/reading_lamp").IEEEAddress
	m.HandleMessage("zigbee2mqtt/lounge/reading_lamp/availability", []byte(`offline`))
	require.Equal(t, AvailabilityOffline, m.Availability(ieee))
	m.HandleMessage("zigbee2mqtt/lounge/reading_lamp", []byte(`{"color":{"x":0.1,"y":0.2},"state":"ON"}`))
	m.HandleMessage("zigbee2mqtt/lounge/reading_lamp", []byte(`{"color":{"hue":30}}`))
	st := m.State(ieee)
	require.Equal(t, map[string]any{"x": 0.1, "y": 0.2, "hue": 30.0}, st.Values["color"])
	require.Equal(t, "ON", st.Values["state"])
	require.Equal(t, map[string]any{"color": map[string]any{"hue": 30.0}}, st.Message)
	// Junk is ignored.
	m.HandleMessage("zigbee2mqtt/lounge/reading_lamp", []byte(``))
	m.HandleMessage("zigbee2mqtt/lounge/reading_lamp", []byte(`[1,2]`))
	m.HandleMessage("other/lounge/reading_lamp", []byte(`{"state":"OFF"}`))
	require.Same(t, st, m.State(ieee))
}

func TestNamesWithSlashesAndDots(t *testing.T) {
	m := New(Options{Logger: zerolog.Nop()})
	m.HandleMessage("home/zigbee/bridge/devices", []byte(`[]`)) // other base: ignored
	m = New(Options{BaseTopic: "home/zigbee", Logger: zerolog.Nop()})
	m.HandleMessage("home/zigbee/bridge/devices", []byte(`[
	 {"ieee_address":"0x01","friendly_name":"wohnzimmer.light.wall.right","type":"Router","definition":{"model":"m","exposes":[{"type":"light","features":[{"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF"}]}]}},
	 {"ieee_address":"0x02","friendly_name":"a/b","type":"Router"},
	 {"ieee_address":"0x03","friendly_name":"a/b/c","type":"Router"},
	 {"ieee_address":"0x04","friendly_name":"a/b/availability","type":"Router"}]`))
	m.HandleMessage("home/zigbee/a/b/c", []byte(`{"v":3}`))
	m.HandleMessage("home/zigbee/a/b", []byte(`{"v":2}`))
	m.HandleMessage("home/zigbee/a/b/availability", []byte(`{"v":4}`))
	m.HandleMessage("home/zigbee/a/b/availability/availability", []byte(`{"state":"online"}`))
	m.HandleMessage("home/zigbee/wohnzimmer.light.wall.right", []byte(`{"state":"ON"}`))
	require.EqualValues(t, 2, m.State("0x02").Values["v"])
	require.EqualValues(t, 3, m.State("0x03").Values["v"])
	require.EqualValues(t, 4, m.State("0x04").Values["v"])
	require.Equal(t, AvailabilityOnline, m.Availability("0x04"))
	require.Equal(t, "ON", m.State("0x01").Values["state"])
	require.Equal(t, TypeLight, m.Snapshot().Device("0x01").Kind())
}

func TestWatchersAndErrors(t *testing.T) {
	m := loadFixtureModel(t)
	s := m.Snapshot()
	ieee := s.Device("lounge/ceiling").IEEEAddress
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	w := m.Watch(ieee)
	defer w.Close()
	m.HandleMessage("zigbee2mqtt/bridge/logging", []byte(`{"level":"error","message":"z2m: Publish 'set' 'brightness' to 'lounge/ceiling' failed: 'Error: Brightness value of message: '{\"brightness\":\"bright\"}' invalid, must be a number >= 0 and =< 254'"}`))
	m.HandleMessage("zigbee2mqtt/lounge/ceiling", []byte(`{"state":"ON"}`))
	m.HandleMessage("zigbee2mqtt/lounge/ceiling/availability", []byte(`{"state":"offline"}`))
	m.HandleMessage("zigbee2mqtt/bridge/state", []byte(`{"state":"offline"}`))

	ev, err := w.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, EventError, ev.Kind)
	require.Equal(t, "set", ev.Error.Op)
	require.Equal(t, "brightness", ev.Error.Key)
	require.Equal(t, "lounge/ceiling", ev.Error.Name)
	require.Contains(t, ev.Error.Reason, "must be a number >= 0")
	ev, _ = w.Next(ctx)
	require.Equal(t, EventState, ev.Kind)
	ev, _ = w.Next(ctx)
	require.Equal(t, EventAvailability, ev.Kind)
	require.Equal(t, AvailabilityOffline, ev.Availability)
	ev, _ = w.Next(ctx)
	require.Equal(t, EventBridge, ev.Kind)
	require.False(t, ev.BridgeOnline)

	// WaitState sees only later messages that satisfy the predicate.
	done := make(chan *State, 1)
	go func() {
		st, err := m.WaitState(ctx, ieee, func(s *State) bool { return s.Values["brightness"] == 77.0 })
		if err == nil {
			done <- st
		}
		close(done)
	}()
	require.Eventually(t, func() bool {
		m.HandleMessage("zigbee2mqtt/lounge/ceiling", []byte(`{"brightness":76}`))
		m.HandleMessage("zigbee2mqtt/lounge/ceiling", []byte(`{"brightness":77}`))
		select {
		case st := <-done:
			return st != nil && st.Values["brightness"] == 77.0
		default:
			return false
		}
	}, 5*time.Second, 10*time.Millisecond)

	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	_, err = m.WaitError(short, ieee)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestParseLogError(t *testing.T) {
	cases := []struct {
		msg             string
		op, key, name   string
		ok              bool
		reasonFragments string
	}{
		{"z2m: Publish 'set' 'state' to 'guest/plug' failed: 'Error: ZCL command 0xa4/1 genOnOff.on({}, {\"timeout\":10000}) failed (Timeout after 10000ms)'", "set", "state", "guest/plug", true, "Timeout"},
		{"z2m: No converter available for 'foo' on 'lounge/ceiling': (1)", "set", "foo", "lounge/ceiling", true, "No converter"},
		{"z2m: Cannot publish to unsupported device 'x/y'", "", "", "x/y", true, "unsupported"},
		{"z2m: Entity 'nosuch' is unknown", "", "", "nosuch", true, "unknown"},
		{"Device 'hall/switch' has no endpoint 'middle'", "", "", "hall/switch", true, "endpoint"},
		{"z2m: Zigbee2MQTT started!", "", "", "", false, ""},
		{"z2m: Publish 'set' 'state' to", "", "", "", false, ""},
	}
	for _, c := range cases {
		le, ok := ParseLogError(c.msg)
		require.Equal(t, c.ok, ok, c.msg)
		if !ok {
			continue
		}
		require.Equal(t, c.op, le.Op)
		require.Equal(t, c.key, le.Key)
		require.Equal(t, c.name, le.Name)
		require.Contains(t, le.Reason, c.reasonFragments)
		require.NotContains(t, le.Reason, "z2m: ")
	}
}

func TestRemovalAndRenameEvents(t *testing.T) {
	m := loadFixtureModel(t)
	s := m.Snapshot()
	ieee := s.Device("office/plug").IEEEAddress
	m.HandleMessage("zigbee2mqtt/office/plug", []byte(`{"state":"ON"}`))
	w := m.Watch(ieee)
	defer w.Close()

	var devs []map[string]any
	require.NoError(t, json.Unmarshal(readFixture(t, "home-bridge-devices.json"), &devs))
	for _, d := range devs {
		if d["ieee_address"] == ieee {
			d["friendly_name"] = "office/heater"
		}
	}
	b, _ := json.Marshal(devs)
	m.HandleMessage("zigbee2mqtt/bridge/devices", b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := w.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, EventRenamed, ev.Kind)
	require.Equal(t, "office/heater", ev.Name)
	require.Equal(t, "ON", m.State(ieee).Values["state"], "state keyed by IEEE survives a rename")
	m.HandleMessage("zigbee2mqtt/office/heater", []byte(`{"state":"OFF"}`))
	require.Equal(t, "OFF", m.State(ieee).Values["state"])

	var kept []map[string]any
	for _, d := range devs {
		if d["ieee_address"] != ieee {
			kept = append(kept, d)
		}
	}
	b, _ = json.Marshal(kept)
	m.HandleMessage("zigbee2mqtt/bridge/devices", b)
	for {
		ev, err = w.Next(ctx)
		require.NoError(t, err)
		if ev.Kind == EventRemoved {
			break
		}
	}
	require.Nil(t, m.State(ieee))
	require.Nil(t, m.Snapshot().Device("office/heater"))
}

func TestRequestResponse(t *testing.T) {
	m := loadFixtureModel(t)
	pub := PublisherFunc(func(_ context.Context, topic string, payload []byte) error {
		require.Equal(t, "zigbee2mqtt/bridge/request/health_check", topic)
		var req map[string]any
		require.NoError(t, json.Unmarshal(payload, &req))
		go m.HandleMessage("zigbee2mqtt/bridge/response/health_check",
			[]byte(`{"data":{"healthy":true},"status":"ok","transaction":"`+req["transaction"].(string)+`"}`))
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := m.Request(ctx, pub, "health_check", nil)
	require.NoError(t, err)
	require.JSONEq(t, `{"healthy":true}`, string(r.Data))

	errPub := PublisherFunc(func(_ context.Context, _ string, payload []byte) error {
		var req map[string]any
		_ = json.Unmarshal(payload, &req)
		go m.HandleMessage("zigbee2mqtt/bridge/response/device/rename",
			[]byte(`{"data":{},"error":"Device 'x' does not exist","status":"error","transaction":"`+req["transaction"].(string)+`"}`))
		return nil
	})
	_, err = m.Request(ctx, errPub, "device/rename", map[string]any{"from": "x", "to": "y"})
	var be *BridgeError
	require.ErrorAs(t, err, &be)
	require.Contains(t, be.Message, "does not exist")
}
