package mcp_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mcp"
)

// TestStateNeverSeenIsAskedOnce: started after Zigbee2MQTT (states are not
// retained), the server knows no state; list_devices asks the mains-powered
// devices once (/get), never the battery ones, and shows what they report;
// a read-only server asks nothing.
func TestStateNeverSeenIsAskedOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	ro := inProcess(t, e.server(t, mcp.Config{Policy: mcp.Policy{ReadOnly: true}}))
	e.cmds.sync()
	require.False(t, call(t, ro, "list_devices", nil).IsError)
	e.cmds.requireNothingPublished(t)

	c := e.client(t)
	e.cmds.sync()
	var out struct {
		Devices []struct {
			Name  string         `json:"name"`
			State map[string]any `json:"state"`
		} `json:"devices"`
	}
	res := call(t, c, "list_devices", map[string]any{"type": "light"})
	require.False(t, res.IsError)
	decode(t, res, &out)
	got := e.cmds.topics(e.cmds.take())
	require.Contains(t, got, "lounge/ceiling/get")
	for _, topic := range got {
		require.True(t, strings.HasSuffix(topic, "/get"), topic)
		require.NotContains(t, topic, "radiator", "battery devices are not asked")
	}
	for _, d := range out.Devices {
		if d.Name == "lounge/ceiling" {
			require.NotEmpty(t, d.State, "the reported state is shown")
		}
	}
	e.cmds.sync()
	require.False(t, call(t, c, "list_devices", map[string]any{"type": "light"}).IsError)
	e.cmds.requireNothingPublished(t) // asked once
}
