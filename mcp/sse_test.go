package mcp_test

import (
	"net/http/httptest"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mcp"
)

// TestLegacySSE: old clients use HTTP+SSE (/sse + /message) behind the same
// token; a confirmed set_lights works there too, and without the token the
// stream is refused.
func TestLegacySSE(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const token = "sse-token-1"
	ts := httptest.NewServer(e.srv.HTTPHandler(mcp.HTTPConfig{Token: token}))
	t.Cleanup(ts.Close)

	c, err := client.NewSSEMCPClient(ts.URL+"/sse", client.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
	require.NoError(t, err)
	startClient(t, c)
	res, out := setter(t, c, "set_lights", map[string]any{"targets": "lounge/ceiling", "brightness": 64})
	require.False(t, res.IsError, text(res))
	require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
	e.cmds.requireSent(t, "lounge/ceiling/set")

	bad, err := client.NewSSEMCPClient(ts.URL + "/sse")
	require.NoError(t, err)
	require.Error(t, bad.Start(t.Context()), "no token: the SSE stream is refused")
}
