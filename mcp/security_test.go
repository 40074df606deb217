package mcp_test

// Bad input and security: hostile tool arguments through mcp-go's client,
// raw JSON-RPC text over Streamable HTTP (NaN, Infinity, garbage, oversized
// bodies), and the HTTP guard (tokens, Origins, sessions). Every case must
// get a clear error and publish nothing, as seen on the broker. The suites
// count their cases and log the totals (README, "Security and resilience").

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mcp/mcptest"

	"github.com/z2m-mcp/z2m-mcp/mcp"
)

// maxErrorText bounds an error's text: a clear message, never an echo of a
// megabyte of input.
const maxErrorText = 2048

func TestHostileArguments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{MCP: mcp.Config{Policy: mcp.Policy{AllowRaw: true, AllowLocks: true}}})
	c := e.client(t)
	e.cmds.take()
	ta := &mcptest.Tally{Name: "hostile tool arguments (in-process MCP client)"}
	defer ta.Log(t)

	huge := strings.Repeat("a", 1<<20)
	many := make([]any, 100_000)
	for i := range many {
		many[i] = "lounge/ceiling"
	}
	manyKeys := map[string]any{}
	for i := range 10_000 {
		manyKeys["k"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+strings.Repeat("y", i/26%10)] = i
	}
	deep := map[string]any{"state": "ON"}
	for range 200 {
		deep = map[string]any{"x": deep}
	}
	light := func(extra map[string]any) map[string]any {
		m := map[string]any{"targets": "lounge/ceiling"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	named := func(name string) map[string]any { return map[string]any{"targets": name, "state": "on"} }

	cases := []struct {
		name string
		tool string
		args any
		want []string
	}{
		// wrong types
		{"targets object", "set_lights", map[string]any{"targets": map[string]any{"name": "lounge/ceiling"}, "state": "on"}, []string{"targets"}},
		{"targets bool", "set_lights", map[string]any{"targets": true, "state": "on"}, []string{"targets"}},
		{"targets nested array", "set_lights", map[string]any{"targets": []any{[]any{"lounge/ceiling"}}, "state": "on"}, []string{"targets"}},
		{"targets null entry", "set_lights", map[string]any{"targets": []any{nil}, "state": "on"}, []string{"targets"}},
		{"brightness bool", "set_lights", light(map[string]any{"brightness": true}), []string{"brightness"}},
		{"brightness array", "set_lights", light(map[string]any{"brightness": []any{50}}), []string{"brightness"}},
		{"brightness object", "set_lights", light(map[string]any{"brightness": map[string]any{"$gt": 1}}), []string{"brightness"}},
		{"state number", "set_lights", light(map[string]any{"state": 1}), []string{"state"}},
		{"state array", "set_lights", light(map[string]any{"state": []any{"on"}}), []string{"state"}},
		{"color number", "set_lights", light(map[string]any{"color": 0xff0000}), []string{"color"}},
		{"color object", "set_lights", light(map[string]any{"color": map[string]any{"r": 255}}), []string{"color"}},
		{"confirm number", "set_lights", light(map[string]any{"state": "on", "confirm": 0}), []string{"confirm"}},
		{"retries string", "set_lights", light(map[string]any{"state": "on", "retries": "1"}), []string{"retries"}},
		{"timeout_ms string", "set_lights", light(map[string]any{"state": "on", "timeout_ms": "5000"}), []string{"timeout_ms"}},
		{"verify bool", "set_lights", light(map[string]any{"state": "on", "verify": true}), []string{"verify"}},
		{"temperature string", "set_climate", map[string]any{"targets": "hall/thermostat", "temperature": "20"}, []string{"temperature"}},
		{"unit kelvin", "set_climate", map[string]any{"targets": "hall/thermostat", "temperature": 20, "unit": "K"}, []string{"unit"}},
		{"mode number", "set_climate", map[string]any{"targets": "hall/thermostat", "mode": 5}, []string{"mode"}},
		{"endpoint number", "set_switches", map[string]any{"targets": "hall/switch", "state": "on", "endpoint": 1}, []string{"endpoint"}},
		{"position string", "set_covers", map[string]any{"targets": "lounge/blind", "position": "50"}, []string{"position"}},
		{"scene object", "recall_scene", map[string]any{"scene": map[string]any{"id": 1}, "target": "lounge"}, []string{"scene"}},
		{"scene target array", "recall_scene", map[string]any{"scene": 1, "target": []any{"lounge"}}, []string{"target"}},
		{"set_device payload array", "set_device", map[string]any{"name": "office/plug", "payload": []any{"state", "ON"}}, []string{"payload"}},
		{"set_device two names", "set_device", map[string]any{"name": []any{"office/plug", "kitchen/coffee_plug"}, "payload": map[string]any{"state": "ON"}}, []string{"name"}},
		{"set_device nested value", "set_device", map[string]any{"name": "office/plug", "payload": map[string]any{"state": map[string]any{"$ne": "OFF"}}}, []string{"state"}},
		{"set_device deep payload", "set_device", map[string]any{"name": "office/plug", "payload": deep}, []string{"x"}},
		{"arguments not an object", "set_lights", []any{"lounge/ceiling", "on"}, []string{"object"}},
		{"arguments a string", "set_lights", "lounge/ceiling on", []string{"object"}},
		// huge strings and arrays
		{"1 MiB target name", "set_lights", named(huge), []string{"too long"}},
		{"100k targets", "set_lights", map[string]any{"targets": many, "state": "on"}, []string{"at most"}},
		{"1 MiB colour", "set_lights", light(map[string]any{"color": huge}), []string{"too long"}},
		{"1 MiB effect", "set_lights", light(map[string]any{"effect": huge}), []string{"too long"}},
		{"1 MiB mode", "set_climate", map[string]any{"targets": "hall/thermostat", "mode": huge}, []string{"too long"}},
		{"1 MiB scene name", "store_scene", map[string]any{"scene": huge, "target": "lounge"}, []string{"too long"}},
		{"1 MiB argument name", "set_lights", map[string]any{"targets": "lounge/ceiling", huge: 1}, []string{"unknown argument"}},
		{"1 MiB device name", "get_device", map[string]any{"name": huge}, []string{"too long"}},
		{"1 MiB query", "list_devices", map[string]any{"query": huge}, []string{"too long"}},
		{"set_device 10k keys", "set_device", map[string]any{"name": "office/plug", "payload": manyKeys}, nil},
		{"set_device 1 MiB value", "set_device", map[string]any{"name": "office/plug", "payload": map[string]any{"state": huge}}, []string{"state"}},
		// negative, fractional and extreme numbers
		{"brightness -0.5", "set_lights", light(map[string]any{"brightness": -0.5}), []string{"brightness"}},
		{"brightness -1e-9", "set_lights", light(map[string]any{"brightness": -1e-9}), []string{"brightness"}},
		{"brightness 100.0001", "set_lights", light(map[string]any{"brightness": 100.0001}), []string{"brightness"}},
		{"brightness 1e308", "set_lights", light(map[string]any{"brightness": 1e308}), []string{"brightness"}},
		{"brightness -1e308", "set_lights", light(map[string]any{"brightness": -1e308}), []string{"brightness"}},
		{"brightness_step -100.5", "set_lights", light(map[string]any{"brightness_step": -100.5}), []string{"brightness_step"}},
		{"position -0.1", "set_covers", map[string]any{"targets": "lounge/blind", "position": -0.1}, []string{"position"}},
		{"position 100.5", "set_covers", map[string]any{"targets": "lounge/blind", "position": 100.5}, []string{"position"}},
		{"kelvin 999.99", "set_lights", light(map[string]any{"color_temp_kelvin": 999.99}), []string{"color_temp_kelvin"}},
		{"transition negative", "set_lights", light(map[string]any{"state": "on", "transition": -1}), []string{"transition"}},
		{"timeout_ms fractional", "set_lights", light(map[string]any{"state": "on", "timeout_ms": 1500.5}), []string{"timeout_ms"}},
		{"timeout_ms 1e18", "set_lights", light(map[string]any{"state": "on", "timeout_ms": 1e18}), []string{"timeout_ms"}},
		{"retries fractional", "set_lights", light(map[string]any{"state": "on", "retries": 0.5}), []string{"retries"}},
		{"retries negative", "set_lights", light(map[string]any{"state": "on", "retries": -1}), []string{"retries"}},
		{"scene id fractional", "recall_scene", map[string]any{"scene": 1.5, "target": "lounge"}, []string{"scene"}},
		{"scene id negative", "recall_scene", map[string]any{"scene": -1, "target": "lounge"}, []string{"scene"}},
		{"store scene id 0", "store_scene", map[string]any{"scene": "X", "target": "lounge", "id": 0}, []string{"id"}},
		{"temperature 1e6", "set_climate", map[string]any{"targets": "hall/thermostat", "temperature": 1e6}, []string{"temperature"}},
		{"set_device brightness 1e308", "set_device", map[string]any{"name": "lounge/ceiling", "payload": map[string]any{"brightness": 1e308}}, []string{"brightness"}},
		{"set_device brightness -1", "set_device", map[string]any{"name": "lounge/ceiling", "payload": map[string]any{"brightness": -1}}, []string{"brightness"}},
		// unicode and control characters in names
		{"BEL", "set_lights", named("lounge/ceiling\a"), []string{"not a valid name"}},
		{"DEL", "set_lights", named("lounge/ceiling\x7f"), []string{"not a valid name"}},
		{"C1 NEL", "set_lights", named("lounge/ceiling\u0085"), []string{"not a valid name"}},
		{"ANSI escape", "set_lights", named("\x1b[31mlounge/ceiling"), []string{"not a valid name"}},
		{"CRLF", "set_lights", named("lounge/ceiling\r\n"), []string{"not a valid name"}},
		{"tab", "set_lights", named("lounge/\tceiling"), []string{"not a valid name"}},
		{"leading tab", "set_lights", named("\tlounge/ceiling"), []string{"not a valid name"}},
		{"trailing newline", "set_lights", named("lounge/ceiling\n"), []string{"not a valid name"}},
		{"trailing vertical tab in a list", "set_lights", map[string]any{"targets": []any{"kitchen/spots", "lounge/ceiling\v"}, "state": "on"}, []string{"not a valid name"}},
		{"invalid UTF-8", "set_lights", named("lounge/\xff\xfeceiling"), nil},
		{"noncharacter U+FFFE", "set_lights", named("lounge/ceiling\ufffe"), []string{"not a valid name"}},
		{"right-to-left override", "set_lights", named("lounge/\u202eceiling"), []string{"not a device"}},
		{"zero-width space", "set_lights", named("lounge/\u200bceiling"), []string{"not a device"}},
		{"byte order mark", "set_lights", named("\ufefflounge/ceiling"), []string{"not a device"}},
		{"Cyrillic homoglyph", "set_lights", named("l\u043eunge/ceiling"), []string{"not a device"}},
		{"fullwidth letters", "set_lights", named("\uff4c\uff4f\uff55\uff4e\uff47\uff45/ceiling"), []string{"not a device"}},
		{"combining accent", "set_lights", named("lounge/ceiling\u0301"), []string{"not a device"}},
		{"emoji", "set_lights", named("lounge/💡"), []string{"not a device"}},
		// MQTT wildcards, topic suffixes and topic tricks
		{"/set suffix", "set_lights", named("lounge/ceiling/set"), []string{"lounge/ceiling/set"}},
		{"/get suffix", "set_lights", named("lounge/ceiling/get"), []string{"lounge/ceiling/get"}},
		{"/set/attribute", "set_lights", named("lounge/ceiling/set/brightness"), []string{"lounge/ceiling/set/brightness"}},
		{"upper-case /SET", "set_lights", named("LOUNGE/CEILING/SET"), []string{"LOUNGE/CEILING/SET"}},
		{"bridge request", "set_lights", named("bridge/request/device/remove"), []string{"bridge/request/device/remove"}},
		{"bridge request via set_device", "set_device", map[string]any{"name": "bridge/request/permit_join", "payload": map[string]any{"value": true}}, []string{"bridge/request/permit_join"}},
		{"base topic prefix", "set_lights", named("zigbee2mqtt/lounge/ceiling"), []string{"zigbee2mqtt/lounge/ceiling"}},
		{"dot-dot", "set_lights", named("../lounge/ceiling"), []string{"not a device"}},
		{"leading slash", "set_lights", named("/lounge/ceiling"), []string{"not a valid name"}},
		{"trailing slash", "set_lights", named("lounge/ceiling/"), []string{"not a valid name"}},
		{"double slash", "set_lights", named("lounge//ceiling"), []string{"not a device"}},
		{"+ level", "set_lights", named("lounge/+/set"), []string{"wildcard"}},
		{"# after set", "set_lights", named("lounge/ceiling/set/#"), []string{"wildcard"}},
		{"$SYS", "set_lights", named("$SYS/broker/version"), []string{"not a device"}},
		{"NUL then /set", "set_lights", named("lounge/ceiling\x00/set"), []string{"not a valid name"}},
		{"all/set", "set_lights", named("all/set"), []string{"all/set"}},
		{"glob", "set_lights", named("lounge/*"), []string{"not a device"}},
		{"wildcard scene target", "recall_scene", map[string]any{"scene": 1, "target": "lounge/#"}, []string{"wildcard"}},
		{"wildcard store_scene target", "store_scene", map[string]any{"scene": "X", "target": "+"}, []string{"wildcard"}},
		{"/set in set_device name", "set_device", map[string]any{"name": "office/plug/set", "payload": map[string]any{"state": "ON"}}, []string{"office/plug/set"}},
		{"wildcard in payload key", "set_device", map[string]any{"name": "office/plug", "payload": map[string]any{"state/#": "ON"}}, []string{"state/#"}},
		{"wildcard in list_devices room", "list_devices", map[string]any{"room": "#"}, []string{"#"}},
		{"wildcard in list_scenes target", "list_scenes", map[string]any{"target": "+"}, []string{"wildcard"}},
	}
	for _, tc := range cases {
		ta.Run(t, tc.name, func(t *testing.T) {
			res := call(t, c, tc.tool, tc.args)
			msg := requireToolError(t, res, tc.want...)
			require.LessOrEqual(t, len(msg), maxErrorText, "the error echoes its input: %.200s…", msg)
			e.cmds.requireNothingPublished(t)
		})
	}

	// Unknown tools are a JSON-RPC error, not a tool result.
	for _, name := range []string{"set_light", "SET_LIGHTS", "", "../set_lights", "set_lights\x00", "set_lights ", "bridge/request/device/remove", huge} {
		ta.Run(t, "unknown tool "+clipName(name), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			req := mcpgo.CallToolRequest{}
			req.Params.Name = name
			req.Params.Arguments = map[string]any{"targets": "lounge/ceiling", "state": "on"}
			_, err := c.CallTool(ctx, req)
			require.Error(t, err)
			require.LessOrEqual(t, len(err.Error()), maxErrorText+len(name))
			e.cmds.requireNothingPublished(t)
		})
	}

	// In range, fractional percentages are fine: Zigbee2MQTT gets whole
	// numbers of its own scale.
	ta.Run(t, "fractional brightness in range is converted", func(t *testing.T) {
		res, out := setter(t, c, "set_lights", map[string]any{"targets": "lounge/ceiling", "brightness": 33.3})
		require.False(t, res.IsError, text(res))
		b, ok := out.Results[0].Sent["brightness"].(float64)
		require.True(t, ok)
		require.Equal(t, float64(int(b)), b, "sent brightness %v is not a whole number", b)
		msgs := e.cmds.requireSent(t, "lounge/ceiling/set")
		require.JSONEq(t, `{"brightness":85}`, string(msgs[0].Payload))
	})
}

func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// rpcSession is a raw Streamable HTTP session: initialize, then JSON-RPC
// text posted as is.
type rpcSession struct {
	url, token, id string
}

func newRPCSession(t *testing.T, url, token string) *rpcSession {
	t.Helper()
	s := &rpcSession{url: url, token: token}
	resp := post(t, url, initializeBody, s.headers())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	s.id = resp.Header.Get("Mcp-Session-Id")
	require.NotEmpty(t, s.id)
	resp = post(t, url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, s.headers())
	require.Less(t, resp.StatusCode, 300)
	return s
}

func (s *rpcSession) headers() map[string]string {
	h := map[string]string{"Authorization": "Bearer " + s.token, "MCP-Protocol-Version": "2025-11-25"}
	if s.id != "" {
		h["Mcp-Session-Id"] = s.id
	}
	return h
}

// send posts body and returns the HTTP status and the JSON-RPC messages of
// the answer (plain JSON or an SSE stream).
func (s *rpcSession) send(t *testing.T, body string) (int, []map[string]any, string) {
	t.Helper()
	resp := post(t, s.url, body, s.headers())
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err)
	var msgs []map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(strings.NewReader(string(raw)))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				if json.Unmarshal([]byte(data), &m) == nil {
					msgs = append(msgs, m)
				}
			}
		}
	} else if resp.Header.Get("Content-Type") == "application/json" {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			msgs = append(msgs, m)
		} else {
			var list []map[string]any
			if json.Unmarshal(raw, &list) == nil {
				msgs = list
			}
		}
	}
	return resp.StatusCode, msgs, string(raw)
}

// rejected reports whether an answer refuses the request: a 4xx status, a
// JSON-RPC error, or a tool result with isError.
func rejected(status int, msgs []map[string]any) bool {
	if status >= 400 && status < 500 {
		return true
	}
	if status != http.StatusOK && status != http.StatusAccepted {
		return false
	}
	for _, m := range msgs {
		if m["error"] != nil {
			return true
		}
		if r, ok := m["result"].(map[string]any); ok && r["isError"] == true {
			return true
		}
	}
	return false
}

func toolsCall(args string) string {
	return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"set_lights","arguments":` + args + `}}`
}

// TestHostileJSONRPC posts raw text over Streamable HTTP: numbers Go's
// encoder cannot produce, JSON-RPC garbage and oversized bodies.
func TestHostileJSONRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const token = "rpc-token"
	ts := httptest.NewServer(e.srv.HTTPHandler(mcp.HTTPConfig{Token: token}))
	t.Cleanup(ts.Close)
	s := newRPCSession(t, ts.URL+"/mcp", token)
	e.cmds.take()
	ta := &mcptest.Tally{Name: "raw JSON-RPC over Streamable HTTP"}
	defer ta.Log(t)

	bodies := []struct{ name, body string }{
		{"NaN brightness", toolsCall(`{"targets":"lounge/ceiling","brightness":NaN}`)},
		{"Infinity brightness", toolsCall(`{"targets":"lounge/ceiling","brightness":Infinity}`)},
		{"-Infinity position", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"set_covers","arguments":{"targets":"lounge/blind","position":-Infinity}}}`},
		{"1e999 brightness", toolsCall(`{"targets":"lounge/ceiling","brightness":1e999}`)},
		{"-1e999 timeout", toolsCall(`{"targets":"lounge/ceiling","state":"on","timeout_ms":-1e999}`)},
		{"hex number", toolsCall(`{"targets":"lounge/ceiling","brightness":0x20}`)},
		{"leading plus", toolsCall(`{"targets":"lounge/ceiling","brightness":+20}`)},
		{"NaN as a string", toolsCall(`{"targets":"lounge/ceiling","brightness":"NaN"}`)},
		{"lone surrogate in a name", toolsCall(`{"targets":"lounge/ceiling\ud800","state":"on"}`)},
		{"escaped NUL in a name", toolsCall(`{"targets":"lounge/ceiling\u0000/set","state":"on"}`)},
		{"duplicate keys, last out of range", toolsCall(`{"targets":"lounge/ceiling","brightness":10,"brightness":1000}`)},
		{"arguments null", toolsCall(`null`)},
		{"arguments array", toolsCall(`["lounge/ceiling","on"]`)},
		{"arguments string", toolsCall(`"targets=lounge/ceiling&state=on"`)},
		{"arguments number", toolsCall(`42`)},
		{"params array", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":["set_lights",{"targets":"lounge/ceiling","state":"on"}]}`},
		{"name number", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":5,"arguments":{}}}`},
		{"unknown tool", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"set_light","arguments":{"targets":"lounge/ceiling","state":"on"}}}`},
		{"unknown method", `{"jsonrpc":"2.0","id":7,"method":"devices/set","params":{}}`},
		{"not JSON", `set_lights lounge/ceiling on`},
		{"truncated", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"set_lights","argu`},
		{"empty body", ``},
		{"null", `null`},
		{"number", `42`},
		{"string", `"tools/call"`},
		{"empty array", `[]`},
		{"array of numbers", `[1,2,3]`},
		{"batch with a call", `[` + toolsCall(`{"targets":"lounge/ceiling","state":"on"}`) + `]`},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":7,"method":"tools/call","params":{"name":"set_lights","arguments":{"targets":"lounge/ceiling","state":"on"}}}`},
		{"no jsonrpc", `{"id":7,"method":"tools/call","params":{"name":"set_lights","arguments":{"targets":"lounge/ceiling","state":"on"}}}`},
		{"method number", `{"jsonrpc":"2.0","id":7,"method":5}`},
		{"id object", `{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"set_lights","arguments":{"targets":"lounge/+","state":"on"}}}`},
		{"trailing garbage", toolsCall(`{"targets":"lounge/+","state":"on"}`) + `xyz`},
		{"two objects", toolsCall(`{"targets":"lounge/+","state":"on"}`) + toolsCall(`{"targets":"#","state":"on"}`)},
		{"deep nesting", toolsCall(strings.Repeat(`{"a":`, 10_000) + `1` + strings.Repeat(`}`, 10_000))},
		{"deep arrays", strings.Repeat(`[`, 100_000) + strings.Repeat(`]`, 100_000)},
		{"control bytes", "\x00\x01\x02{\"jsonrpc\":\"2.0\"}"},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"set_lights\",\"arguments\":{\"targets\":\"lounge/\xff\xfe\",\"state\":\"on\"}}}"},
		{"wildcard target", toolsCall(`{"targets":"lounge/#","state":"on"}`)},
		{"/set target", toolsCall(`{"targets":"lounge/ceiling/set","state":"on"}`)},
	}
	for _, b := range bodies {
		ta.Run(t, b.name, func(t *testing.T) {
			status, msgs, raw := s.send(t, b.body)
			require.Less(t, status, 500, "server error: %.300s", raw)
			require.True(t, rejected(status, msgs), "not refused: %d %.300s", status, raw)
			e.cmds.requireNothingPublished(t)
		})
	}

	ta.Run(t, "body at the limit is read, one byte over is refused", func(t *testing.T) {
		pad := func(n int) string {
			head := `{"jsonrpc":"2.0","id":8,"method":"ping","params":{"pad":"`
			tail := `"}}`
			return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
		}
		status, msgs, raw := s.send(t, pad(1<<20))
		require.Equal(t, http.StatusOK, status, "%.300s", raw)
		require.NotEmpty(t, msgs)
		status, _, _ = s.send(t, pad(1<<20+1))
		require.Equal(t, http.StatusRequestEntityTooLarge, status)
		e.cmds.requireNothingPublished(t)
	})

	ta.Run(t, "oversized body on the legacy /message endpoint", func(t *testing.T) {
		resp := post(t, ts.URL+"/message?sessionId=x", `{"pad":"`+strings.Repeat("x", 2<<20)+`"}`, map[string]string{"Authorization": "Bearer " + token})
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		e.cmds.requireNothingPublished(t)
	})

	// After all that, the session still works.
	status, msgs, raw := s.send(t, toolsCall(`{"targets":"lounge/ceiling","brightness":20}`))
	require.Equal(t, http.StatusOK, status, raw)
	require.NotEmpty(t, msgs, raw)
	require.Contains(t, raw, "confirmed")
	e.cmds.requireSent(t, "lounge/ceiling/set")
}

// TestHTTPGuard extends TestHTTP: token variants on every guarded path,
// Origins on the legacy SSE endpoints, expired sessions.
func TestHTTPGuard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const token = "guard-token-7c1e"
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "metrics") })
	health := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	ts := httptest.NewServer(e.srv.HTTPHandler(mcp.HTTPConfig{Token: token, Metrics: metrics, Health: health}))
	t.Cleanup(ts.Close)
	e.cmds.take()
	ta := &mcptest.Tally{Name: "HTTP guard"}
	defer ta.Log(t)
	setCall := toolsCall(`{"targets":"lounge/ceiling","state":"on"}`)

	do := func(t *testing.T, method, path, body string, header map[string]string) *http.Response {
		t.Helper()
		return httpDo(t, method, ts.URL+path, body, header)
	}

	for _, auth := range []struct{ name, value string }{
		{"empty bearer", "Bearer "},
		{"token prefix", "Bearer " + token[:len(token)-1]},
		{"token with a suffix", "Bearer " + token + "x"},
		{"token upper-cased", "Bearer " + strings.ToUpper(token)},
		{"no space after Bearer", "Bearer" + token},
		{"Basic scheme", "Basic " + token},
		{"token twice", "Bearer " + token + " " + token},
		{"NUL after token", "Bearer " + token + "\x00"},
	} {
		for _, path := range []string{"/mcp", "/sse", "/message?sessionId=x", "/metrics"} {
			ta.Run(t, auth.name+" on "+path, func(t *testing.T) {
				method := http.MethodPost
				if path == "/sse" || path == "/metrics" {
					method = http.MethodGet
				}
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, method, ts.URL+path, strings.NewReader(setCall))
				require.NoError(t, err)
				req.Header["Authorization"] = []string{auth.value} // as is, even invalid
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the client refused to send it: nothing reached the server
				}
				defer resp.Body.Close()
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				require.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
				body, _ := io.ReadAll(resp.Body)
				require.NotContains(t, string(body), token)
				e.cmds.requireNothingPublished(t)
			})
		}
	}
	ta.Run(t, "token in the query string", func(t *testing.T) {
		resp := do(t, http.MethodPost, "/mcp?token="+token+"&access_token="+token, initializeBody, nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	ta.Run(t, "healthz is open", func(t *testing.T) {
		resp := do(t, http.MethodGet, "/healthz", "", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})

	for _, origin := range []string{"https://evil.example", "http://127.0.0.1.evil.example", "http://localhost@evil.example", "file://", "http://[::1].evil.example", "HTTPS://EVIL.EXAMPLE"} {
		for _, path := range []string{"/mcp", "/sse", "/metrics"} {
			ta.Run(t, "Origin "+origin+" on "+path, func(t *testing.T) {
				h := map[string]string{"Authorization": "Bearer " + token, "Origin": origin}
				method := http.MethodPost
				if path != "/mcp" {
					method = http.MethodGet
				}
				resp := do(t, method, path, setCall, h)
				require.Equal(t, http.StatusForbidden, resp.StatusCode)
				e.cmds.requireNothingPublished(t)
			})
		}
	}

	ta.Run(t, "expired session: deleted, then reused", func(t *testing.T) {
		s := newRPCSession(t, ts.URL+"/mcp", token)
		status, _, raw := s.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
		require.Equal(t, http.StatusOK, status, raw)
		resp := do(t, http.MethodDelete, "/mcp", "", s.headers())
		require.Less(t, resp.StatusCode, 300, "DELETE the session")
		status, _, _ = s.send(t, setCall)
		require.Equal(t, http.StatusNotFound, status)
		status, _, _ = s.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
		require.Equal(t, http.StatusNotFound, status)
		e.cmds.requireNothingPublished(t)
	})

	ta.Run(t, "a live session id without the token", func(t *testing.T) {
		s := newRPCSession(t, ts.URL+"/mcp", token)
		h := s.headers()
		delete(h, "Authorization")
		resp := do(t, http.MethodPost, "/mcp", setCall, h)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		e.cmds.requireNothingPublished(t)
	})

	for _, id := range []string{"forged", strings.Repeat("a", 8<<10), "../../etc/passwd", "' OR 1=1 --"} {
		ta.Run(t, "forged session id "+clipName(id), func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer " + token, "Mcp-Session-Id": id, "MCP-Protocol-Version": "2025-11-25"}
			resp := do(t, http.MethodPost, "/mcp", setCall, h)
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
			resp = do(t, http.MethodDelete, "/mcp", "", h) // mcp-go answers 200: nothing to delete
			require.Less(t, resp.StatusCode, 500)
			resp = do(t, http.MethodPost, "/mcp", setCall, h)
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
			e.cmds.requireNothingPublished(t)
		})
	}
}
