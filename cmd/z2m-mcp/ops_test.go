package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// scrape GETs /metrics (with the token) and returns the body.
func scrape(t *testing.T, base, token string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// metric returns the value of one series line (exact labels), or -1.
func metric(body, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// TestHealthzFollowsBrokerAndBridge: /healthz is 200 only while the broker
// is connected and the bridge online; it turns 503 when the broker goes away
// and back to 200 when it returns (the bridge's retained state rebuilt).
func TestHealthzFollowsBrokerAndBridge(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	if !broker.Restartable() {
		t.Skip("this broker cannot be restarted")
	}
	startSim(t, broker.URL, simulator.Config{})
	p := startProc(t, cleanEnv(t), "--transport", "http", "--listen", "127.0.0.1:0", "--mqtt-url", broker.URL, "--log-format", "json")
	base := "http://" + p.addr(t)
	var last map[string]any
	healthIs := func(code int, connected bool) func() bool {
		return func() bool {
			c, body := getHealth(t, base)
			last = body
			return c == code && body["mqtt_connected"] == connected && (code != http.StatusOK || body["bridge"] == "online")
		}
	}
	require.Eventually(t, healthIs(http.StatusOK, true), wait, 20*time.Millisecond, "%v", last)

	broker.Stop()
	require.Eventually(t, healthIs(http.StatusServiceUnavailable, false), wait, 20*time.Millisecond,
		"the broker is gone: 503 with mqtt_connected false: %v", last)

	broker.Start()
	require.Eventually(t, healthIs(http.StatusOK, true), 2*wait, 20*time.Millisecond,
		"the broker is back: reconnected, bridge online, 200 again: %v", last)
}

// TestMetricsAfterToolCalls: /metrics needs the token and, after a few tool
// calls, carries every series the README lists with the calls counted.
func TestMetricsAfterToolCalls(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	startSim(t, broker.URL, simulator.Config{Drop: []string{"kitchen/spots"}})
	const token = "metrics-tok"
	p := startProc(t, cleanEnv(t, "Z2M_MCP_TOKEN="+token), "--transport", "http", "--listen", "127.0.0.1:0",
		"--mqtt-url", broker.URL, "--log-format", "json")
	base := "http://" + p.addr(t)

	code, _ := scrape(t, base, "")
	require.Equal(t, http.StatusUnauthorized, code, "/metrics needs the token")

	c, err := client.NewStreamableHttpClient(base+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	require.NoError(t, err)
	initialize(t, c)
	waitDevices(t, c, 18)
	res := call(t, c, "set_lights", map[string]any{"targets": "lounge/ceiling", "brightness": 33})
	require.False(t, res.IsError, text(res))
	res = call(t, c, "set_lights", map[string]any{"targets": "kitchen/spots", "state": "on", "timeout_ms": 300, "retries": 0})
	require.True(t, res.IsError, "the dropped light times out: %s", text(res))
	res = call(t, c, "set_lights", map[string]any{"targets": "nowhere", "state": "on"})
	require.True(t, res.IsError)

	code, body := scrape(t, base, token)
	require.Equal(t, http.StatusOK, code)
	for _, series := range []string{
		"z2m_mcp_tool_calls_total", "z2m_mcp_target_results_total", "z2m_mcp_confirmation_seconds_bucket",
		"z2m_mcp_tool_call_seconds_bucket", "z2m_mcp_mqtt_messages_received_total", "z2m_mcp_mqtt_messages_sent_total",
		"z2m_mcp_mqtt_reconnects_total", "z2m_mcp_devices", "z2m_mcp_groups", "z2m_mcp_devices_offline",
		"z2m_mcp_bridge_online", "z2m_mcp_mqtt_connected",
	} {
		require.Contains(t, body, "\n"+series, "series %s", series)
	}
	require.Equal(t, 2.0, metric(body, `z2m_mcp_tool_calls_total{outcome="error",tool="set_lights"}`), body)
	require.Equal(t, 1.0, metric(body, `z2m_mcp_tool_calls_total{outcome="ok",tool="set_lights"}`))
	require.Equal(t, 1.0, metric(body, `z2m_mcp_target_results_total{status="confirmed",tool="set_lights"}`))
	require.Equal(t, 1.0, metric(body, `z2m_mcp_target_results_total{status="timeout",tool="set_lights"}`))
	require.Equal(t, 18.0, metric(body, "z2m_mcp_devices"))
	require.Equal(t, 1.0, metric(body, "z2m_mcp_bridge_online"))
	require.Equal(t, 1.0, metric(body, "z2m_mcp_mqtt_connected"))
	require.GreaterOrEqual(t, metric(body, "z2m_mcp_mqtt_messages_sent_total"), 2.0)
	require.Greater(t, metric(body, "z2m_mcp_mqtt_messages_received_total"), 20.0)
	require.True(t, strings.Contains(body, `z2m_mcp_confirmation_seconds_count{status="confirmed"} 1`), body)
}
