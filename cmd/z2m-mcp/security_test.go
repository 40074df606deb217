package main

// Bad input and security against the built binary: JSON-RPC garbage and
// numbers Go cannot encode (NaN, Infinity) over stdio and HTTP, oversized
// bodies, the HTTP guard, and refusing a non-loopback listener without a
// token. Nothing may be published (checked on the broker); the suites
// count their cases and log the totals.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mcp/mcptest"

	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// commandLog records command publishes (/set, /get, bridge/request) on the
// broker, with a marker to sync on the broker's order.
type commandLog struct {
	t       *testing.T
	mq      *mqtt.Client
	seq     atomic.Int64
	markers chan string
	mu      sync.Mutex
	cmds    []string
}

func watchBroker(t *testing.T, url string) *commandLog {
	t.Helper()
	l := &commandLog{t: t, markers: make(chan string, 16)}
	mq, err := mqtt.New(mqtt.Config{URL: url, Logger: zerolog.Nop()})
	require.NoError(t, err)
	mq.Subscribe("#", 1, func(m mqtt.Message) {
		if strings.HasPrefix(m.Topic, "test-marker/") {
			l.markers <- m.Topic
			return
		}
		rest, ok := strings.CutPrefix(m.Topic, "zigbee2mqtt/")
		if ok && (strings.HasSuffix(rest, "/set") || strings.HasSuffix(rest, "/get") || strings.HasPrefix(rest, "bridge/request/") ||
			strings.Contains(rest, "/set/") || strings.Contains(rest, "/get/")) {
			l.mu.Lock()
			l.cmds = append(l.cmds, rest)
			l.mu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, mq.Connect(ctx))
	t.Cleanup(mq.Close)
	l.mq = mq
	l.take()
	return l
}

// take waits for a marker and returns (and forgets) the commands seen.
func (l *commandLog) take() []string {
	l.t.Helper()
	topic := fmt.Sprintf("test-marker/%d", l.seq.Add(1))
	require.Eventually(l.t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if l.mq.PublishQoS(ctx, topic, 1, false, []byte("m")) != nil {
			return false
		}
		timer := time.NewTimer(500 * time.Millisecond)
		defer timer.Stop()
		for {
			select {
			case got := <-l.markers:
				if got == topic {
					return true
				}
			case <-timer.C:
				return false
			}
		}
	}, wait, 10*time.Millisecond, "marker never came back")
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.cmds
	l.cmds = nil
	return out
}

// rawStdio drives the binary's stdio by hand.
type rawStdio struct {
	t      *testing.T
	stdin  io.WriteCloser
	lines  chan string
	stderr *syncBuffer
	mu     sync.Mutex
	bad    []string // stdout lines that are not JSON-RPC
	byID   map[string]map[string]any
	nulls  int // responses with id null
}

func startRawStdio(t *testing.T, args ...string) *rawStdio {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv(t)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	r := &rawStdio{t: t, stdin: stdin, lines: make(chan string, 1024), stderr: &syncBuffer{}, byID: map[string]map[string]any{}}
	cmd.Stderr = r.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("z2m-mcp stderr:\n%s", r.stderr.String())
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 4<<20), 4<<20)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	return r
}

func (r *rawStdio) send(s string) error {
	_, err := io.WriteString(r.stdin, s+"\n")
	return err
}

// await reads stdout until the response with id arrives; every line is
// checked to be JSON-RPC.
func (r *rawStdio) await(id string) (map[string]any, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		if m, ok := r.byID[id]; ok {
			return m, nil
		}
		select {
		case line, ok := <-r.lines:
			if !ok {
				return nil, errors.New("stdout closed: the server exited")
			}
			var msg map[string]any
			if err := json.Unmarshal([]byte(line), &msg); err != nil || msg["jsonrpc"] != "2.0" {
				r.bad = append(r.bad, line)
				continue
			}
			switch v := msg["id"].(type) {
			case nil:
				if _, isNotification := msg["method"]; !isNotification {
					r.nulls++
				}
			default:
				b, _ := json.Marshal(v)
				r.byID[string(b)] = msg
			}
		case <-timer.C:
			return nil, fmt.Errorf("no response %s", id)
		}
	}
}

func TestStdioHostileInput(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	startSim(t, broker.URL, simulator.Config{})
	cmds := watchBroker(t, broker.URL)
	r := startRawStdio(t, "--mqtt-url", broker.URL, "--allow-raw")
	ta := &mcptest.Tally{Name: "JSON-RPC over stdio (binary)"}
	defer ta.Log(t)

	require.NoError(t, r.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`))
	_, err := r.await("1")
	require.NoError(t, err, "stderr:\n%s", r.stderr.String())
	require.NoError(t, r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	// Wait for the inventory, so a wrongly accepted command would publish.
	id := 100
	require.Eventually(t, func() bool {
		id++
		if r.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"list_devices","arguments":{}}}`, id)) != nil {
			return true
		}
		m, err := r.await(fmt.Sprint(id))
		b, _ := json.Marshal(m)
		return err != nil || strings.Contains(string(b), "lounge/ceiling")
	}, wait, 50*time.Millisecond)
	cmds.take()

	call := func(id int, args string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"set_lights","arguments":%s}}`, id, args)
	}
	cases := []struct {
		name, line string
		id         int // the id answered with an error; 0: a parse error (id null) or no answer
	}{
		{"NaN", call(2, `{"targets":"lounge/ceiling","brightness":NaN}`), 0},
		{"Infinity", call(3, `{"targets":"lounge/ceiling","brightness":Infinity}`), 0},
		{"-Infinity", call(4, `{"targets":"lounge/ceiling","brightness":-Infinity}`), 0},
		{"1e999", call(5, `{"targets":"lounge/ceiling","brightness":1e999}`), 0},
		{"negative brightness", call(6, `{"targets":"lounge/ceiling","brightness":-0.5}`), 6},
		{"wildcard target", call(7, `{"targets":"lounge/#","state":"on"}`), 7},
		{"/set target", call(8, `{"targets":"lounge/ceiling/set","state":"on"}`), 8},
		{"escaped control character", call(9, `{"targets":"lounge/ceiling\u0007","state":"on"}`), 9},
		{"trailing newline in a name", call(10, `{"targets":"lounge/ceiling\n","state":"on"}`), 10},
		{"unknown tool", `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"set_light","arguments":{"targets":"lounge/ceiling","state":"on"}}}`, 11},
		{"unknown method", `{"jsonrpc":"2.0","id":12,"method":"devices/set","params":{}}`, 12},
		{"arguments array", call(13, `["lounge/ceiling","on"]`), 13},
		{"params array", `{"jsonrpc":"2.0","id":14,"method":"tools/call","params":["set_lights"]}`, 14},
		{"not JSON", `set_lights lounge/ceiling on`, 0},
		{"truncated", `{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"set_li`, 0},
		{"empty object", `{}`, 0},
		{"null", `null`, 0},
		{"number", `42`, 0},
		{"array", `[1,2]`, 0},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":16,"method":"tools/call","params":{"name":"set_lights","arguments":{"targets":"lounge/ceiling","state":"on"}}}`, 0},
		{"control bytes", "\x00\x01\x1b[31m", 0},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":17,\"method\":\"tools/call\",\"params\":{\"name\":\"set_lights\",\"arguments\":{\"targets\":\"lounge/\xff\",\"state\":\"on\"}}}", 17},
		{"deep nesting", call(18, strings.Repeat(`{"a":`, 10_000)+`1`+strings.Repeat(`}`, 10_000)), 0},
		{"1 MiB line", call(19, `{"targets":"`+strings.Repeat("x", 1<<20)+`","state":"on"}`), 19},
	}
	ping := 1000
	for _, tc := range cases {
		ta.Run(t, tc.name, func(t *testing.T) {
			require.NoError(t, r.send(tc.line))
			if tc.id != 0 {
				m, err := r.await(fmt.Sprint(tc.id))
				require.NoError(t, err)
				res, _ := m["result"].(map[string]any)
				require.True(t, m["error"] != nil || res["isError"] == true, "not refused: %v", m)
			}
			// The server is still there and in order.
			ping++
			require.NoError(t, r.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, ping)))
			_, err := r.await(fmt.Sprint(ping))
			require.NoError(t, err, "after %s", tc.name)
			require.Empty(t, cmds.take(), "commands were published")
		})
	}
	require.Empty(t, r.bad, "stdout lines that are not JSON-RPC")
	t.Logf("parse errors answered with id null: %d", r.nulls)

	// Still serving real calls.
	require.NoError(t, r.send(call(50, `{"targets":"lounge/ceiling","brightness":20}`)))
	m, err := r.await("50")
	require.NoError(t, err)
	b, _ := json.Marshal(m)
	require.Contains(t, string(b), "confirmed")
	require.Equal(t, []string{"lounge/ceiling/set"}, cmds.take())
}

func TestHTTPBinaryHostileInput(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	startSim(t, broker.URL, simulator.Config{})
	cmds := watchBroker(t, broker.URL)
	const token = "bin-guard-91"
	p := startProc(t, cleanEnv(t, "Z2M_MCP_TOKEN="+token), "--transport", "http", "--listen", "127.0.0.1:0",
		"--mqtt-url", broker.URL, "--log-format", "json")
	base := "http://" + p.addr(t)
	ta := &mcptest.Tally{Name: "HTTP (binary)"}
	defer ta.Log(t)

	do := func(t *testing.T, method, path, body string, header map[string]string) (int, http.Header, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, resp.Header, string(b)
	}
	auth := map[string]string{"Authorization": "Bearer " + token, "MCP-Protocol-Version": "2025-11-25"}
	status, h, body := do(t, http.MethodPost, "/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, auth)
	require.Equal(t, http.StatusOK, status, body)
	session := h.Get("Mcp-Session-Id")
	require.NotEmpty(t, session)
	auth["Mcp-Session-Id"] = session
	// Wait for the inventory, so a wrongly accepted command would publish.
	require.Eventually(t, func() bool {
		_, _, body := do(t, http.MethodPost, "/mcp", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_devices","arguments":{}}}`, auth)
		return strings.Contains(body, "lounge/ceiling")
	}, wait, 50*time.Millisecond)
	cmds.take()
	setCall := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"set_lights","arguments":{"targets":"lounge/ceiling","state":"on"}}}`

	refused := func(status int, body string) bool {
		if status >= 400 && status < 500 {
			return true
		}
		return status == http.StatusOK && (strings.Contains(body, `"error"`) || strings.Contains(body, `"isError":true`))
	}
	for _, tc := range []struct{ name, body string }{
		{"NaN", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"set_lights","arguments":{"targets":"lounge/ceiling","brightness":NaN}}}`},
		{"Infinity", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"set_covers","arguments":{"targets":"lounge/blind","position":Infinity}}}`},
		{"garbage", `}{`},
		{"empty", ``},
		{"batch", `[` + setCall + `]`},
		{"wildcard", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"set_lights","arguments":{"targets":"#","state":"on"}}}`},
	} {
		ta.Run(t, tc.name, func(t *testing.T) {
			status, _, body := do(t, http.MethodPost, "/mcp", tc.body, auth)
			require.Less(t, status, 500, body)
			require.True(t, refused(status, body), "not refused: %d %.300s", status, body)
			require.Empty(t, cmds.take())
		})
	}
	ta.Run(t, "oversized body", func(t *testing.T) {
		status, _, _ := do(t, http.MethodPost, "/mcp", `{"jsonrpc":"2.0","id":5,"method":"ping","params":{"pad":"`+strings.Repeat("x", 1<<20)+`"}}`, auth)
		require.Equal(t, http.StatusRequestEntityTooLarge, status)
	})
	ta.Run(t, "wrong token", func(t *testing.T) {
		status, h, _ := do(t, http.MethodPost, "/mcp", setCall, map[string]string{"Authorization": "Bearer " + token + "0", "Mcp-Session-Id": session})
		require.Equal(t, http.StatusUnauthorized, status)
		require.NotEmpty(t, h.Get("WWW-Authenticate"))
	})
	ta.Run(t, "metrics need the token", func(t *testing.T) {
		status, _, _ := do(t, http.MethodGet, "/metrics", "", nil)
		require.Equal(t, http.StatusUnauthorized, status)
		status, _, body := do(t, http.MethodGet, "/metrics", "", map[string]string{"Authorization": "Bearer " + token})
		require.Equal(t, http.StatusOK, status)
		require.NotContains(t, body, token)
	})
	ta.Run(t, "foreign Origin", func(t *testing.T) {
		h := map[string]string{"Authorization": "Bearer " + token, "Mcp-Session-Id": session, "Origin": "https://evil.example"}
		status, _, _ := do(t, http.MethodPost, "/mcp", setCall, h)
		require.Equal(t, http.StatusForbidden, status)
	})
	ta.Run(t, "expired session", func(t *testing.T) {
		status, _, _ := do(t, http.MethodDelete, "/mcp", "", auth)
		require.Less(t, status, 300)
		status, _, _ = do(t, http.MethodPost, "/mcp", setCall, auth)
		require.Equal(t, http.StatusNotFound, status)
	})
	require.Empty(t, cmds.take(), "commands were published")
	require.NotContains(t, p.stderr.String(), token, "the token is never logged")
}

// TestNonLoopbackNeedsToken: the binary refuses to serve a network address
// without a token, whichever way the address is given, and binds nothing.
func TestNonLoopbackNeedsToken(t *testing.T) {
	t.Parallel()
	ta := &mcptest.Tally{Name: "non-loopback listeners without a token"}
	defer ta.Log(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"all IPv4 interfaces", nil, []string{"--transport", "http", "--listen", "0.0.0.0:0"}, "--listen"},
		{"all interfaces, empty host", nil, []string{"--transport", "http", "--listen", ":0"}, "--listen"},
		{"all IPv6 interfaces", nil, []string{"--transport", "http", "--listen", "[::]:0"}, "--listen"},
		{"a host name", nil, []string{"--transport", "http", "--listen", "example.com:0"}, "--listen"},
		{"loopback look-alike name", nil, []string{"--transport", "http", "--listen", "127.0.0.1.nip.io:0"}, "--listen"},
		{"from the environment", []string{"Z2M_MCP_TRANSPORT=http", "Z2M_MCP_LISTEN=0.0.0.0:0"}, nil, "--listen"},
		{"metrics on all interfaces", nil, []string{"--metrics-listen", "0.0.0.0:0"}, "--metrics-listen"},
		{"empty token from the environment", []string{"Z2M_MCP_TOKEN="}, []string{"--transport", "http", "--listen", "0.0.0.0:0"}, "--listen"},
	} {
		ta.Run(t, tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"--mqtt-url", "tcp://127.0.0.1:1"}, tc.args...)...)
			cmd.Env = cleanEnv(t, tc.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "the server started: %v\n%s", err, out)
			require.Equal(t, 2, ee.ExitCode(), "%s", out)
			require.Contains(t, string(out), tc.want)
			require.Contains(t, string(out), "token")
			require.NotContains(t, string(out), "serving MCP")
		})
	}
}
