package mcp_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mcp"
)

// TestGroupWithDeniedMember: a group one of whose members the policy hides is
// not commanded as a whole (that would reach the hidden device): the allowed
// members are addressed one by one and the hidden one is untouched.
func TestGroupWithDeniedMember(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := inProcess(t, e.server(t, mcp.Config{Policy: mcp.Policy{Deny: []string{"bedroom/bedside_right"}}}))
	e.cmds.sync()
	res, out := setter(t, c, "set_lights", map[string]any{"targets": "bedroom_lights", "state": "on"})
	require.False(t, res.IsError, text(res))
	require.Len(t, out.Results, 1)
	require.Equal(t, "bedroom/bedside_left", out.Results[0].Device)
	require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
	e.cmds.requireSent(t, "bedroom/bedside_left/set")

	// Without the policy the same call is one groupcast.
	e.cmds.sync()
	res, out = setter(t, e.client(t), "set_lights", map[string]any{"targets": "bedroom_lights", "state": "off"})
	require.False(t, res.IsError, text(res))
	require.Len(t, out.Results, 2)
	e.cmds.requireSent(t, "bedroom_lights/set")
}
