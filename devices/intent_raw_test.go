package devices

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuildRaw(t *testing.T) {
	dev := intentDevices(t)
	for _, tc := range []struct {
		name    string
		device  string
		payload string
		cur     *State
		want    cmdWant
	}{
		{name: "light state and brightness", device: "lounge/ceiling", payload: `{"state":"on","brightness":200}`,
			want: cmdWant{payload: map[string]any{"state": "ON", "brightness": 200.0},
				expect:   []Expectation{{Property: "brightness", Value: 200.0, Tolerance: 1}, {Property: "state", Value: "ON"}},
				readback: []string{"brightness", "state"}}},
		{name: "off with brightness expects state only", device: "lounge/ceiling", payload: `{"state":"OFF","brightness":20,"color_temp":300}`,
			want: cmdWant{payload: map[string]any{"state": "OFF", "brightness": 20.0, "color_temp": 300.0},
				expect: []Expectation{{Property: "state", Value: "OFF"}}, readback: []string{"state"}}},
		{name: "color temp preset", device: "lounge/ceiling", payload: `{"color_temp":"Warm"}`,
			want: cmdWant{payload: map[string]any{"color_temp": "warm"},
				expect: []Expectation{{Property: "color_temp", Value: 454.0, Tolerance: 2}}, readback: []string{"color_temp"}}},
		{name: "write-only effect", device: "lounge/ceiling", payload: `{"effect":"BLINK"}`,
			want: cmdWant{payload: map[string]any{"effect": "blink"}}},
		{name: "stateful effect", device: "lounge/reading_lamp", payload: `{"effect":"candle"}`,
			want: cmdWant{payload: map[string]any{"effect": "candle"}, expect: []Expectation{{Property: "effect", Value: "candle"}}}},
		{name: "xy colour", device: "lounge/reading_lamp", payload: `{"color":{"x":0.3,"y":0.4},"transition":1.5}`,
			want: cmdWant{payload: map[string]any{"color": map[string]any{"x": 0.3, "y": 0.4}, "transition": 1.5},
				expect: []Expectation{{Property: "color", Value: map[string]any{"x": 0.3, "y": 0.4}, Tolerance: 0.01}}, readback: []string{"color"}}},
		{name: "hs colour", device: "lounge/tv_backlight", payload: `{"color":{"hue":120,"saturation":50}}`,
			want: cmdWant{payload: map[string]any{"color": map[string]any{"hue": 120.0, "saturation": 50.0}},
				expect: []Expectation{{Property: "color", Value: map[string]any{"hue": 120.0, "saturation": 50.0}, Tolerance: 1}}, readback: []string{"color"}}},
		{name: "composite config", device: "lounge/ceiling", payload: `{"level_config":{"execute_if_off":true,"current_level_startup":100}}`,
			want: cmdWant{payload: map[string]any{"level_config": map[string]any{"execute_if_off": true, "current_level_startup": 100.0}},
				expect:   []Expectation{{Property: "level_config", Value: map[string]any{"execute_if_off": true, "current_level_startup": 100.0}}},
				readback: []string{"level_config"}}},
		{name: "toggle unknown", device: "lounge/ceiling", payload: `{"state":"toggle"}`,
			want: cmdWant{payload: map[string]any{"state": "TOGGLE"}, readback: []string{"state"}, notIdem: true}},
		{name: "toggle known", device: "office/plug", payload: `{"state":"TOGGLE"}`, cur: st(map[string]any{"state": "OFF"}),
			want: cmdWant{payload: map[string]any{"state": "TOGGLE"}, expect: []Expectation{{Property: "state", Value: "ON"}}, readback: []string{"state"}, notIdem: true}},
		{name: "endpoint state", device: "hall/switch", payload: `{"state_left":"off","operation_mode_right":"Decoupled"}`,
			want: cmdWant{payload: map[string]any{"state_left": "OFF", "operation_mode_right": "decoupled"},
				expect:   []Expectation{{Property: "operation_mode_right", Value: "decoupled"}, {Property: "state_left", Value: "OFF"}},
				readback: []string{"operation_mode_right", "state_left"}}},
		{name: "trv config", device: "bedroom/trv", payload: `{"child_lock":"lock","smart_temperature_control":true,"temperature_sensor_select":"External","frost_protection_temperature":7.5}`,
			want: cmdWant{payload: map[string]any{"child_lock": "LOCK", "smart_temperature_control": true, "temperature_sensor_select": "external", "frost_protection_temperature": 7.5},
				expect: []Expectation{
					{Property: "child_lock", Value: "LOCK"},
					{Property: "frost_protection_temperature", Value: 7.5, Tolerance: 0.25},
					{Property: "smart_temperature_control", Value: true},
					{Property: "temperature_sensor_select", Value: "external"},
				},
				readback: []string{"child_lock", "frost_protection_temperature", "smart_temperature_control", "temperature_sensor_select"}}},
		{name: "text", device: "bedroom/trv", payload: `{"weekly_schedule_monday":"00:00/20"}`,
			want: cmdWant{payload: map[string]any{"weekly_schedule_monday": "00:00/20"}, expect: []Expectation{{Property: "weekly_schedule_monday", Value: "00:00/20"}}}},
		{name: "numeric enum", device: "lounge/radiator", payload: `{"trv_mode":2}`,
			want: cmdWant{payload: map[string]any{"trv_mode": 2.0}, expect: []Expectation{{Property: "trv_mode", Value: 2.0}}, readback: []string{"trv_mode"}}},
		{name: "setpoint via raw", device: "guest/trv", payload: `{"current_heating_setpoint":21}`,
			want: cmdWant{payload: map[string]any{"current_heating_setpoint": 21.0}, expect: []Expectation{{Property: "current_heating_setpoint", Value: 21.0, Tolerance: 0.25}}}},
		{name: "tuya switch-type binary", device: "guest/trv", payload: `{"auto_lock":"auto"}`,
			want: cmdWant{payload: map[string]any{"auto_lock": "AUTO"}, expect: []Expectation{{Property: "auto_lock", Value: "AUTO"}}}},
		{name: "write-only on sensor", device: "kitchen/window", payload: `{"identify":"identify"}`,
			want: cmdWant{payload: map[string]any{"identify": "identify"}}},
		{name: "cover state", device: "lounge/blind", payload: `{"state":"open"}`,
			want: cmdWant{payload: map[string]any{"state": "OPEN"}, expect: []Expectation{{Property: "state", Value: "OPEN"}}}},

		{name: "no writable properties", device: "hall/motion", payload: `{"occupancy":true}`,
			want: cmdWant{unsupported: "hall/motion has no writable properties"}},

		{name: "empty", device: "lounge/ceiling", payload: `{}`, want: cmdWant{err: "payload is empty"}},
		{name: "brightness range", device: "lounge/ceiling", payload: `{"brightness":300}`,
			want: cmdWant{err: "brightness on lounge/ceiling must be 0–254, got 300"}},
		{name: "color temp range", device: "lounge/ceiling", payload: `{"color_temp":200}`,
			want: cmdWant{err: "color_temp on lounge/ceiling must be 250–454, got 200"}},
		{name: "numeric type", device: "lounge/ceiling", payload: `{"brightness":"max"}`,
			want: cmdWant{err: "brightness on lounge/ceiling must be a number 0–254"}},
		{name: "binary values", device: "lounge/ceiling", payload: `{"state":"dim"}`,
			want: cmdWant{err: "state on lounge/ceiling must be one of ON, OFF, TOGGLE"}},
		{name: "bool binary wants bool", device: "bedroom/trv", payload: `{"smart_temperature_control":"true"}`,
			want: cmdWant{err: "smart_temperature_control on bedroom/trv must be one of true, false"}},
		{name: "enum values", device: "lounge/ceiling", payload: `{"power_on_behavior":"sometimes"}`,
			want: cmdWant{err: "power_on_behavior on lounge/ceiling must be one of off, on, toggle, previous"}},
		{name: "numeric enum values", device: "lounge/radiator", payload: `{"trv_mode":3}`,
			want: cmdWant{err: "trv_mode on lounge/radiator must be one of 1, 2"}},
		{name: "text type", device: "bedroom/trv", payload: `{"weekly_schedule_monday":5}`,
			want: cmdWant{err: "weekly_schedule_monday on bedroom/trv must be a string"}},
		{name: "composite must be object", device: "lounge/reading_lamp", payload: `{"color":"red"}`,
			want: cmdWant{err: "color on lounge/reading_lamp must be an object with x, y, hue, saturation"}},
		{name: "composite unknown field", device: "lounge/reading_lamp", payload: `{"color":{"r":255}}`,
			want: cmdWant{err: `color on lounge/reading_lamp has no field "r"; fields: x, y, hue, saturation`}},
		{name: "composite nested range", device: "lounge/ceiling", payload: `{"level_config":{"current_level_startup":0}}`,
			want: cmdWant{err: "level_config.current_level_startup on lounge/ceiling must be 1–254, got 0"}},
		{name: "unknown key", device: "lounge/ceiling", payload: `{"brightnes":20}`,
			want: cmdWant{err: `lounge/ceiling has no writable property "brightnes"; writable: brightness, `}},
		{name: "read-only key", device: "kitchen/coffee_plug", payload: `{"power":20}`,
			want: cmdWant{err: "power is read-only on kitchen/coffee_plug", errAlso: []string{"writable: state, power_outage_memory"}}},
		{name: "transition only on lights", device: "kitchen/coffee_plug", payload: `{"state":"ON","transition":2}`,
			want: cmdWant{err: `kitchen/coffee_plug has no writable property "transition"`}},
		{name: "negative transition", device: "lounge/ceiling", payload: `{"state":"ON","transition":-2}`,
			want: cmdWant{err: "transition must be a number of seconds ≥ 0"}},
		{name: "long list of writable properties is cut", device: "bedroom/trv", payload: `{"nope":1}`,
			want: cmdWant{err: `bedroom/trv has no writable property "nope"; writable: `, errAlso: []string{"in all)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dev(tc.device)
			var payload map[string]any
			require.NoError(t, json.Unmarshal([]byte(tc.payload), &payload))
			cmd, err := BuildRaw(d, payload, tc.cur)
			checkCommand(t, d, cmd, err, tc.want)
			if err == nil && cmd.Unsupported == "" {
				_, err := json.Marshal(cmd.Payload)
				require.NoError(t, err)
			}
		})
	}
}

func TestBuildRawDoesNotAliasInput(t *testing.T) {
	d := intentDevices(t)("lounge/ceiling")
	in := map[string]any{"level_config": map[string]any{"execute_if_off": true}}
	cmd, err := BuildRaw(d, in, nil)
	require.NoError(t, err)
	cmd.Payload["level_config"].(map[string]any)["execute_if_off"] = false
	require.Equal(t, true, in["level_config"].(map[string]any)["execute_if_off"])
}

var fuzzRawDevices = []string{
	"lounge/ceiling", "lounge/reading_lamp", "kitchen/spots", "lounge/tv_backlight", "office/ceiling",
	"bedroom/trv", "guest/trv", "bathroom/thermostat", "hall/switch", "kitchen/coffee_plug",
	"lounge/blind", "bedroom/curtain", "lounge/radiator", "hall/motion", "front/door", "test/hs_strip",
}

func FuzzBuildRaw(f *testing.F) {
	for i, s := range []string{
		`{"state":"ON","brightness":200}`,
		`{"color":{"x":0.3,"y":0.4}}`,
		`{"color":{"hue":1e308,"saturation":-1}}`,
		`{"level_config":{"execute_if_off":true,"current_level_startup":"previous"}}`,
		`{"state_left":"toggle"}`,
		`{"occupied_heating_setpoint":21.5,"system_mode":"HEAT"}`,
		`{"trv_mode":[1,2],"position":null}`,
		`{"weekly_schedule_monday":{"a":{"b":[]}}}`,
		`{"":0}`,
		`[]`,
		`null`,
	} {
		f.Add([]byte(s), uint8(i))
	}
	dev := intentDevices(f)
	devices := make([]*Device, len(fuzzRawDevices))
	for i, n := range fuzzRawDevices {
		devices[i] = dev(n)
	}
	cur := st(map[string]any{"state": "ON", "brightness": 100.0, "state_left": "OFF"})
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		var payload map[string]any
		if json.Unmarshal(data, &payload) != nil {
			return
		}
		d := devices[int(which)%len(devices)]
		for _, c := range []*State{nil, cur} {
			cmd, err := BuildRaw(d, payload, c)
			if err != nil {
				require.NotEmpty(t, err.Error())
				continue
			}
			if cmd.Unsupported != "" {
				require.Empty(t, cmd.Payload)
				continue
			}
			require.NotEmpty(t, cmd.Payload)
			_, err = json.Marshal(cmd.Payload)
			require.NoError(t, err)
			for _, e := range cmd.Expect {
				_, ok := cmd.Payload[e.Property]
				require.True(t, ok, "expectation %s for a key not sent", e.Property)
			}
		}
	})
}
