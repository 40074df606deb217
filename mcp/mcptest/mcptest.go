// Package mcptest has the helpers tests use to drive z2m-mcp through a real
// MCP client (mcp-go's, in-process, over stdio or HTTP): start and
// initialise, call a tool, read its text and structured content.
package mcptest

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// Wait is the generous bound every wait uses.
const Wait = 10 * time.Second

// Start starts and initialises c and closes it when t ends. Start's context
// bounds the transport's life (an HTTP GET stream), so it is not the
// bounded one.
func Start(t testing.TB, c *client.Client) *mcpgo.InitializeResult {
	t.Helper()
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	req := mcpgo.InitializeRequest{}
	req.Params.ClientInfo = mcpgo.Implementation{Name: "z2m-mcp-test", Version: "1"}
	res, err := c.Initialize(ctx, req)
	require.NoError(t, err)
	return res
}

// Call calls a tool and fails the test on a protocol error (a tool error is
// a result with IsError, not a failure here).
func Call(t testing.TB, c *client.Client, tool string, args any) *mcpgo.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*Wait)
	defer cancel()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	require.NoError(t, err, "tools/call %s", tool)
	require.NotNil(t, res)
	return res
}

// Text returns a result's text content.
func Text(res *mcpgo.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := mcpgo.AsTextContent(c); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// Decode decodes a result's structured content into v.
func Decode(t testing.TB, res *mcpgo.CallToolResult, v any) {
	t.Helper()
	raw := []byte(res.RawStructuredContent)
	if len(raw) == 0 {
		var err error
		raw, err = json.Marshal(res.StructuredContent)
		require.NoError(t, err)
	}
	require.NotEqual(t, "null", string(raw), "no structured content; text: %s", Text(res))
	require.NoError(t, json.Unmarshal(raw, v), "structured content: %s", raw)
}

// Tally counts a suite's cases and those that failed, for the counts the
// README reports.
type Tally struct {
	Name           string
	tried, failing atomic.Int64
}

// Run runs one case as a subtest and counts it.
func (ta *Tally) Run(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	ta.tried.Add(1)
	if !t.Run(name, f) {
		ta.failing.Add(1)
	}
}

// Log writes the totals to the test log.
func (ta *Tally) Log(t *testing.T) {
	t.Helper()
	t.Logf("%s: %d hostile inputs tried, %d failed", ta.Name, ta.tried.Load(), ta.failing.Load())
}

// Simulator starts the simulated Zigbee2MQTT home on url (5 ms device
// latency unless cfg says otherwise, quiet) and closes it when t ends.
func Simulator(t testing.TB, url string, cfg simulator.Config) *simulator.Simulator {
	t.Helper()
	cfg.MQTTURL = url
	if cfg.Latency == 0 {
		cfg.Latency = 5 * time.Millisecond
	}
	cfg.Logger = zerolog.Nop()
	sim, err := simulator.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	require.NoError(t, sim.Start(ctx))
	t.Cleanup(sim.Close)
	return sim
}
