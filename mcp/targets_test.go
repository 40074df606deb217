package mcp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClosest(t *testing.T) {
	cands := []string{"bedroom/climate", "front_door/lock", "lounge/blind", "garden/string.lights", "lounge/ceiling",
		"lounge", "kitchen", "hall/switch", "office/plug", "office/desk_lamp"}
	cases := map[string][]string{
		"light":         {"garden/string.lights"}, // contains it; never 'lock' or 'blind'
		"lounge/celing": {"lounge/ceiling"},       // the typo first
		"kichen":        {"kitchen"},              // a typo
		"desk lamp":     {"office/desk_lamp"},     // space for underscore
		"xyz":           nil,                      // nothing close
		"plug":          {"office/plug"},          // a last segment
		"LOUNGE/BLIND":  {"lounge/blind"},         // case
	}
	for name, want := range cases {
		got := closest(name, cands, 3)
		if want == nil {
			require.Empty(t, got, name)
			continue
		}
		require.NotEmpty(t, got, name)
		require.Equal(t, want[0], got[0], "%s → %v", name, got)
	}
}

func TestGlobMatch(t *testing.T) {
	require.True(t, globMatch("garage/*", "garage/door/lock"))
	require.True(t, globMatch("*lock*", "front_door/lock"))
	require.True(t, globMatch("hall/?witch", "hall/switch"))
	require.False(t, globMatch("garage/*", "garden/lights"))
	require.False(t, globMatch("lock", "front_door/lock"))
}

func TestStateWords(t *testing.T) {
	cases := []struct {
		typ  string
		in   map[string]any
		want string
	}{
		{"light", map[string]any{"state": "ON", "brightness_pct": 50, "color_temp_kelvin": 2700}, "ON 50% 2700K"},
		{"switch", map[string]any{"state_left": "ON", "state_right": "OFF"}, "left=ON right=OFF"},
		{"switch", map[string]any{"state": "OFF"}, "OFF"},
		{"climate", map[string]any{"local_temperature": 21.3, "occupied_heating_setpoint": 20, "current_heating_setpoint": 20, "system_mode": "heat"}, "21.3°C → 20°C heat"},
		{"cover", map[string]any{"position": 40, "state": "OPEN"}, "40% OPEN"},
		{"lock", map[string]any{"state": "LOCK", "lock_state": "locked"}, "locked"},
		{"sensor", map[string]any{"temperature": 21.3, "battery": 100}, "battery=100 temperature=21.3"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, stateWords(c.typ, c.in), c.typ)
	}
}
