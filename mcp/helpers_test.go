package mcp_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/devices"
	"github.com/z2m-mcp/z2m-mcp/mcp"
	"github.com/z2m-mcp/z2m-mcp/mcp/mcptest"
	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// wait is the generous bound every wait in these tests uses.
const wait = 10 * time.Second

// envOptions configures one test environment.
type envOptions struct {
	// Sim is the simulator's configuration; MQTTURL and BaseTopic are
	// filled in. Zero Latency means 5 ms here.
	Sim simulator.Config
	// MCP is the server's configuration.
	MCP mcp.Config
	// Base is the base topic (default "zigbee2mqtt").
	Base string
	// Broker is shared when set; otherwise the environment starts one.
	Broker *mqtttest.Broker
	// SimURL, when set, is where the simulator connects instead of the
	// broker (e.g. a proxy the test controls).
	SimURL string
}

// env is a real broker, the simulated Zigbee2MQTT home and an in-process
// z2m-mcp server wired the way cmd/z2m-mcp wires it.
type env struct {
	t      *testing.T
	broker *mqtttest.Broker
	base   string
	sim    *simulator.Simulator
	model  *devices.Model
	mq     *mqtt.Client
	srv    *mcp.Server
	cmds   *commandWatch
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.Broker == nil {
		o.Broker = mqtttest.New(t)
	}
	if o.Base == "" {
		o.Base = "zigbee2mqtt"
	}
	e := &env{t: t, broker: o.Broker, base: o.Base}
	// Watch the broker before anything else is published.
	e.cmds = watchCommands(t, o.Broker.URL, o.Base)

	sc := o.Sim
	url := o.Broker.URL
	if o.SimURL != "" {
		url = o.SimURL
	}
	sc.BaseTopic = o.Base
	if sc.CoverStep == 0 {
		sc.CoverStep = 20 * time.Millisecond
		sc.CoverSpeed = 50
	}
	if sc.LockDelay == 0 {
		sc.LockDelay = 10 * time.Millisecond
	}
	e.sim = mcptest.Simulator(t, url, sc)
	e.model, e.mq, e.srv = newStack(t, o.Broker.URL, o.Base, o.MCP)
	return e
}

// server returns another MCP server on the same model and broker link,
// e.g. with a different policy.
func (e *env) server(t *testing.T, cfg mcp.Config) *mcp.Server {
	t.Helper()
	pub := devices.PublisherFunc(func(ctx context.Context, topic string, payload []byte) error {
		return e.mq.Publish(ctx, topic, payload, false)
	})
	cfg.Logger = zerolog.Nop()
	s := mcp.NewServer(e.model, pub, cfg)
	t.Cleanup(s.Close)
	return s
}

// client returns an initialised in-process MCP client of the env's server.
func (e *env) client(t *testing.T, opts ...client.ClientOption) *client.Client {
	t.Helper()
	return inProcess(t, e.srv, opts...)
}

// inProcess returns an initialised in-process MCP client of s.
func inProcess(t *testing.T, s *mcp.Server, opts ...client.ClientOption) *client.Client {
	t.Helper()
	c, err := client.NewInProcessClientWithOptions(s.MCPServer(), opts...)
	require.NoError(t, err)
	startClient(t, c)
	return c
}

// startClient starts and initialises a client and closes it when t ends.
func startClient(t *testing.T, c *client.Client) *mcpgo.InitializeResult {
	t.Helper()
	return mcptest.Start(t, c)
}

// pinned is the client option for the legacy (session) protocol.
func pinned() client.ClientOption { return client.WithProtocolVersion(mcpgo.ProtocolVersion20251125) }

func call(t *testing.T, c *client.Client, tool string, args any) *mcpgo.CallToolResult {
	t.Helper()
	return mcptest.Call(t, c, tool, args)
}

func text(res *mcpgo.CallToolResult) string { return mcptest.Text(res) }

func decode(t *testing.T, res *mcpgo.CallToolResult, v any) {
	t.Helper()
	mcptest.Decode(t, res, v)
}

type result struct {
	Target    string         `json:"target"`
	Device    string         `json:"device"`
	Status    string         `json:"status"`
	Reason    string         `json:"reason"`
	Sent      map[string]any `json:"sent"`
	State     map[string]any `json:"state"`
	Attempts  int            `json:"attempts"`
	LatencyMS int64          `json:"latency_ms"`
}

type setterOut struct {
	Results []result `json:"results"`
	Summary string   `json:"summary"`
}

// setter calls a setter and decodes its results.
func setter(t *testing.T, c *client.Client, tool string, args map[string]any) (*mcpgo.CallToolResult, setterOut) {
	t.Helper()
	res := call(t, c, tool, args)
	var out setterOut
	decode(t, res, &out)
	require.NotEmpty(t, out.Summary)
	return res, out
}

// byDevice indexes results by device name.
func byDevice(out setterOut) map[string]result {
	m := map[string]result{}
	for _, r := range out.Results {
		m[r.Device] = r
	}
	return m
}

// requireToolError asserts isError with a message containing every want.
func requireToolError(t *testing.T, res *mcpgo.CallToolResult, want ...string) string {
	t.Helper()
	msg := text(res)
	require.True(t, res.IsError, "expected isError; got: %s", msg)
	for _, w := range want {
		require.Contains(t, msg, w)
	}
	return msg
}

// brokerTap is an MQTT client of its own subscribed to everything, with
// markers to synchronise on the broker's order: once sync returns, every
// message the broker received before the marker has been handled. One
// subscription on one connection keeps markers and messages in order.
type brokerTap struct {
	t       *testing.T
	mq      *mqtt.Client
	marker  string
	seq     atomic.Int64
	markers chan string
}

func newBrokerTap(t *testing.T, url, kind string, handle func(mqtt.Message)) *brokerTap {
	t.Helper()
	b := &brokerTap{t: t, marker: "z2m-mcp-" + kind + "-marker/" + strings.ReplaceAll(t.Name(), "/", "_"), markers: make(chan string, 64)}
	mq, err := mqtt.New(mqtt.Config{URL: url, Logger: zerolog.Nop()})
	require.NoError(t, err)
	mq.Subscribe("#", 1, func(m mqtt.Message) {
		if strings.HasPrefix(m.Topic, b.marker+"/") {
			select {
			case b.markers <- m.Topic:
			default:
			}
			return
		}
		handle(m)
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, mq.Connect(ctx))
	t.Cleanup(mq.Close)
	b.mq = mq
	b.sync() // the subscription is in place once a marker comes back
	return b
}

// sync publishes a marker and waits until it comes back, publishing again
// while the subscription is not acknowledged yet or the link is down.
func (b *brokerTap) sync() {
	b.t.Helper()
	topic := fmt.Sprintf("%s/%d", b.marker, b.seq.Add(1))
	require.Eventually(b.t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if b.mq.PublishQoS(ctx, topic, 1, false, []byte("m")) != nil {
			return false
		}
		timer := time.NewTimer(300 * time.Millisecond)
		defer timer.Stop()
		for {
			select {
			case got := <-b.markers:
				if got == topic {
					return true
				}
			case <-timer.C:
				return false
			}
		}
	}, 2*wait, 10*time.Millisecond, "marker %s never came back from the broker", topic)
}

// isCommandTopic reports whether a topic below the base topic is a command:
// .../set, .../get (with or without an attribute) or bridge/request/....
func isCommandTopic(rest string) bool {
	return strings.HasSuffix(rest, "/set") || strings.HasSuffix(rest, "/get") || strings.HasPrefix(rest, "bridge/request/") ||
		strings.Contains(rest, "/set/") || strings.Contains(rest, "/get/")
}

// commandWatch records every command topic published on the broker.
type commandWatch struct {
	*brokerTap
	base string
	mu   sync.Mutex
	cmds []mqtt.Message
}

func watchCommands(t *testing.T, url, base string) *commandWatch {
	t.Helper()
	w := &commandWatch{base: base}
	w.brokerTap = newBrokerTap(t, url, "test", func(m mqtt.Message) {
		if rest, ok := strings.CutPrefix(m.Topic, base+"/"); ok && isCommandTopic(rest) {
			w.mu.Lock()
			w.cmds = append(w.cmds, m)
			w.mu.Unlock()
		}
	})
	return w
}

// take syncs on a marker and returns (and forgets) the commands seen so far.
func (w *commandWatch) take() []mqtt.Message {
	w.t.Helper()
	w.sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.cmds
	w.cmds = nil
	return out
}

// topics returns the topics of messages, relative to the base topic.
func (w *commandWatch) topics(ms []mqtt.Message) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, strings.TrimPrefix(m.Topic, w.base+"/"))
	}
	return out
}

// requireNoCommands asserts that no /set or bridge request was published
// since the last check: a read tool may still /get a state never seen.
func (w *commandWatch) requireNoCommands(t *testing.T) {
	t.Helper()
	for _, topic := range w.topics(w.take()) {
		require.True(t, strings.HasSuffix(topic, "/get"), "a command was published: %s", topic)
	}
}

// requireNothingPublished asserts no command reached the broker since the
// last take.
func (w *commandWatch) requireNothingPublished(t *testing.T) {
	t.Helper()
	got := w.take()
	require.Empty(t, w.topics(got), "commands were published")
}

// requireSent asserts exactly these command topics (relative to the base)
// reached the broker since the last take, in any order.
func (w *commandWatch) requireSent(t *testing.T, topics ...string) []mqtt.Message {
	t.Helper()
	got := w.take()
	require.ElementsMatch(t, topics, w.topics(got))
	return got
}
