package devices

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

func fp(v float64) *float64 { return &v }

// intentDevices returns a lookup of the fixture devices by friendly name, plus
// synthetic ones for shapes the fixture home lacks (hs-only and xy-only
// lights, a lock, a cover without position, a switch without toggle).
func intentDevices(t testing.TB) func(name string) *Device {
	t.Helper()
	s := loadFixtureModel(t).Snapshot()
	synthetic := map[string]*Device{}
	defs := map[string]*Definition{}
	for _, js := range []string{
		`{"ieee_address":"0x01","friendly_name":"test/hs_strip","type":"Router","definition":{"model":"HS1","exposes":[
			{"type":"light","features":[
				{"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF","value_toggle":"TOGGLE"},
				{"type":"numeric","name":"brightness","property":"brightness","access":7,"value_min":0,"value_max":254},
				{"type":"composite","name":"color_hs","property":"color","access":7,"features":[
					{"type":"numeric","name":"hue","property":"hue","access":7},
					{"type":"numeric","name":"saturation","property":"saturation","access":7}]}]}]}}`,
		`{"ieee_address":"0x02","friendly_name":"test/xy_bulb","type":"Router","definition":{"model":"XY1","exposes":[
			{"type":"light","features":[
				{"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF","value_toggle":"TOGGLE"},
				{"type":"numeric","name":"brightness","property":"brightness","access":7,"value_min":1,"value_max":100},
				{"type":"composite","name":"color_xy","property":"color","access":7,"features":[
					{"type":"numeric","name":"x","property":"x","access":7},
					{"type":"numeric","name":"y","property":"y","access":7}]}]}]}}`,
		`{"ieee_address":"0x03","friendly_name":"front/door","type":"EndDevice","power_source":"Battery","definition":{"model":"LK1","exposes":[
			{"type":"lock","features":[
				{"type":"binary","name":"state","property":"state","access":7,"value_on":"LOCK","value_off":"UNLOCK"},
				{"type":"enum","name":"lock_state","property":"lock_state","access":1,"values":["not_fully_locked","locked","unlocked"]}]}]}}`,
		`{"ieee_address":"0x04","friendly_name":"test/awning","type":"Router","definition":{"model":"AW1","exposes":[
			{"type":"cover","features":[
				{"type":"enum","name":"state","property":"state","access":3,"values":["OPEN","CLOSE","STOP"]}]}]}}`,
		`{"ieee_address":"0x05","friendly_name":"test/relay","type":"Router","definition":{"model":"RL1","exposes":[
			{"type":"switch","endpoint":"l1","features":[
				{"type":"binary","name":"state","property":"state_l1","endpoint":"l1","access":3,"value_on":"ON","value_off":"OFF"}]}]}}`,
		`{"ieee_address":"0x06","friendly_name":"test/thermostat","type":"Router","definition":{"model":"TH1","exposes":[
			{"type":"climate","features":[
				{"type":"numeric","name":"occupied_heating_setpoint","property":"occupied_heating_setpoint","access":7,"value_min":7,"value_max":30}]}]}}`,
	} {
		d, ok := parseDevice(gjson.Parse(js), defs)
		require.True(t, ok)
		synthetic[d.FriendlyName] = &d
	}
	return func(name string) *Device {
		t.Helper()
		if d, ok := synthetic[name]; ok {
			return d
		}
		d := s.Device(name)
		require.NotNil(t, d, name)
		return d
	}
}

func st(values map[string]any) *State { return &State{Values: values} }

// cmdWant is what a test expects of a built command.
type cmdWant struct {
	payload     map[string]any
	expect      []Expectation
	notes       []string
	unsupported string
	readback    []string
	notIdem     bool
	err         string // substrings (all must appear)
	errAlso     []string
}

func checkCommand(t *testing.T, d *Device, cmd Command, err error, w cmdWant) {
	t.Helper()
	if w.err != "" {
		require.Error(t, err)
		require.Contains(t, err.Error(), w.err)
		for _, s := range w.errAlso {
			require.Contains(t, err.Error(), s)
		}
		return
	}
	require.NoError(t, err)
	require.Same(t, d, cmd.Device)
	if w.unsupported != "" {
		require.Equal(t, w.unsupported, cmd.Unsupported)
		require.Empty(t, cmd.Payload)
		require.Empty(t, cmd.Expect)
		return
	}
	require.Empty(t, cmd.Unsupported)
	require.Equal(t, w.payload, cmd.Payload)
	require.Equal(t, w.expect, cmd.Expect)
	require.Equal(t, w.notes, cmd.Notes)
	require.Equal(t, w.readback, cmd.Readback)
	require.Equal(t, !w.notIdem, cmd.Idempotent)
}

func TestBuildLight(t *testing.T) {
	dev := intentDevices(t)
	on, off := "ON", "OFF"
	for _, tc := range []struct {
		name   string
		device string
		in     LightIntent
		cur    *State
		want   cmdWant
	}{
		{name: "on", device: "lounge/ceiling", in: LightIntent{State: "On"},
			want: cmdWant{payload: map[string]any{"state": on}, expect: []Expectation{{Property: "state", Value: on}}, readback: []string{"state"}}},
		{name: "off", device: "lounge/ceiling", in: LightIntent{State: "OFF"},
			want: cmdWant{payload: map[string]any{"state": off}, expect: []Expectation{{Property: "state", Value: off}}, readback: []string{"state"}}},
		{name: "brightness 50%", device: "lounge/ceiling", in: LightIntent{Brightness: fp(50)},
			want: cmdWant{payload: map[string]any{"brightness": 127.0}, expect: []Expectation{{Property: "brightness", Value: 127.0, Tolerance: 1}}, readback: []string{"brightness"}}},
		{name: "on at 100%", device: "kitchen/spots", in: LightIntent{State: "on", Brightness: fp(100)},
			want: cmdWant{payload: map[string]any{"state": on, "brightness": 254.0},
				expect:   []Expectation{{Property: "state", Value: on}, {Property: "brightness", Value: 254.0, Tolerance: 1}},
				readback: []string{"state", "brightness"}}},
		{name: "tiny brightness stays on", device: "lounge/ceiling", in: LightIntent{Brightness: fp(0.1)},
			want: cmdWant{payload: map[string]any{"brightness": 1.0}, expect: []Expectation{{Property: "brightness", Value: 1.0, Tolerance: 1}}, readback: []string{"brightness"}}},
		{name: "1% rounds", device: "lounge/ceiling", in: LightIntent{Brightness: fp(1)},
			want: cmdWant{payload: map[string]any{"brightness": 3.0}, expect: []Expectation{{Property: "brightness", Value: 3.0, Tolerance: 1}}, readback: []string{"brightness"}}},
		{name: "brightness scaled into device range 1-100", device: "test/xy_bulb", in: LightIntent{Brightness: fp(50)},
			want: cmdWant{payload: map[string]any{"brightness": 51.0}, expect: []Expectation{{Property: "brightness", Value: 51.0, Tolerance: 1}}, readback: []string{"brightness"}}},
		{name: "brightness 0% turns off", device: "lounge/ceiling", in: LightIntent{Brightness: fp(0)},
			want: cmdWant{payload: map[string]any{"state": off}, expect: []Expectation{{Property: "state", Value: off}},
				notes: []string{"brightness 0 % turns the light off"}, readback: []string{"state"}}},
		{name: "brightness 0% with off", device: "lounge/ceiling", in: LightIntent{State: "off", Brightness: fp(0)},
			want: cmdWant{payload: map[string]any{"state": off}, expect: []Expectation{{Property: "state", Value: off}},
				notes: []string{"brightness 0 % turns the light off"}, readback: []string{"state"}}},
		{name: "off with brightness expects only state", device: "lounge/ceiling", in: LightIntent{State: "off", Brightness: fp(40), ColorTempKelvin: fp(3000)},
			want: cmdWant{payload: map[string]any{"state": off, "brightness": 102.0, "color_temp": 333.0},
				expect: []Expectation{{Property: "state", Value: off}}, readback: []string{"state"}}},
		{name: "toggle unknown", device: "lounge/ceiling", in: LightIntent{State: "toggle"},
			want: cmdWant{payload: map[string]any{"state": "TOGGLE"}, readback: []string{"state"}, notIdem: true}},
		{name: "toggle from on", device: "lounge/ceiling", in: LightIntent{State: "TOGGLE"}, cur: st(map[string]any{"state": "ON"}),
			want: cmdWant{payload: map[string]any{"state": "TOGGLE"}, expect: []Expectation{{Property: "state", Value: off}}, readback: []string{"state"}, notIdem: true}},
		{name: "toggle from off", device: "lounge/ceiling", in: LightIntent{State: "toggle"}, cur: st(map[string]any{"state": "off"}),
			want: cmdWant{payload: map[string]any{"state": "TOGGLE"}, expect: []Expectation{{Property: "state", Value: on}}, readback: []string{"state"}, notIdem: true}},
		{name: "toggle with state missing from cur", device: "lounge/ceiling", in: LightIntent{State: "toggle"}, cur: st(map[string]any{"brightness": 3.0}),
			want: cmdWant{payload: map[string]any{"state": "TOGGLE"}, readback: []string{"state"}, notIdem: true}},
		{name: "step up clamps to 254", device: "lounge/ceiling", in: LightIntent{BrightnessStep: fp(10)}, cur: st(map[string]any{"brightness": 250.0}),
			want: cmdWant{payload: map[string]any{"brightness_step": 25.0}, expect: []Expectation{{Property: "brightness", Value: 254.0, Tolerance: 1}}, readback: []string{"brightness"}, notIdem: true}},
		{name: "step down clamps to 1", device: "lounge/ceiling", in: LightIntent{BrightnessStep: fp(-50)}, cur: st(map[string]any{"brightness": 100.0}),
			want: cmdWant{payload: map[string]any{"brightness_step": -127.0}, expect: []Expectation{{Property: "brightness", Value: 1.0, Tolerance: 1}}, readback: []string{"brightness"}, notIdem: true}},
		{name: "step within range", device: "lounge/ceiling", in: LightIntent{BrightnessStep: fp(-20)}, cur: st(map[string]any{"brightness": 200.0}),
			want: cmdWant{payload: map[string]any{"brightness_step": -51.0}, expect: []Expectation{{Property: "brightness", Value: 149.0, Tolerance: 1}}, readback: []string{"brightness"}, notIdem: true}},
		{name: "step unknown current", device: "lounge/ceiling", in: LightIntent{BrightnessStep: fp(10)},
			want: cmdWant{payload: map[string]any{"brightness_step": 25.0}, readback: []string{"brightness"}, notIdem: true}},
		{name: "tiny step is one unit", device: "lounge/ceiling", in: LightIntent{BrightnessStep: fp(-0.1)},
			want: cmdWant{payload: map[string]any{"brightness_step": -1.0}, readback: []string{"brightness"}, notIdem: true}},
		{name: "kelvin in range", device: "lounge/ceiling", in: LightIntent{ColorTempKelvin: fp(3000)},
			want: cmdWant{payload: map[string]any{"color_temp": 333.0}, expect: []Expectation{{Property: "color_temp", Value: 333.0, Tolerance: 2}}, readback: []string{"color_temp"}}},
		{name: "kelvin too warm clamps", device: "lounge/ceiling", in: LightIntent{ColorTempKelvin: fp(2000)},
			want: cmdWant{payload: map[string]any{"color_temp": 454.0}, expect: []Expectation{{Property: "color_temp", Value: 454.0, Tolerance: 2}},
				notes: []string{"2000 K is warmer than lounge/ceiling supports; clamped to 2203 K (454 mired)"}, readback: []string{"color_temp"}}},
		{name: "kelvin too cool clamps", device: "office/ceiling", in: LightIntent{State: "on", ColorTempKelvin: fp(6500)},
			want: cmdWant{payload: map[string]any{"state": on, "color_temp": 250.0},
				expect: []Expectation{{Property: "state", Value: on}, {Property: "color_temp", Value: 250.0, Tolerance: 2}},
				notes:  []string{"6500 K is cooler than office/ceiling supports; clamped to 4000 K (250 mired)"}, readback: []string{"state", "color_temp"}}},
		{name: "kelvin with transition", device: "lounge/reading_lamp", in: LightIntent{ColorTempKelvin: fp(6500), Transition: fp(2.5)},
			want: cmdWant{payload: map[string]any{"color_temp": 154.0, "transition": 2.5}, expect: []Expectation{{Property: "color_temp", Value: 154.0, Tolerance: 2}}, readback: []string{"color_temp"}}},
		{name: "red as xy", device: "lounge/reading_lamp", in: LightIntent{Color: "red"},
			want: cmdWant{payload: map[string]any{"color": map[string]any{"x": 0.7006, "y": 0.2993}},
				expect: []Expectation{{Property: "color", Value: map[string]any{"x": 0.7006, "y": 0.2993}, Tolerance: 0.01}}, readback: []string{"color"}}},
		{name: "hex as xy with brightness", device: "lounge/tv_backlight", in: LightIntent{Color: "#0000FF", Brightness: fp(20)},
			want: cmdWant{payload: map[string]any{"brightness": 51.0, "color": map[string]any{"x": 0.1355, "y": 0.0399}},
				expect:   []Expectation{{Property: "brightness", Value: 51.0, Tolerance: 1}, {Property: "color", Value: map[string]any{"x": 0.1355, "y": 0.0399}, Tolerance: 0.01}},
				readback: []string{"brightness", "color"}}},
		{name: "white name becomes colour temperature", device: "lounge/reading_lamp", in: LightIntent{Color: "Warm_White"},
			want: cmdWant{payload: map[string]any{"color_temp": 370.0}, expect: []Expectation{{Property: "color_temp", Value: 370.0, Tolerance: 2}}, readback: []string{"color_temp"}}},
		{name: "white name clamped on a CT bulb", device: "lounge/ceiling", in: LightIntent{Color: "candle"},
			want: cmdWant{payload: map[string]any{"color_temp": 454.0}, expect: []Expectation{{Property: "color_temp", Value: 454.0, Tolerance: 2}},
				notes: []string{"candle (2000 K) is warmer than lounge/ceiling supports; clamped to 2203 K (454 mired)"}, readback: []string{"color_temp"}}},
		{name: "daylight on a CT bulb", device: "office/ceiling", in: LightIntent{Color: "daylight"},
			want: cmdWant{payload: map[string]any{"color_temp": 250.0}, expect: []Expectation{{Property: "color_temp", Value: 250.0, Tolerance: 2}},
				notes: []string{"daylight (6500 K) is cooler than office/ceiling supports; clamped to 4000 K (250 mired)"}, readback: []string{"color_temp"}}},
		{name: "white name as xy without color_temp", device: "test/xy_bulb", in: LightIntent{Color: "warm white"},
			want: cmdWant{payload: map[string]any{"color": map[string]any{"x": 0.4593, "y": 0.4107}},
				expect: []Expectation{{Property: "color", Value: map[string]any{"x": 0.4593, "y": 0.4107}, Tolerance: 0.01}}, readback: []string{"color"}}},
		{name: "hs-only device", device: "test/hs_strip", in: LightIntent{State: "on", Color: "orange"},
			want: cmdWant{payload: map[string]any{"state": on, "color": map[string]any{"hue": 30.0, "saturation": 100.0}},
				expect:   []Expectation{{Property: "state", Value: on}, {Property: "color", Value: map[string]any{"hue": 30.0, "saturation": 100.0}, Tolerance: 1}},
				readback: []string{"state", "color"}}},
		{name: "white on hs-only device", device: "test/hs_strip", in: LightIntent{Color: "warm white"},
			want: cmdWant{payload: map[string]any{"color": map[string]any{"hue": 29.0, "saturation": 66.0}},
				expect: []Expectation{{Property: "color", Value: map[string]any{"hue": 29.0, "saturation": 66.0}, Tolerance: 1}}, readback: []string{"color"}}},
		{name: "effect write-only", device: "lounge/ceiling", in: LightIntent{Effect: "Breathe"},
			want: cmdWant{payload: map[string]any{"effect": "breathe"}}},
		{name: "effect with state", device: "lounge/reading_lamp", in: LightIntent{State: "on", Effect: "candle"},
			want: cmdWant{payload: map[string]any{"state": on, "effect": "candle"}, expect: []Expectation{{Property: "state", Value: on}}, readback: []string{"state"}}},
		{name: "effect unknown", device: "lounge/ceiling", in: LightIntent{Effect: "sparkle"},
			want: cmdWant{err: `effect "sparkle" is not one of lounge/ceiling's effects: blink, breathe, okay, channel_change, finish_effect, stop_effect`}},
		{name: "plug on via set_lights", device: "kitchen/coffee_plug", in: LightIntent{State: "on", Transition: fp(1)},
			want: cmdWant{payload: map[string]any{"state": on}, expect: []Expectation{{Property: "state", Value: on}},
				notes: []string{"transition ignored: kitchen/coffee_plug is a switch, not a dimmable light"}, readback: []string{"state"}}},

		{name: "plug brightness unsupported", device: "kitchen/coffee_plug", in: LightIntent{Brightness: fp(50)},
			want: cmdWant{unsupported: "kitchen/coffee_plug has no brightness"}},
		{name: "plug step and colour unsupported", device: "kitchen/coffee_plug", in: LightIntent{BrightnessStep: fp(5), Color: "red", Effect: "blink"},
			want: cmdWant{unsupported: "kitchen/coffee_plug has no brightness, colour or effects"}},
		{name: "white-only bulb colour", device: "kitchen/spots", in: LightIntent{Color: "red"},
			want: cmdWant{unsupported: "kitchen/spots has no colour"}},
		{name: "white-only bulb warm white", device: "kitchen/spots", in: LightIntent{State: "on", Color: "warm white"},
			want: cmdWant{unsupported: "kitchen/spots has no colour temperature or colour"}},
		{name: "white-only bulb kelvin", device: "kitchen/spots", in: LightIntent{ColorTempKelvin: fp(2700)},
			want: cmdWant{unsupported: "kitchen/spots has no colour temperature"}},
		{name: "CT bulb colour", device: "lounge/ceiling", in: LightIntent{Color: "red"},
			want: cmdWant{unsupported: "lounge/ceiling has no colour"}},
		{name: "xy bulb kelvin", device: "test/xy_bulb", in: LightIntent{ColorTempKelvin: fp(2700)},
			want: cmdWant{unsupported: "test/xy_bulb has no colour temperature"}},
		{name: "two-gang switch", device: "hall/switch", in: LightIntent{State: "on"},
			want: cmdWant{unsupported: "hall/switch has no light control"}},
		{name: "sensor", device: "kitchen/window", in: LightIntent{State: "on"},
			want: cmdWant{unsupported: "kitchen/window has no light control"}},
		{name: "trv", device: "bedroom/trv", in: LightIntent{Brightness: fp(3)},
			want: cmdWant{unsupported: "bedroom/trv has no light control"}},
		{name: "switch without toggle value and unknown state", device: "test/relay", in: LightIntent{State: "toggle"},
			want: cmdWant{unsupported: "test/relay has no toggle"}},

		{name: "invalid brightness", device: "lounge/ceiling", in: LightIntent{Brightness: fp(120)},
			want: cmdWant{err: "brightness must be 0–100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dev(tc.device)
			cmd, err := BuildLight(d, tc.in, tc.cur)
			checkCommand(t, d, cmd, err, tc.want)
		})
	}
}

func TestValidateLightIntent(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   LightIntent
		err  string
	}{
		{"ok state", LightIntent{State: "on"}, ""},
		{"ok brightness edges", LightIntent{Brightness: fp(100)}, ""},
		{"ok zero", LightIntent{Brightness: fp(0)}, ""},
		{"ok step edges", LightIntent{BrightnessStep: fp(-100)}, ""},
		{"ok kelvin edges", LightIntent{ColorTempKelvin: fp(1000)}, ""},
		{"ok kelvin max", LightIntent{ColorTempKelvin: fp(10000)}, ""},
		{"ok effect only", LightIntent{Effect: "blink"}, ""},
		{"ok transition 0", LightIntent{State: "off", Transition: fp(0)}, ""},
		{"nothing", LightIntent{}, "nothing to do"},
		{"transition alone", LightIntent{Transition: fp(3)}, "transition alone does nothing"},
		{"bad state", LightIntent{State: "dim"}, `state "dim" is not valid; use on, off or toggle`},
		{"brightness high", LightIntent{Brightness: fp(100.5)}, "brightness must be 0–100 (%), got 100.5"},
		{"brightness negative", LightIntent{Brightness: fp(-1)}, "brightness must be 0–100"},
		{"step high", LightIntent{BrightnessStep: fp(101)}, "brightness_step must be −100..100"},
		{"step low", LightIntent{BrightnessStep: fp(-101)}, "brightness_step must be −100..100"},
		{"kelvin low", LightIntent{ColorTempKelvin: fp(999)}, "color_temp_kelvin must be 1000–10000 K, got 999"},
		{"kelvin high", LightIntent{ColorTempKelvin: fp(10001)}, "color_temp_kelvin must be 1000–10000 K"},
		{"transition negative", LightIntent{State: "on", Transition: fp(-1)}, "transition must be ≥ 0"},
		{"bad colour", LightIntent{Color: "blurple"}, `unknown colour "blurple"`},
		{"black", LightIntent{Color: "#000"}, "black"},
		{"both brightness", LightIntent{Brightness: fp(3), BrightnessStep: fp(3)}, "not both"},
		{"both colour", LightIntent{Color: "red", ColorTempKelvin: fp(3000)}, "not both"},
		{"toggle with brightness", LightIntent{State: "toggle", Brightness: fp(30)}, "toggle cannot be combined"},
		{"on at 0", LightIntent{State: "on", Brightness: fp(0)}, "contradictory"},
		{"whitespace effect", LightIntent{Effect: "  "}, "effect is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateLightIntent(tc.in)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestBuildClimate(t *testing.T) {
	dev := intentDevices(t)
	for _, tc := range []struct {
		name   string
		device string
		in     ClimateIntent
		want   cmdWant
	}{
		{name: "on step", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(21.5)},
			want: cmdWant{payload: map[string]any{"occupied_heating_setpoint": 21.5},
				expect: []Expectation{{Property: "occupied_heating_setpoint", Value: 21.5, Tolerance: 0.25}}, readback: []string{"occupied_heating_setpoint"}}},
		{name: "snapped up", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(21.3)},
			want: cmdWant{payload: map[string]any{"occupied_heating_setpoint": 21.5},
				expect: []Expectation{{Property: "occupied_heating_setpoint", Value: 21.5, Tolerance: 0.25}},
				notes:  []string{"21.3 °C snapped to 21.5 °C (step 0.5)"}, readback: []string{"occupied_heating_setpoint"}}},
		{name: "snapped down", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(21.2), Unit: "c"},
			want: cmdWant{payload: map[string]any{"occupied_heating_setpoint": 21.0},
				expect: []Expectation{{Property: "occupied_heating_setpoint", Value: 21.0, Tolerance: 0.25}},
				notes:  []string{"21.2 °C snapped to 21 °C (step 0.5)"}, readback: []string{"occupied_heating_setpoint"}}},
		{name: "range edges", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(35)},
			want: cmdWant{payload: map[string]any{"occupied_heating_setpoint": 35.0},
				expect: []Expectation{{Property: "occupied_heating_setpoint", Value: 35.0, Tolerance: 0.25}}, readback: []string{"occupied_heating_setpoint"}}},
		{name: "fahrenheit", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(70), Unit: "F"},
			want: cmdWant{payload: map[string]any{"occupied_heating_setpoint": 21.0},
				expect: []Expectation{{Property: "occupied_heating_setpoint", Value: 21.0, Tolerance: 0.25}},
				notes:  []string{"70 °F is 21.11 °C", "21.11 °C snapped to 21 °C (step 0.5)"}, readback: []string{"occupied_heating_setpoint"}}},
		{name: "fahrenheit exact", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(68), Unit: "fahrenheit"},
			want: cmdWant{payload: map[string]any{"occupied_heating_setpoint": 20.0},
				expect: []Expectation{{Property: "occupied_heating_setpoint", Value: 20.0, Tolerance: 0.25}},
				notes:  []string{"68 °F is 20 °C"}, readback: []string{"occupied_heating_setpoint"}}},
		{name: "too hot", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(40)},
			want: cmdWant{err: "temperature 40 °C is outside bedroom/trv's range 4–35 °C"}},
		{name: "too cold", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(3.9)},
			want: cmdWant{err: "temperature 3.9 °C is outside bedroom/trv's range 4–35 °C"}},
		{name: "just above max is not snapped into range", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(35.1)},
			want: cmdWant{err: "outside bedroom/trv's range 4–35 °C"}},
		{name: "too hot in F", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(100), Unit: "F"},
			want: cmdWant{err: "temperature 100 °F (37.8 °C) is outside bedroom/trv's range 4–35 °C (39.2–95 °F)"}},
		{name: "mode in device casing", device: "bedroom/trv", in: ClimateIntent{Mode: "HEAT"},
			want: cmdWant{payload: map[string]any{"system_mode": "heat"}, expect: []Expectation{{Property: "system_mode", Value: "heat"}}, readback: []string{"system_mode"}}},
		{name: "mode unknown", device: "bedroom/trv", in: ClimateIntent{Mode: "cool"},
			want: cmdWant{err: `mode "cool" is not one of bedroom/trv's modes: off, auto, heat`}},
		{name: "heat-only thermostat", device: "bathroom/thermostat", in: ClimateIntent{Mode: "off"},
			want: cmdWant{err: "bathroom/thermostat's modes: heat"}},
		{name: "preset unsupported", device: "bedroom/trv", in: ClimateIntent{Preset: "eco"},
			want: cmdWant{unsupported: "bedroom/trv has no preset"}},
		{name: "tuya trv setpoint and preset", device: "guest/trv", in: ClimateIntent{Temperature: fp(19.75), Preset: "Comfort", Mode: "auto"},
			want: cmdWant{payload: map[string]any{"current_heating_setpoint": 20.0, "system_mode": "auto", "preset": "comfort"},
				expect: []Expectation{
					{Property: "current_heating_setpoint", Value: 20.0, Tolerance: 0.25},
					{Property: "system_mode", Value: "auto"},
					{Property: "preset", Value: "comfort"},
				},
				notes: []string{"19.75 °C snapped to 20 °C (step 0.5)"}}},
		{name: "tuya trv preset unknown", device: "guest/trv", in: ClimateIntent{Preset: "holiday"},
			want: cmdWant{err: `preset "holiday" is not one of guest/trv's presets: schedule, manual, boost, complex, comfort, eco, away`}},
		{name: "tuya trv range", device: "guest/trv", in: ClimateIntent{Temperature: fp(4.5)},
			want: cmdWant{err: "temperature 4.5 °C is outside guest/trv's range 5–35 °C"}},
		{name: "device with both setpoints uses occupied", device: "lounge/radiator", in: ClimateIntent{Temperature: fp(18)},
			want: cmdWant{payload: map[string]any{"occupied_heating_setpoint": 18.0},
				expect: []Expectation{{Property: "occupied_heating_setpoint", Value: 18.0, Tolerance: 0.25}}, readback: []string{"occupied_heating_setpoint"}}},
		{name: "no step: rounded to 0.01, default tolerance", device: "test/thermostat", in: ClimateIntent{Temperature: fp(72), Unit: "F"},
			want: cmdWant{payload: map[string]any{"occupied_heating_setpoint": 22.22},
				expect: []Expectation{{Property: "occupied_heating_setpoint", Value: 22.22, Tolerance: 0.25}},
				notes:  []string{"72 °F is 22.22 °C"}, readback: []string{"occupied_heating_setpoint"}}},
		{name: "no mode", device: "test/thermostat", in: ClimateIntent{Mode: "heat"},
			want: cmdWant{unsupported: "test/thermostat has no mode (system_mode)"}},
		{name: "plug", device: "kitchen/coffee_plug", in: ClimateIntent{Temperature: fp(20)},
			want: cmdWant{unsupported: "kitchen/coffee_plug has no climate control"}},
		{name: "bad unit", device: "bedroom/trv", in: ClimateIntent{Temperature: fp(20), Unit: "K"},
			want: cmdWant{err: `unit "K" is not valid; use C or F`}},
		{name: "nothing", device: "bedroom/trv", in: ClimateIntent{Unit: "F"},
			want: cmdWant{err: "nothing to do"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dev(tc.device)
			cmd, err := BuildClimate(d, tc.in, nil)
			checkCommand(t, d, cmd, err, tc.want)
		})
	}
}

func TestBuildSwitch(t *testing.T) {
	dev := intentDevices(t)
	for _, tc := range []struct {
		name   string
		device string
		in     SwitchIntent
		cur    *State
		want   cmdWant
	}{
		{name: "plug on", device: "kitchen/coffee_plug", in: SwitchIntent{State: "on"},
			want: cmdWant{payload: map[string]any{"state": "ON"}, expect: []Expectation{{Property: "state", Value: "ON"}}, readback: []string{"state"}}},
		{name: "plug by endpoint number", device: "kitchen/coffee_plug", in: SwitchIntent{State: "off", Endpoint: "1"},
			want: cmdWant{payload: map[string]any{"state": "OFF"}, expect: []Expectation{{Property: "state", Value: "OFF"}}, readback: []string{"state"}}},
		{name: "plug unknown endpoint", device: "kitchen/coffee_plug", in: SwitchIntent{State: "off", Endpoint: "l2"},
			want: cmdWant{err: `kitchen/coffee_plug has no endpoint "l2"; it has a single switch, leave endpoint empty`}},
		{name: "plug toggle", device: "office/plug", in: SwitchIntent{State: "toggle"}, cur: st(map[string]any{"state": "ON"}),
			want: cmdWant{payload: map[string]any{"state": "TOGGLE"}, expect: []Expectation{{Property: "state", Value: "OFF"}}, readback: []string{"state"}, notIdem: true}},
		{name: "two-gang without endpoint switches every gang", device: "hall/switch", in: SwitchIntent{State: "on"},
			want: cmdWant{payload: map[string]any{"state_left": "ON", "state_right": "ON"},
				expect:   []Expectation{{Property: "state_left", Value: "ON"}, {Property: "state_right", Value: "ON"}},
				readback: []string{"state_left", "state_right"}, notes: []string{"no endpoint given: all 2 switches of hall/switch"}}},
		{name: "two-gang unknown endpoint", device: "hall/switch", in: SwitchIntent{State: "on", Endpoint: "middle"},
			want: cmdWant{err: `hall/switch has no endpoint "middle"; its endpoints are: left, right`}},
		{name: "two-gang left", device: "hall/switch", in: SwitchIntent{State: "on", Endpoint: "LEFT"},
			want: cmdWant{payload: map[string]any{"state_left": "ON"}, expect: []Expectation{{Property: "state_left", Value: "ON"}}, readback: []string{"state_left"}}},
		{name: "two-gang by number", device: "hall/switch", in: SwitchIntent{State: "off", Endpoint: "2"},
			want: cmdWant{payload: map[string]any{"state_right": "OFF"}, expect: []Expectation{{Property: "state_right", Value: "OFF"}}, readback: []string{"state_right"}}},
		{name: "two-gang by property", device: "hall/switch", in: SwitchIntent{State: "off", Endpoint: "state_right"},
			want: cmdWant{payload: map[string]any{"state_right": "OFF"}, expect: []Expectation{{Property: "state_right", Value: "OFF"}}, readback: []string{"state_right"}}},
		{name: "two-gang toggle known", device: "hall/switch", in: SwitchIntent{State: "toggle", Endpoint: "left"}, cur: st(map[string]any{"state_left": "OFF", "state_right": "ON"}),
			want: cmdWant{payload: map[string]any{"state_left": "TOGGLE"}, expect: []Expectation{{Property: "state_left", Value: "ON"}}, readback: []string{"state_left"}, notIdem: true}},
		{name: "two-gang unknown endpoint", device: "hall/switch", in: SwitchIntent{State: "on", Endpoint: "l3"},
			want: cmdWant{err: `hall/switch has no endpoint "l3"; its endpoints are: left, right`}},
		{name: "light as switch", device: "kitchen/spots", in: SwitchIntent{State: "off"},
			want: cmdWant{payload: map[string]any{"state": "OFF"}, expect: []Expectation{{Property: "state", Value: "OFF"}}, readback: []string{"state"}}},
		{name: "no toggle value: inverse of known state", device: "test/relay", in: SwitchIntent{State: "toggle"}, cur: st(map[string]any{"state_l1": "ON"}),
			want: cmdWant{payload: map[string]any{"state_l1": "OFF"}, expect: []Expectation{{Property: "state_l1", Value: "OFF"}}}},
		{name: "single endpoint by name", device: "test/relay", in: SwitchIntent{State: "on", Endpoint: "L1"},
			want: cmdWant{payload: map[string]any{"state_l1": "ON"}, expect: []Expectation{{Property: "state_l1", Value: "ON"}}}},
		{name: "no toggle value, unknown state", device: "test/relay", in: SwitchIntent{State: "toggle"},
			want: cmdWant{unsupported: "test/relay has no toggle"}},
		{name: "climate device with switch exposes", device: "guest/trv", in: SwitchIntent{State: "on"},
			want: cmdWant{unsupported: "guest/trv has no on/off switching"}},
		{name: "sensor", device: "hall/motion", in: SwitchIntent{State: "on"},
			want: cmdWant{unsupported: "hall/motion has no on/off switching"}},
		{name: "missing state", device: "office/plug", in: SwitchIntent{},
			want: cmdWant{err: "state is required"}},
		{name: "bad state", device: "office/plug", in: SwitchIntent{State: "open"},
			want: cmdWant{err: `state "open" is not valid`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dev(tc.device)
			cmd, err := BuildSwitch(d, tc.in, tc.cur)
			checkCommand(t, d, cmd, err, tc.want)
		})
	}
}

func TestBuildCover(t *testing.T) {
	dev := intentDevices(t)
	for _, tc := range []struct {
		name   string
		device string
		in     CoverIntent
		want   cmdWant
	}{
		{name: "position", device: "lounge/blind", in: CoverIntent{Position: fp(30)},
			want: cmdWant{payload: map[string]any{"position": 30.0}, expect: []Expectation{{Property: "position", Value: 30.0, Tolerance: 1}}, readback: []string{"position"}}},
		{name: "position rounded", device: "lounge/blind", in: CoverIntent{Position: fp(33.4)},
			want: cmdWant{payload: map[string]any{"position": 33.0}, expect: []Expectation{{Property: "position", Value: 33.0, Tolerance: 1}},
				notes: []string{"position 33.4 % rounded to 33 %"}, readback: []string{"position"}}},
		{name: "position without get", device: "bedroom/curtain", in: CoverIntent{Position: fp(0)},
			want: cmdWant{payload: map[string]any{"position": 0.0}, expect: []Expectation{{Property: "position", Value: 0.0, Tolerance: 1}}}},
		{name: "open", device: "lounge/blind", in: CoverIntent{Action: "Open"},
			want: cmdWant{payload: map[string]any{"state": "OPEN"}, expect: []Expectation{{Property: "position", Value: 100.0}}}},
		{name: "close", device: "bedroom/curtain", in: CoverIntent{Action: "close"},
			want: cmdWant{payload: map[string]any{"state": "CLOSE"}, expect: []Expectation{{Property: "position", Value: 0.0}}}},
		{name: "stop", device: "lounge/blind", in: CoverIntent{Action: "STOP"},
			want: cmdWant{payload: map[string]any{"state": "STOP"}}},
		{name: "no position: open expects state", device: "test/awning", in: CoverIntent{Action: "open"},
			want: cmdWant{payload: map[string]any{"state": "OPEN"}, expect: []Expectation{{Property: "state", Value: "OPEN"}}}},
		{name: "no position", device: "test/awning", in: CoverIntent{Position: fp(50)},
			want: cmdWant{unsupported: "test/awning has no position control"}},
		{name: "not a cover", device: "office/plug", in: CoverIntent{Action: "open"},
			want: cmdWant{unsupported: "office/plug has no cover control"}},
		{name: "position range", device: "lounge/blind", in: CoverIntent{Position: fp(101)},
			want: cmdWant{err: "position must be 0–100"}},
		{name: "both", device: "lounge/blind", in: CoverIntent{Position: fp(10), Action: "open"},
			want: cmdWant{err: "not both"}},
		{name: "bad action", device: "lounge/blind", in: CoverIntent{Action: "up"},
			want: cmdWant{err: `action "up" is not valid; use open, close or stop`}},
		{name: "nothing", device: "lounge/blind", in: CoverIntent{},
			want: cmdWant{err: "nothing to do"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dev(tc.device)
			cmd, err := BuildCover(d, tc.in, nil)
			checkCommand(t, d, cmd, err, tc.want)
		})
	}
}

func TestBuildLock(t *testing.T) {
	dev := intentDevices(t)
	for _, tc := range []struct {
		name   string
		device string
		in     LockIntent
		want   cmdWant
	}{
		{name: "lock", device: "front/door", in: LockIntent{Action: "lock"},
			want: cmdWant{payload: map[string]any{"state": "LOCK"}, expect: []Expectation{{Property: "state", Value: "LOCK"}}, readback: []string{"state"}}},
		{name: "unlock", device: "front/door", in: LockIntent{Action: "UNLOCK"},
			want: cmdWant{payload: map[string]any{"state": "UNLOCK"}, expect: []Expectation{{Property: "state", Value: "UNLOCK"}}, readback: []string{"state"}}},
		{name: "not a lock", device: "bedroom/trv", in: LockIntent{Action: "lock"},
			want: cmdWant{unsupported: "bedroom/trv has no lock control"}},
		{name: "missing", device: "front/door", in: LockIntent{},
			want: cmdWant{err: "action is required; use lock or unlock"}},
		{name: "bad", device: "front/door", in: LockIntent{Action: "open"},
			want: cmdWant{err: `action "open" is not valid; use lock or unlock`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dev(tc.device)
			cmd, err := BuildLock(d, tc.in, nil)
			checkCommand(t, d, cmd, err, tc.want)
		})
	}
}

func TestIntentExpectationsMatchEdges(t *testing.T) {
	dev := intentDevices(t)
	get := func(cmd Command, prop string) Expectation {
		t.Helper()
		for _, e := range cmd.Expect {
			if e.Property == prop {
				return e
			}
		}
		t.Fatalf("no expectation for %s in %+v", prop, cmd.Expect)
		return Expectation{}
	}

	cmd, err := BuildLight(dev("lounge/reading_lamp"), LightIntent{State: "on", Brightness: fp(50), Color: "red"}, nil)
	require.NoError(t, err)
	state, bri, col := get(cmd, "state"), get(cmd, "brightness"), get(cmd, "color")
	require.True(t, state.Matches("ON"))
	require.True(t, state.Matches("on"))
	require.False(t, state.Matches("OFF"))
	require.False(t, state.Matches(true))
	require.True(t, bri.Matches(127.0))
	require.True(t, bri.Matches(126.0))
	require.True(t, bri.Matches(128.0))
	require.False(t, bri.Matches(125.0))
	require.False(t, bri.Matches(129.0))
	require.True(t, col.Matches(map[string]any{"x": 0.7006, "y": 0.2993, "hue": 0.0, "saturation": 100.0}))
	require.True(t, col.Matches(map[string]any{"x": 0.7106, "y": 0.2893}))
	require.False(t, col.Matches(map[string]any{"x": 0.7107, "y": 0.2993}))
	require.False(t, col.Matches(map[string]any{"x": 0.7006}))
	require.False(t, col.Matches(0.7006))
	require.True(t, cmd.Satisfied(map[string]any{"state": "ON", "brightness": 128.0, "color": map[string]any{"x": 0.70, "y": 0.30}}))
	require.False(t, cmd.Satisfied(map[string]any{"state": "ON", "brightness": 128.0}))

	cmd, err = BuildLight(dev("lounge/ceiling"), LightIntent{ColorTempKelvin: fp(1500)}, nil)
	require.NoError(t, err)
	ct := get(cmd, "color_temp")
	require.True(t, ct.Matches(454.0))
	require.True(t, ct.Matches(452.0))
	require.False(t, ct.Matches(451.0))
	require.False(t, ct.Matches(667.0)) // the unclamped value never comes back

	cmd, err = BuildLight(dev("test/hs_strip"), LightIntent{Color: "blue"}, nil)
	require.NoError(t, err)
	hs := get(cmd, "color")
	require.True(t, hs.Matches(map[string]any{"hue": 241.0, "saturation": 99.0}))
	require.False(t, hs.Matches(map[string]any{"hue": 242.0, "saturation": 100.0}))

	cmd, err = BuildClimate(dev("bedroom/trv"), ClimateIntent{Temperature: fp(21.5)}, nil)
	require.NoError(t, err)
	sp := get(cmd, "occupied_heating_setpoint")
	require.True(t, sp.Matches(21.75))
	require.True(t, sp.Matches(21.25))
	require.False(t, sp.Matches(21.8))
	require.False(t, sp.Matches(21.0))

	cmd, err = BuildCover(dev("lounge/blind"), CoverIntent{Action: "open"}, nil)
	require.NoError(t, err)
	pos := get(cmd, "position")
	require.True(t, pos.Matches(100.0))
	require.False(t, pos.Matches(99.0)) // still moving
	cmd, err = BuildCover(dev("lounge/blind"), CoverIntent{Position: fp(40)}, nil)
	require.NoError(t, err)
	pos = get(cmd, "position")
	require.True(t, pos.Matches(41.0))
	require.False(t, pos.Matches(42.0))
}

func TestBuildersNeverPublishOnValidationError(t *testing.T) {
	d := intentDevices(t)("lounge/reading_lamp")
	cmd, err := BuildLight(d, LightIntent{State: "on", Brightness: fp(150)}, nil)
	require.Error(t, err)
	require.Nil(t, cmd.Payload)
	cmd, err = BuildLight(d, LightIntent{State: "on", Effect: "nope"}, nil)
	require.Error(t, err)
	require.Nil(t, cmd.Payload)
}
