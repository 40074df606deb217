package main

// Tests of the built binary: stdio and Streamable HTTP through mcp-go's
// client, --demo, /healthz and `z2m-mcp check`, against a real broker
// (mqtttest) and the simulated Zigbee2MQTT home.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mcp/mcptest"
	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

const wait = 10 * time.Second

// bin is the z2m-mcp binary built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "z2m-mcp-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "z2m-mcp")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goCmd, "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building z2m-mcp:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the environment for the binary: no Z2M_MCP_* settings from
// the developer's shell, and no .env from the working directory.
func cleanEnv(t *testing.T, extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "Z2M_MCP_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// startSim starts the simulated home on the broker.
func startSim(t *testing.T, url string, cfg simulator.Config) *simulator.Simulator {
	t.Helper()
	return mcptest.Simulator(t, url, cfg)
}

func call(t *testing.T, c *client.Client, tool string, args any) *mcpgo.CallToolResult {
	t.Helper()
	return mcptest.Call(t, c, tool, args)
}

func text(res *mcpgo.CallToolResult) string { return mcptest.Text(res) }

func decode(t *testing.T, res *mcpgo.CallToolResult, v any) {
	t.Helper()
	mcptest.Decode(t, res, v)
}

func initialize(t *testing.T, c *client.Client) *mcpgo.InitializeResult {
	t.Helper()
	return mcptest.Start(t, c)
}

// waitDevices waits until list_devices lists n devices (the binary connects
// to the broker in the background).
func waitDevices(t *testing.T, c *client.Client, n int) {
	t.Helper()
	var last string
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		req := mcpgo.CallToolRequest{}
		req.Params.Name = "list_devices"
		res, err := c.CallTool(ctx, req)
		if err != nil {
			last = err.Error()
			return false
		}
		last = text(res)
		var list struct {
			Count int `json:"count"`
		}
		raw, _ := json.Marshal(res.StructuredContent)
		if len(res.RawStructuredContent) > 0 {
			raw = res.RawStructuredContent
		}
		return !res.IsError && json.Unmarshal(raw, &list) == nil && list.Count == n
	}, wait, 50*time.Millisecond, "list_devices never listed %d devices; last: %s", n, last)
}

// requireCore: the devices are listed and a light confirms.
func requireCore(t *testing.T, c *client.Client, n int, light string) {
	t.Helper()
	waitDevices(t, c, n)
	res := call(t, c, "list_devices", map[string]any{"type": "light"})
	require.Contains(t, text(res), light)
	res = call(t, c, "set_lights", map[string]any{"targets": light, "brightness": 42})
	require.False(t, res.IsError, text(res))
	var out struct {
		Results []struct {
			Status string         `json:"status"`
			Reason string         `json:"reason"`
			State  map[string]any `json:"state"`
		} `json:"results"`
	}
	decode(t, res, &out)
	require.Len(t, out.Results, 1)
	require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
	require.InDelta(t, 107, out.Results[0].State["brightness"], 1)
	// Bad input is a tool error, not a protocol error.
	res = call(t, c, "set_lights", map[string]any{"targets": "lounge/celing", "state": "on"})
	require.True(t, res.IsError)
	require.Contains(t, text(res), "'lounge/ceiling'")
}

// stdioClient starts the binary as an MCP server over stdio.
func stdioClient(t *testing.T, env []string, opts []client.ClientOption, args ...string) *client.Client {
	t.Helper()
	var stderr syncBuffer
	tr := transport.NewStdioWithOptions(bin, env, args, transport.WithCommandStderrWriter(&stderr))
	// Start's context bounds the process's life, not just its start.
	require.NoError(t, tr.Start(context.Background()))
	c := client.NewClient(tr, opts...)
	t.Cleanup(func() {
		_ = c.Close()
		if t.Failed() {
			t.Logf("z2m-mcp stderr:\n%s", stderr.String())
		}
	})
	return c
}

func TestStdio(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	sim := startSim(t, broker.URL, simulator.Config{})
	for _, proto := range []struct {
		name  string
		opts  []client.ClientOption
		light string
	}{
		{"default protocol", nil, "lounge/ceiling"},
		{"2025-11-25", []client.ClientOption{client.WithProtocolVersion(mcpgo.ProtocolVersion20251125)}, "lounge/tv_backlight"},
	} {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			c := stdioClient(t, cleanEnv(t), proto.opts, "--mqtt-url", broker.URL, "--log-level", "debug")
			init := initialize(t, c)
			require.Equal(t, "z2m-mcp", init.ServerInfo.Name)
			if len(proto.opts) > 0 {
				require.Equal(t, mcpgo.ProtocolVersion20251125, init.ProtocolVersion)
			}
			requireCore(t, c, len(sim.Devices()), proto.light)
		})
	}
}

func TestStdioSettingsFromEnvironment(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	sim := startSim(t, broker.URL, simulator.Config{BaseTopic: "z2m_other"})
	c := stdioClient(t, cleanEnv(t, "Z2M_MCP_MQTT_URL="+broker.URL, "Z2M_MCP_BASE_TOPIC=z2m_other", "Z2M_MCP_READ_ONLY=true"), nil)
	initialize(t, c)
	waitDevices(t, c, len(sim.Devices()))
	res := call(t, c, "set_lights", map[string]any{"targets": "lounge/ceiling", "state": "on"})
	require.True(t, res.IsError)
	require.Contains(t, text(res), "read-only")
}

// TestStdioStdoutIsJSONRPC drives the binary by hand and checks that every
// line on stdout is a JSON-RPC message (mcp-go's client skips other lines,
// so it would not notice), while the logs go to stderr.
func TestStdioStdoutIsJSONRPC(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	startSim(t, broker.URL, simulator.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--mqtt-url", broker.URL, "--log-level", "debug", "--log-format", "console")
	cmd.Env = cleanEnv(t)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	send := func(s string) {
		_, err := io.WriteString(stdin, s+"\n")
		require.NoError(t, err)
	}
	// next returns the response with the given id, checking every line.
	next := func(id int) (map[string]any, error) {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					return nil, errors.New("stdout closed")
				}
				var msg map[string]any
				if err := json.Unmarshal([]byte(line), &msg); err != nil || msg["jsonrpc"] != "2.0" {
					return nil, fmt.Errorf("stdout line is not JSON-RPC: %q", line)
				}
				if msg["id"] == float64(id) {
					return msg, nil
				}
			case <-timer.C:
				return nil, fmt.Errorf("no response %d", id)
			}
		}
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	msg, err := next(1)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	require.Contains(t, msg, "result")
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	id := 1
	var readErr error
	require.Eventually(t, func() bool {
		id++
		if _, err := io.WriteString(stdin, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"list_devices","arguments":{}}}`+"\n", id)); err != nil {
			readErr = err
			return true
		}
		msg, err := next(id)
		if err != nil {
			readErr = err
			return true
		}
		b, _ := json.Marshal(msg)
		return bytes.Contains(b, []byte("lounge/ceiling"))
	}, wait, 50*time.Millisecond)
	require.NoError(t, readErr, "stderr:\n%s", stderr.String())
	id++
	send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"set_lights","arguments":{"targets":"kitchen/spots","state":"on"}}}`, id))
	msg, err = next(id)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	b, _ := json.Marshal(msg)
	require.Contains(t, string(b), "confirmed")
	require.Contains(t, stderr.String(), "serving MCP over stdio", "logs go to stderr")
	// Closing stdin ends the server cleanly.
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait(), "stderr:\n%s", stderr.String())
	for line := range lines {
		var msg map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &msg), "stdout line is not JSON: %q", line)
		require.Equal(t, "2.0", msg["jsonrpc"], line)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	c := stdioClient(t, cleanEnv(t), nil, "--demo")
	initialize(t, c)
	n := 0
	for _, d := range simulator.SampleHome().Devices {
		if d["type"] != "Coordinator" {
			n++
		}
	}
	requireCore(t, c, n, "lounge/reading_lamp")
	res := call(t, c, "list_scenes", map[string]any{"target": "lounge"})
	require.Contains(t, text(res), "Movie")
}

// proc is the binary running in the background.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("z2m-mcp stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

var listenRE = regexp.MustCompile(`"listen":"([^"]+)"`)

// addr waits for the HTTP listen address in the JSON log.
func (p *proc) addr(t *testing.T) string {
	t.Helper()
	var addr string
	require.Eventually(t, func() bool {
		m := listenRE.FindStringSubmatch(p.stderr.String())
		if m != nil {
			addr = m[1]
		}
		return addr != ""
	}, wait, 10*time.Millisecond, "no listen address logged: %s", p.stderr.String())
	return addr
}

// getHealth reads /healthz; a failed request returns status 0.
func getHealth(t *testing.T, base string) (int, map[string]any) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return 0, nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body map[string]any
	if resp.Header.Get("Content-Type") != "application/json" || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return -resp.StatusCode, nil
	}
	return resp.StatusCode, body
}

func TestHTTPBinary(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	sim := startSim(t, broker.URL, simulator.Config{})
	const token = "tok-3f9a"
	p := startProc(t, cleanEnv(t, "Z2M_MCP_TOKEN="+token), "--transport", "http", "--listen", "127.0.0.1:0",
		"--mqtt-url", broker.URL, "--log-format", "json")
	base := "http://" + p.addr(t)
	require.NotContains(t, p.stderr.String(), token, "the token is never logged")

	t.Run("healthz", func(t *testing.T) {
		var body map[string]any
		require.Eventually(t, func() bool {
			var code int
			code, body = getHealth(t, base)
			return code == http.StatusOK
		}, wait, 20*time.Millisecond, "healthz never became 200: %v", body)
		require.Equal(t, true, body["ok"])
		require.Equal(t, true, body["mqtt_connected"])
		require.Equal(t, "online", body["bridge"])
	})

	t.Run("mcp needs the token", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
	})

	for _, proto := range []struct {
		name  string
		opts  []client.ClientOption
		light string
	}{
		{"default protocol", nil, "lounge/ceiling"},
		{"2025-11-25", []client.ClientOption{client.WithProtocolVersion(mcpgo.ProtocolVersion20251125)}, "lounge/tv_backlight"},
	} {
		t.Run(proto.name, func(t *testing.T) {
			tr, err := transport.NewStreamableHTTP(base+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
			require.NoError(t, err)
			c := client.NewClient(tr, proto.opts...)
			t.Cleanup(func() { _ = c.Close() })
			initialize(t, c)
			requireCore(t, c, len(sim.Devices()), proto.light)
		})
	}

	t.Run("SIGTERM stops it cleanly", func(t *testing.T) {
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		select {
		case err := <-p.done:
			p.done <- err // for the cleanup
			require.NoError(t, err, "exit status after SIGTERM")
		case <-time.After(wait):
			t.Fatal("z2m-mcp did not stop on SIGTERM")
		}
	})
}

func TestHealthzWithoutBridge(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	p := startProc(t, cleanEnv(t), "--transport", "http", "--listen", "127.0.0.1:0", "--mqtt-url", broker.URL, "--log-format", "json")
	base := "http://" + p.addr(t)
	var body map[string]any
	codes := map[int]bool{}
	require.Eventually(t, func() bool {
		var code int
		code, body = getHealth(t, base)
		codes[code] = true
		return body["mqtt_connected"] == true
	}, wait, 20*time.Millisecond)
	require.Equal(t, map[int]bool{http.StatusServiceUnavailable: true}, codes)
	require.Equal(t, false, body["ok"])
	require.Equal(t, "unknown", body["bridge"])
}

// runCheck runs `z2m-mcp check` and returns its exit code and output.
func runCheckBin(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"check"}, args...)...)
	cmd.Env = cleanEnv(t)
	var out bytes.Buffer
	cmd.Stdout = &out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, out.String() + stderr.String()
}

func TestCheck(t *testing.T) {
	t.Parallel()

	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		broker := mqtttest.New(t)
		sim := startSim(t, broker.URL, simulator.Config{Offline: []string{"hall/motion"}})
		code, out := runCheckBin(t, "--mqtt-url", broker.URL)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, fmt.Sprintf("%d devices, 2 groups", len(sim.Devices())))
		require.Contains(t, out, "bridge online")
		require.Contains(t, out, "hall/motion", "offline devices are reported")
	})

	t.Run("bridge offline", func(t *testing.T) {
		t.Parallel()
		broker := mqtttest.New(t)
		// A bridge that stopped: retained offline state and an empty inventory.
		mq, err := mqtt.New(mqtt.Config{URL: broker.URL, Logger: zerolog.Nop()})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, mq.Connect(ctx))
		require.NoError(t, mq.Publish(ctx, "zigbee2mqtt/bridge/state", []byte(`{"state":"offline"}`), true))
		require.NoError(t, mq.Publish(ctx, "zigbee2mqtt/bridge/devices", []byte(`[]`), true))
		mq.Close()
		code, out := runCheckBin(t, "--mqtt-url", broker.URL)
		require.NotEqual(t, 0, code, out)
		require.Contains(t, out, "FAIL")
		require.Contains(t, out, "offline")
	})

	t.Run("no bridge", func(t *testing.T) {
		t.Parallel()
		broker := mqtttest.New(t)
		code, out := runCheckBin(t, "--mqtt-url", broker.URL)
		require.NotEqual(t, 0, code, out)
		require.Contains(t, out, "FAIL  bridge")
	})

	t.Run("wrong base topic", func(t *testing.T) {
		t.Parallel()
		broker := mqtttest.New(t)
		startSim(t, broker.URL, simulator.Config{})
		code, out := runCheckBin(t, "--mqtt-url", broker.URL, "--base-topic", "elsewhere")
		require.NotEqual(t, 0, code, out)
		require.Contains(t, out, "elsewhere/bridge/state")
	})

	t.Run("bad setting", func(t *testing.T) {
		t.Parallel()
		code, out := runCheckBin(t, "--mqtt-qos", "7")
		require.Equal(t, 2, code, out)
		require.Contains(t, out, "--mqtt-qos")
	})
}

// syncBuffer is a bytes.Buffer safe for a writer and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
