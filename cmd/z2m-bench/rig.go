package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/devices"
	"github.com/z2m-mcp/z2m-mcp/mcp"
	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// rig is one simulated home on the broker (its own base topic) and a
// z2m-mcp server wired to it the way cmd/z2m-mcp wires it (QoS 1).
type rig struct {
	base   string
	sim    *simulator.Simulator
	model  *devices.Model
	mq     *mqtt.Client
	srv    *mcp.Server
	inproc *client.Client
	http   *client.Client
	// httpURL is the server's /mcp endpoint (with withHTTP).
	httpURL string
	hs      *http.Server
	closer  []func()
}

func (r *rig) close() {
	for i := len(r.closer) - 1; i >= 0; i-- {
		r.closer[i]()
	}
	r.closer = nil
}

// startSim starts a zero-latency simulator of home under base.
func startSim(ctx context.Context, url, base string, home *simulator.Home) (*simulator.Simulator, error) {
	sim, err := simulator.New(simulator.Config{MQTTURL: url, BaseTopic: base, Home: home, Latency: -1, LockDelay: -1, Logger: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	if err := sim.Start(ctx); err != nil {
		sim.Close()
		return nil, err
	}
	return sim, nil
}

// newRig starts the simulator for home under base, the model, the MQTT link,
// the MCP server and an in-process client; with withHTTP also a Streamable
// HTTP server on loopback and a client of it. It returns once the model has
// seen every device of home.
func newRig(ctx context.Context, url, base string, home *simulator.Home, withHTTP bool) (r *rig, err error) {
	r = &rig{base: base}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	last, _ := home.Devices[len(home.Devices)-1]["friendly_name"].(string)
	r.sim, err = startSim(ctx, url, base, home)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	r.closer = append(r.closer, r.sim.Close)

	r.model = devices.New(devices.Options{BaseTopic: base, Logger: zerolog.Nop()})
	r.mq, err = mqtt.New(mqtt.Config{URL: url, Logger: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	r.mq.Subscribe(r.model.SubscriptionFilter(), 1, func(m mqtt.Message) { r.model.HandleMessage(m.Topic, m.Payload) })
	r.mq.OnConnectionChange(r.model.SetConnected)
	if err := r.mq.Connect(ctx); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	r.closer = append(r.closer, r.mq.Close)
	pub := devices.PublisherFunc(func(ctx context.Context, topic string, payload []byte) error {
		return r.mq.Publish(ctx, topic, payload, false)
	})
	r.srv = mcp.NewServer(r.model, pub, mcp.Config{Logger: zerolog.Nop(), Version: "bench"})
	r.closer = append(r.closer, r.srv.Close)

	for {
		s := r.model.Snapshot()
		if r.model.Connected() && s.Bridge.Online() && s.Bridge.DevicesReceived && s.Device(last) != nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("the model never saw the %d devices under %s", len(home.Devices), base)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The simulator's start-up states are not retained and went out before
	// the model subscribed: have every device report again, as devices do,
	// until the model holds a state for each (QoS 0 reports can be dropped).
	awaitStates(ctx, r.sim, r.model, home)

	r.inproc, err = client.NewInProcessClient(r.srv.MCPServer())
	if err != nil {
		return nil, err
	}
	if err := initClient(ctx, r.inproc); err != nil {
		return nil, fmt.Errorf("in-process client: %w", err)
	}
	r.closer = append(r.closer, func() { _ = r.inproc.Close() })

	if withHTTP {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		r.hs = &http.Server{Handler: r.srv.HTTPHandler(mcp.HTTPConfig{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = r.hs.Serve(ln) }()
		r.closer = append(r.closer, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = r.hs.Shutdown(sctx)
		})
		r.httpURL = "http://" + ln.Addr().String() + "/mcp"
		r.http, err = client.NewStreamableHttpClient(r.httpURL)
		if err != nil {
			return nil, err
		}
		if err := initClient(ctx, r.http); err != nil {
			return nil, fmt.Errorf("HTTP client: %w", err)
		}
		r.closer = append(r.closer, func() { _ = r.http.Close() })
	}
	return r, nil
}

func initClient(ctx context.Context, c *client.Client) error {
	if err := c.Start(ctx); err != nil {
		return err
	}
	req := mcpgo.InitializeRequest{}
	req.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcpgo.Implementation{Name: "z2m-bench", Version: "1"}
	_, err := c.Initialize(ctx, req)
	return err
}

// callTool calls a tool and returns the result's JSON size; a protocol error
// or isError is an error.
func callTool(ctx context.Context, c *client.Client, tool string, args map[string]any) (*mcpgo.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.IsError {
		return res, fmt.Errorf("%s: isError: %s", tool, resultText(res))
	}
	return res, nil
}

func resultText(res *mcpgo.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := mcpgo.AsTextContent(c); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// setterStatuses returns the per-target statuses of a setter's result.
func setterStatuses(res *mcpgo.CallToolResult) ([]string, error) {
	raw := []byte(res.RawStructuredContent)
	if len(raw) == 0 {
		var err error
		if raw, err = json.Marshal(res.StructuredContent); err != nil {
			return nil, err
		}
	}
	var out struct {
		Results []struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("structured content: %w: %.200s", err, raw)
	}
	st := make([]string, len(out.Results))
	for i, r := range out.Results {
		st[i] = r.Status
	}
	return st, nil
}

// setLights is one set_lights of brightness pct to targets; every target must
// end in one of want.
func setLights(ctx context.Context, c *client.Client, targets string, pct int, want ...string) error {
	res, err := callTool(ctx, c, "set_lights", map[string]any{"targets": targets, "brightness": pct, "timeout_ms": 3000})
	if err != nil {
		return err
	}
	st, err := setterStatuses(res)
	if err != nil {
		return err
	}
	if len(st) == 0 {
		return errors.New("set_lights: no results")
	}
	for _, s := range st {
		ok := false
		for _, w := range want {
			ok = ok || s == w
		}
		if !ok {
			return fmt.Errorf("set_lights %s: status %s (want %v): %s", targets, s, want, resultText(res))
		}
	}
	return nil
}

// rawRoundTrip publishes a brightness to <light>/set on its own client and
// waits for the state message carrying it: the floor any confirmed call
// stands on.
type rawRoundTrip struct {
	mq   *mqtt.Client
	base string
	qos  byte
	mu   sync.Mutex
	want map[string]chan struct{}
}

func newRawRoundTrip(ctx context.Context, url, base string, qos byte) (*rawRoundTrip, error) {
	rt := &rawRoundTrip{base: base, qos: qos, want: map[string]chan struct{}{}}
	var err error
	rt.mq, err = mqtt.New(mqtt.Config{URL: url, QoS: max(qos, 1), Logger: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	rt.mq.Subscribe(base+"/bench/+", qos, func(m mqtt.Message) {
		var st struct{ Brightness float64 }
		if json.Unmarshal(m.Payload, &st) != nil {
			return
		}
		key := fmt.Sprintf("%s|%d", m.Topic, int(st.Brightness))
		rt.mu.Lock()
		ch := rt.want[key]
		delete(rt.want, key)
		rt.mu.Unlock()
		if ch != nil {
			close(ch)
		}
	})
	if err := rt.mq.Connect(ctx); err != nil {
		return nil, err
	}
	// The subscription may still be on its way when Connect returns: probe
	// until an echo comes back.
	for i := 0; ; i++ {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := rt.do(pctx, lightName(0), 200+i%50)
		cancel()
		if err == nil {
			return rt, nil
		}
		if i == 25 || ctx.Err() != nil {
			rt.close()
			return nil, fmt.Errorf("raw round trip never echoed: %w", err)
		}
	}
}

func (rt *rawRoundTrip) close() { rt.mq.Close() }

func (rt *rawRoundTrip) do(ctx context.Context, light string, brightness int) error {
	topic := rt.base + "/" + light
	ch := make(chan struct{})
	key := fmt.Sprintf("%s|%d", topic, brightness)
	rt.mu.Lock()
	rt.want[key] = ch
	rt.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rt.mq.PublishQoS(ctx, topic+"/set", rt.qos, false, []byte(fmt.Sprintf(`{"brightness":%d}`, brightness))); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		rt.mu.Lock()
		delete(rt.want, key)
		rt.mu.Unlock()
		return fmt.Errorf("no echo of brightness %d on %s", brightness, topic)
	}
}

// awaitStates has every device of home without a state in the model
// report it (the start-up states are not retained, so a late subscriber
// missed them) and waits, a few rounds of at most 3 s, until all arrived.
func awaitStates(ctx context.Context, sim *simulator.Simulator, model *devices.Model, home *simulator.Home) {
	type dev struct{ name, ieee string }
	var missing []dev
	for _, d := range home.Devices {
		name, _ := d["friendly_name"].(string)
		ieee, _ := d["ieee_address"].(string)
		if d["type"] != "Coordinator" && name != "" && ieee != "" {
			missing = append(missing, dev{name, ieee})
		}
	}
	for round := 0; round < 3 && len(missing) > 0 && ctx.Err() == nil; round++ {
		for _, d := range missing {
			_ = sim.Report(d.name, map[string]any{})
		}
		deadline := time.Now().Add(3 * time.Second)
		for len(missing) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			rest := missing[:0]
			for _, d := range missing {
				if model.State(d.ieee) == nil {
					rest = append(rest, d)
				}
			}
			missing = rest
			if len(missing) > 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// reportAll has every device of home publish its state once more.
func reportAll(sim *simulator.Simulator, home *simulator.Home) {
	for _, d := range home.Devices {
		if d["type"] == "Coordinator" {
			continue
		}
		if name, _ := d["friendly_name"].(string); name != "" {
			_ = sim.Report(name, map[string]any{})
		}
	}
}
