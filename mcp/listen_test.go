package mcp_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mcp"
)

// TestListenSubscriptions: on protocol 2026-07-28 a client subscribes by
// naming resources in subscriptions/listen; a change to a subscribed device
// reaches its stream (in-process and over Streamable HTTP).
func TestListenSubscriptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ts := httptest.NewServer(e.srv.HTTPHandler(mcp.HTTPConfig{}))
	t.Cleanup(ts.Close)
	httpClient := func(t *testing.T) *client.Client {
		c, err := client.NewStreamableHttpClient(ts.URL + "/mcp")
		require.NoError(t, err)
		startClient(t, c)
		return c
	}
	for _, tc := range []struct {
		name string
		make func(t *testing.T) *client.Client
	}{
		{"in-process", func(t *testing.T) *client.Client { return e.client(t) }},
		{"streamable HTTP", httpClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.make(t)
			updates := collectUpdates(c)
			uri := "z2m://devices/lounge/tv_backlight"
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop, err := c.ListenAsync(ctx, mcpgo.SubscriptionFilter{ResourceSubscriptions: []string{uri}}, nil)
			require.NoError(t, err, "the default client protocol is 2026-07-28")
			defer stop()
			// The stream is open once the server tracks it: keep commanding
			// until an update arrives (each call is a real change).
			cmd := e.client(t)
			pct := 20
			require.Eventually(t, func() bool {
				pct++
				res, out := setter(t, cmd, "set_lights", map[string]any{"targets": "lounge/tv_backlight", "brightness": pct})
				require.False(t, res.IsError, text(res))
				require.Equal(t, "confirmed", out.Results[0].Status)
				return updates.count(uri) > 0
			}, wait, 50*time.Millisecond)
			require.Zero(t, updates.count("z2m://devices/lounge/ceiling"), "only subscribed resources are notified")
		})
	}
}
