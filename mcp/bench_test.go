package mcp_test

// Benchmarks: a confirmed set_lights against the raw MQTT set→echo round
// trip on the same broker and simulator (zero simulator latency), and
// confirmed calls/s with concurrent callers. Figures go in README.md.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/devices"
	"github.com/z2m-mcp/z2m-mcp/mcp"
	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// benchHome is the sample home plus n copies of lounge/ceiling named
// bench/light_<i>, so concurrent callers each have a light of their own.
func benchHome(b *testing.B, n int) *simulator.Home {
	h := simulator.SampleHome()
	var proto map[string]any
	for _, d := range h.Devices {
		if d["friendly_name"] == "lounge/ceiling" {
			proto = d
		}
	}
	if proto == nil {
		b.Fatal("sample home has no lounge/ceiling")
	}
	raw, _ := json.Marshal(proto)
	for i := 0; i < n; i++ {
		var c map[string]any
		_ = json.Unmarshal(raw, &c)
		c["ieee_address"] = fmt.Sprintf("0x00bench%08x", i)
		c["friendly_name"] = fmt.Sprintf("bench/light_%d", i)
		h.Devices = append(h.Devices, c)
	}
	return h
}

type benchRig struct {
	broker *mqtttest.Broker
	model  *devices.Model
	mq     *mqtt.Client
	srv    *mcp.Server
	lights int
}

func newBenchRig(b *testing.B, lights int) *benchRig {
	b.Helper()
	r := &benchRig{broker: mqtttest.New(b), lights: lights}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sim, err := simulator.New(simulator.Config{MQTTURL: r.broker.URL, Home: benchHome(b, lights), Latency: -1, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	r.model = devices.New(devices.Options{Logger: zerolog.Nop()})
	r.mq, err = mqtt.New(mqtt.Config{URL: r.broker.URL, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	r.mq.Subscribe(r.model.SubscriptionFilter(), 1, func(m mqtt.Message) { r.model.HandleMessage(m.Topic, m.Payload) })
	r.mq.OnConnectionChange(r.model.SetConnected)
	if err := r.mq.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.mq.Close)
	pub := devices.PublisherFunc(func(ctx context.Context, topic string, payload []byte) error {
		return r.mq.Publish(ctx, topic, payload, false)
	})
	r.srv = mcp.NewServer(r.model, pub, mcp.Config{Logger: zerolog.Nop()})
	b.Cleanup(r.srv.Close)
	for r.model.Snapshot().Device(fmt.Sprintf("bench/light_%d", lights-1)) == nil || !r.model.Connected() {
		if ctx.Err() != nil {
			b.Fatal("the model never saw the bench home")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r
}

func (r *benchRig) client(b *testing.B) *client.Client {
	c, err := client.NewInProcessClient(r.srv.MCPServer())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	req := mcpgo.InitializeRequest{}
	req.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcpgo.Implementation{Name: "bench", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// rawRoundTrip publishes a brightness to <light>/set on its own client and
// waits for the echo carrying it: the floor any confirmed call stands on.
type rawRoundTrip struct {
	mq   *mqtt.Client
	mu   sync.Mutex
	want map[string]chan struct{}
}

func newRawRoundTrip(b *testing.B, url string) *rawRoundTrip {
	rt := &rawRoundTrip{want: map[string]chan struct{}{}}
	var err error
	rt.mq, err = mqtt.New(mqtt.Config{URL: url, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	rt.mq.Subscribe("zigbee2mqtt/bench/+", 1, func(m mqtt.Message) {
		var st struct{ Brightness float64 }
		if json.Unmarshal(m.Payload, &st) != nil {
			return
		}
		key := m.Topic + fmt.Sprint(st.Brightness)
		rt.mu.Lock()
		ch := rt.want[key]
		delete(rt.want, key)
		rt.mu.Unlock()
		if ch != nil {
			close(ch)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.mq.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rt.mq.Close)
	return rt
}

func (rt *rawRoundTrip) do(b *testing.B, light string, brightness int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.try(ctx, light, brightness); err != nil {
		b.Fatal(err)
	}
}

// try is one round trip bounded by ctx.
func (rt *rawRoundTrip) try(ctx context.Context, light string, brightness int) error {
	topic := "zigbee2mqtt/" + light
	ch := make(chan struct{})
	key := topic + fmt.Sprint(brightness)
	rt.mu.Lock()
	rt.want[key] = ch
	rt.mu.Unlock()
	defer func() {
		rt.mu.Lock()
		delete(rt.want, key)
		rt.mu.Unlock()
	}()
	if err := rt.mq.Publish(ctx, topic+"/set", []byte(fmt.Sprintf(`{"brightness":%d}`, brightness)), false); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no echo for %s brightness %d", light, brightness)
	}
}

// warm waits until the subscription, made after Connect returned, is in
// place: round trips with a short bound until one comes back.
func (rt *rawRoundTrip) warm(b *testing.B, light string) {
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := rt.try(ctx, light, 200+i%50)
		cancel()
		if err == nil {
			return
		}
	}
	b.Fatal("the raw round trip never echoed")
}

func setLight(b *testing.B, c *client.Client, light string, pct int) {
	req := mcpgo.CallToolRequest{}
	req.Params.Name = "set_lights"
	req.Params.Arguments = map[string]any{"targets": light, "brightness": pct}
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := json.Marshal(res.StructuredContent)
	if res.IsError || !strings.Contains(string(out), `"status":"confirmed"`) {
		b.Fatalf("not confirmed: %s", out)
	}
}

// BenchmarkConfirmedVsRaw interleaves raw set→echo round trips and confirmed
// single-light set_lights calls (in-process client) on the same broker and
// simulator, and reports both and their ratio.
func BenchmarkConfirmedVsRaw(b *testing.B) {
	r := newBenchRig(b, 1)
	c := r.client(b)
	rt := newRawRoundTrip(b, r.broker.URL)
	rt.warm(b, "bench/light_0")
	b.Logf("broker: %s", r.broker.Kind)
	var raw, confirmed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pct := 10 + i%80
		t0 := time.Now()
		rt.do(b, "bench/light_0", int(float64(pct)*254/100+0.5)+1)
		t1 := time.Now()
		setLight(b, c, "bench/light_0", pct)
		confirmed += time.Since(t1)
		raw += t1.Sub(t0)
	}
	b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(confirmed.Nanoseconds())/float64(b.N), "confirmed-ns/op")
	b.ReportMetric(float64(confirmed)/float64(raw), "ratio")
}

// BenchmarkConfirmedParallel: confirmed single-light set_lights calls from
// 32 concurrent callers (in-process), each on its own light.
func BenchmarkConfirmedParallel(b *testing.B) {
	for _, callers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			r := newBenchRig(b, callers)
			c := r.client(b)
			var next atomic.Int64
			var wg sync.WaitGroup
			per := make(chan struct{}, b.N)
			for i := 0; i < b.N; i++ {
				per <- struct{}{}
			}
			close(per)
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < callers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					light := fmt.Sprintf("bench/light_%d", w)
					for range per {
						setLight(b, c, light, 10+int(next.Add(1)%80))
					}
				}(w)
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
		})
	}
}

// BenchmarkHTTPOverhead: the cost of the Streamable HTTP transport alone (a
// trivial read-only tool), to tell it from the confirmation's.
func BenchmarkHTTPOverhead(b *testing.B) {
	r := newBenchRig(b, 1)
	ts := httptest.NewServer(r.srv.HTTPHandler(mcp.HTTPConfig{}))
	b.Cleanup(ts.Close)
	c, err := client.NewStreamableHttpClient(ts.URL + "/mcp")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	req := mcpgo.InitializeRequest{}
	req.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcpgo.Implementation{Name: "bench", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		b.Fatal(err)
	}
	trivial := func(b *testing.B, c *client.Client) {
		req := mcpgo.CallToolRequest{}
		req.Params.Name = "list_scenes"
		req.Params.Arguments = map[string]any{"target": "bench/light_0"}
		for i := 0; i < b.N; i++ {
			if res, err := c.CallTool(ctx, req); err != nil || res.IsError {
				b.Fatal(err)
			}
		}
	}
	inproc := r.client(b)
	b.Run("list_scenes/in-process", func(b *testing.B) { trivial(b, inproc) })
	b.Run("list_scenes", func(b *testing.B) { trivial(b, c) })
	b.Run("set_lights", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			setLight(b, c, "bench/light_0", 10+i%80)
		}
	})
}
