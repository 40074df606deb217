package mcp_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRoomsMapping: --rooms overrides the first path segment; a mapped room
// is a target and a list_devices filter like any other.
func TestRoomsMapping(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.model.SetRooms(map[string]string{"office/desk_lamp": "study", "kitchen/spots": "study"})
	c := e.client(t)

	var out struct {
		Devices []struct {
			Name string `json:"name"`
			Room string `json:"room"`
		} `json:"devices"`
	}
	res := call(t, c, "list_devices", map[string]any{"room": "study", "include_state": false})
	require.False(t, res.IsError, text(res))
	decode(t, res, &out)
	var names []string
	for _, d := range out.Devices {
		require.Equal(t, "study", d.Room)
		names = append(names, d.Name)
	}
	require.ElementsMatch(t, []string{"office/desk_lamp", "kitchen/spots"}, names)

	e.cmds.sync()
	res, set := setter(t, c, "set_lights", map[string]any{"targets": "study", "state": "on"})
	require.False(t, res.IsError, text(res))
	require.Len(t, set.Results, 2)
	e.cmds.requireSent(t, "office/desk_lamp/set", "kitchen/spots/set")

	// The office room no longer holds the mapped lamp: it has no light left.
	res = call(t, c, "set_lights", map[string]any{"targets": "office", "state": "on"})
	requireToolError(t, res, "no light devices")
	e.cmds.requireNothingPublished(t)
}
