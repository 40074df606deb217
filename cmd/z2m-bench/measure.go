package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/devices"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// Config sizes a run. DefaultConfig is what `make bench` runs; the smoke
// test shrinks every count.
type Config struct {
	// BrokerURL is the broker everything connects to.
	BrokerURL string
	// Duration is how long each latency or throughput measure runs (at
	// least MinIters iterations, at most MaxIters).
	Duration           time.Duration
	MinIters, MaxIters int
	// Warmup iterations run untimed before each latency measure.
	Warmup int
	// Callers are the concurrent caller counts for confirmed calls/s.
	Callers []int
	// ListDevices is the size of the home list_devices runs on.
	ListDevices int
	// Homes are the sizes of the generated homes for index time and RSS.
	Homes []int
	// BinaryPath is a built z2m-mcp; empty means go build it.
	BinaryPath string
	// SkipProcess skips building and running z2m-mcp (RSS, binary size).
	SkipProcess bool
	// Settle is how long the child runs after it is ready before its RSS
	// is read; ReadyTimeout bounds waiting for it to be ready.
	Settle, ReadyTimeout time.Duration
	// Progress receives one line per measure.
	Progress io.Writer
}

// DefaultConfig is the full run (about a minute on 2 cores).
func DefaultConfig() Config {
	return Config{
		Duration:     2 * time.Second,
		MinIters:     20,
		MaxIters:     200000,
		Warmup:       20,
		Callers:      []int{1, 8, 32, 128},
		ListDevices:  1000,
		Homes:        []int{1000, 10000},
		Settle:       time.Second,
		ReadyTimeout: 90 * time.Second,
		Progress:     io.Discard,
	}
}

// Keys of the rows, in table order. Sized rows append the size.
const (
	keyRawQoS0        = "raw_qos0"
	keyRawQoS1        = "raw_qos1"
	keyConfirmedIn    = "confirmed_inproc"
	keyConfirmedHTTP  = "confirmed_http"
	keyConfirmedRPC   = "confirmed_http_jsonrpc"
	keyGroup          = "group_10"
	keyListDevices    = "list_devices"
	keyListDevicesSt  = "list_devices_nostate"
	keyCallsPrefix    = "calls_"
	keyIngest         = "ingest"
	keyIndexPrefix    = "index_"
	keyRSSIdle        = "rss_idle"
	keyRSSPrefix      = "rss_"
	keyBinarySize     = "binary_size"
	defaultServerBase = "zigbee2mqtt"
)

// ExpectedKeys lists the row keys a run of cfg produces.
func ExpectedKeys(cfg Config) []string {
	keys := []string{keyRawQoS0, keyRawQoS1, keyConfirmedIn, keyConfirmedHTTP, keyConfirmedRPC, keyGroup, keyListDevices, keyListDevicesSt}
	for _, n := range cfg.Callers {
		keys = append(keys, fmt.Sprintf("%s%d", keyCallsPrefix, n))
	}
	keys = append(keys, keyIngest)
	for _, n := range cfg.Homes {
		keys = append(keys, fmt.Sprintf("%s%d", keyIndexPrefix, n))
	}
	if !cfg.SkipProcess {
		keys = append(keys, keyRSSIdle)
		for _, n := range cfg.Homes {
			keys = append(keys, fmt.Sprintf("%s%d", keyRSSPrefix, n))
		}
		keys = append(keys, keyBinarySize)
	}
	return keys
}

// Latency is p50/p95 of n samples.
type Latency struct {
	N      int     `json:"n"`
	Errors int     `json:"errors,omitempty"`
	P50ms  float64 `json:"p50_ms"`
	P95ms  float64 `json:"p95_ms"`
}

// Row is one line of the table. Numbers are kept for --out json.
type Row struct {
	Key      string   `json:"key"`
	Measure  string   `json:"measure"`
	Value    string   `json:"value"`
	Ratio    string   `json:"ratio_to_raw,omitempty"`
	Target   string   `json:"target,omitempty"`
	OK       string   `json:"ok,omitempty"`
	Latency  *Latency `json:"latency,omitempty"`
	PerSec   float64  `json:"per_sec,omitempty"`
	Bytes    int64    `json:"bytes,omitempty"`
	RSSBytes int64    `json:"rss_bytes,omitempty"`
	Error    string   `json:"error,omitempty"`

	// withRatio rows get a ratio to the raw round trip; maxRatio > 0 is
	// their target.
	withRatio bool
	maxRatio  float64
}

// Report is a whole run.
type Report struct {
	Machine Machine `json:"machine"`
	Took    string  `json:"took"`
	// RawP50ms is the raw QoS 1 set→echo p50 every ratio divides by.
	RawP50ms float64 `json:"raw_p50_ms"`
	Rows     []Row   `json:"rows"`
}

// Row returns the row with key, or nil.
func (r *Report) Row(key string) *Row {
	for i := range r.Rows {
		if r.Rows[i].Key == key {
			return &r.Rows[i]
		}
	}
	return nil
}

type bencher struct {
	cfg Config
	rep *Report
}

func (b *bencher) logf(format string, a ...any) {
	fmt.Fprintf(b.cfg.Progress, "z2m-bench: "+format+"\n", a...)
}

func (b *bencher) add(r Row) {
	b.rep.Rows = append(b.rep.Rows, r)
	v := r.Value
	if r.Error != "" {
		v += " — " + r.Error
	}
	b.logf("%-45s %s", r.Measure, v)
}

// Run measures everything cfg asks for, in table order.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	b := &bencher{cfg: cfg, rep: &Report{}}
	maxCallers := slices.Max(append([]int{1}, cfg.Callers...))

	// The main rig: sample home + one light per caller + a group of 10.
	home, err := benchHome(maxCallers)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	r, err := newRig(sctx, cfg.BrokerURL, defaultServerBase, home, true)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	b.raw(ctx, r, 0, keyRawQoS0)
	raw := b.raw(ctx, r, 1, keyRawQoS1)
	if raw != nil && raw.N > 0 {
		b.rep.RawP50ms = raw.P50ms
	}
	b.confirmedSingle(ctx, r.inproc, keyConfirmedIn, "confirmed set_lights, 1 light (in-process client)", "≤ 1.5×", 1.5)
	b.confirmedSingle(ctx, r.http, keyConfirmedHTTP, "confirmed set_lights, 1 light (Streamable HTTP, mcp-go client)", "≤ 2×", 2)
	b.confirmedJSONRPC(ctx, r)
	b.group(ctx, r)
	b.listDevices(ctx)
	for _, n := range cfg.Callers {
		b.throughput(ctx, r, n)
	}
	r.close()

	b.ingest()
	for _, n := range cfg.Homes {
		b.index(n)
	}
	if !cfg.SkipProcess {
		b.process(ctx)
	}
	b.ratios()
	return b.rep, nil
}

// iterate runs fn (after cfg.Warmup untimed calls) until Duration has passed
// and MinIters ran, or MaxIters ran, or 10 calls failed.
func (b *bencher) iterate(ctx context.Context, fn func(i int) error) (Latency, []time.Duration, string) {
	var firstErr string
	errs := 0
	for i := 0; i < b.cfg.Warmup && ctx.Err() == nil; i++ {
		if err := fn(i); err != nil {
			errs++
			if firstErr == "" {
				firstErr = err.Error()
			}
			if errs >= 10 {
				break
			}
		}
	}
	var lat []time.Duration
	start := time.Now()
	for i := 0; ctx.Err() == nil && errs < 10; i++ {
		if i >= b.cfg.MaxIters || (i >= b.cfg.MinIters && time.Since(start) >= b.cfg.Duration) {
			break
		}
		t0 := time.Now()
		err := fn(b.cfg.Warmup + i)
		if err != nil {
			errs++
			if firstErr == "" {
				firstErr = err.Error()
			}
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	l := summarize(lat)
	l.Errors = errs
	return l, lat, firstErr
}

func summarize(lat []time.Duration) Latency {
	l := Latency{N: len(lat)}
	if len(lat) == 0 {
		return l
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		i = min(max(i, 0), len(s)-1)
		return float64(s[i]) / float64(time.Millisecond)
	}
	l.P50ms, l.P95ms = q(0.50), q(0.95)
	return l
}

func latencyRow(key, measure string, l Latency, firstErr string) Row {
	r := Row{Key: key, Measure: measure, Latency: &l, Error: firstErr, withRatio: true}
	if l.N == 0 {
		r.Value = "no successful sample"
		return r
	}
	r.Value = fmt.Sprintf("p50 %s · p95 %s (n=%d)", fmtMs(l.P50ms), fmtMs(l.P95ms), l.N)
	if l.Errors > 0 {
		r.Value += fmt.Sprintf(", %d errors", l.Errors)
	}
	return r
}

// raw measures the raw set→echo round trip at qos on bench/light_0.
func (b *bencher) raw(ctx context.Context, r *rig, qos byte, key string) *Latency {
	measure := fmt.Sprintf("raw MQTT set→echo round trip, QoS %d", qos)
	rt, err := newRawRoundTrip(ctx, b.cfg.BrokerURL, r.base, qos)
	if err != nil {
		b.add(Row{Key: key, Measure: measure, Value: "not measured", Error: err.Error()})
		return nil
	}
	defer rt.close()
	l, _, firstErr := b.iterate(ctx, func(i int) error {
		return rt.do(ctx, lightName(0), 1+i%254)
	})
	b.add(latencyRow(key, measure, l, firstErr))
	return &l
}

// pct cycles through brightness percentages so every call changes the state.
func pct(i int) int { return 10 + i%80 }

func (b *bencher) confirmedSingle(ctx context.Context, c *client.Client, key, measure, target string, limit float64) {
	l, _, firstErr := b.iterate(ctx, func(i int) error {
		return setLights(ctx, c, lightName(0), pct(i), "confirmed")
	})
	row := latencyRow(key, measure, l, firstErr)
	row.Target = "p50 " + target + " raw"
	row.maxRatio = limit // OK is resolved in ratios()
	b.add(row)
}

// confirmedJSONRPC measures the confirmed call over Streamable HTTP with a
// minimal client (one POST per call, no SDK), to show the server's share.
func (b *bencher) confirmedJSONRPC(ctx context.Context, r *rig) {
	const measure = "confirmed set_lights, 1 light (Streamable HTTP, minimal JSON-RPC client)"
	c, err := newJSONRPCClient(ctx, r.httpURL)
	if err != nil {
		b.add(Row{Key: keyConfirmedRPC, Measure: measure, Value: "not measured", Error: err.Error()})
		return
	}
	l, _, firstErr := b.iterate(ctx, func(i int) error {
		return c.setLights(ctx, lightName(0), pct(i))
	})
	row := latencyRow(keyConfirmedRPC, measure, l, firstErr)
	row.Target = "p50 ≤ 2× raw"
	row.maxRatio = 2
	b.add(row)
}

func (b *bencher) group(ctx context.Context, r *rig) {
	l, _, firstErr := b.iterate(ctx, func(i int) error {
		return setLights(ctx, r.inproc, groupName, pct(i), "assumed", "confirmed")
	})
	b.add(latencyRow(keyGroup, fmt.Sprintf("set_lights to a group of %d (groupcast, in-process)", groupSize), l, firstErr))
}

// listDevices runs list_devices on a generated home of cfg.ListDevices
// devices (its own base topic and server).
func (b *bencher) listDevices(ctx context.Context) {
	n := b.cfg.ListDevices
	base := fmt.Sprintf("z2mbench_list%d", n)
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	r, err := newRig(sctx, b.cfg.BrokerURL, base, bigHome(n), false)
	cancel()
	for _, v := range []struct {
		key, measure string
		args         map[string]any
	}{
		{keyListDevices, fmt.Sprintf("list_devices on %d devices (default: with key state)", n), map[string]any{}},
		{keyListDevicesSt, fmt.Sprintf("list_devices on %d devices, include_state=false", n), map[string]any{"include_state": false}},
	} {
		if err != nil {
			b.add(Row{Key: v.key, Measure: v.measure, Value: "not measured", Error: err.Error()})
			continue
		}
		// Sizes from one untimed call: the JSON-RPC response as the server
		// encodes it (what Streamable HTTP would send), and its parts.
		var wire, textSize, structSize int64
		var count int
		var serverLat Latency
		first, err := callTool(ctx, r.inproc, "list_devices", v.args)
		if err == nil {
			raw := []byte(first.RawStructuredContent)
			if len(raw) == 0 {
				raw, _ = json.Marshal(first.StructuredContent)
			}
			var out struct {
				Devices []json.RawMessage `json:"devices"`
			}
			_ = json.Unmarshal(raw, &out)
			count = len(out.Devices)
			textSize, structSize = int64(len(resultText(first))), int64(len(raw))
			// Server side only: mcp-go's HandleMessage on the raw request
			// plus encoding the response, no client.
			req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
				"params": map[string]any{"name": "list_devices", "arguments": v.args}})
			serverLat, _, _ = b.iterate(ctx, func(int) error {
				resp := r.srv.MCPServer().HandleMessage(ctx, req)
				data, err := json.Marshal(resp)
				if err != nil {
					return err
				}
				wire = int64(len(data))
				return nil
			})
		}
		// Client-seen: in-process client call, its JSON round trip included.
		l, _, firstErr := b.iterate(ctx, func(int) error {
			_, err := callTool(ctx, r.inproc, "list_devices", v.args)
			return err
		})
		if err != nil && firstErr == "" {
			firstErr = err.Error()
		}
		row := latencyRow(v.key, v.measure, l, firstErr)
		row.Bytes = wire
		if l.N > 0 {
			row.Value = fmt.Sprintf("p50 %s · p95 %s (n=%d; server alone: p50 %s); response %s (text %s + structured %s), %d devices listed",
				fmtMs(l.P50ms), fmtMs(l.P95ms), l.N, fmtMs(serverLat.P50ms), fmtBytes(wire), fmtBytes(textSize), fmtBytes(structSize), count)
		}
		b.add(row)
	}
	if r != nil {
		r.close()
	}
}

// throughput: confirmed single-light calls from n concurrent callers, each
// on its own light, over one in-process client, for Duration.
func (b *bencher) throughput(ctx context.Context, r *rig, n int) {
	key := fmt.Sprintf("%s%d", keyCallsPrefix, n)
	measure := fmt.Sprintf("confirmed calls/s, %d concurrent callers", n)
	// warm up every caller's light once
	for w := 0; w < n; w++ {
		_ = setLights(ctx, r.inproc, lightName(w), 5, "confirmed")
	}
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	firstErr := ""
	perWorkerMax := max(b.cfg.MaxIters/n, 1)
	perWorkerMin := max(b.cfg.MinIters/n, 1)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(b.cfg.Duration)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var lat []time.Duration
			e := 0
			fe := ""
			for i := 0; ctx.Err() == nil && e < 10 && i < perWorkerMax; i++ {
				if i >= perWorkerMin && time.Now().After(deadline) {
					break
				}
				t0 := time.Now()
				if err := setLights(ctx, r.inproc, lightName(w), pct(i), "confirmed"); err != nil {
					e++
					if fe == "" {
						fe = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errs += e
			if firstErr == "" {
				firstErr = fe
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	l := summarize(all)
	l.Errors = errs
	row := Row{Key: key, Measure: measure, Latency: &l, Error: firstErr}
	row.PerSec = float64(l.N) / elapsed.Seconds()
	row.Value = fmt.Sprintf("%s calls/s (p50 %s · p95 %s)", fmtCount(row.PerSec), fmtMs(l.P50ms), fmtMs(l.P95ms))
	if errs > 0 {
		row.Value += fmt.Sprintf(", %d errors", errs)
	}
	if n == 32 {
		row.Target = "≥ 3,000/s"
		row.OK = okIf(row.PerSec >= 3000 && errs == 0)
	}
	b.add(row)
}

// ingest measures state messages/s into a model holding the sample home
// (one goroutine, no broker), like BenchmarkIngestState.
func (b *bencher) ingest() {
	m := devices.New(devices.Options{Logger: zerolog.Nop()})
	inv, _ := json.Marshal(simulator.SampleHome().Devices)
	m.HandleMessage("zigbee2mqtt/bridge/devices", inv)
	names := []string{"lounge/ceiling", "kitchen/coffee_plug", "lounge/radiator", "hall/switch"}
	topics := make([]string, len(names))
	for i, n := range names {
		topics[i] = "zigbee2mqtt/" + n
	}
	payloads := make([][]byte, 256)
	for i := range payloads {
		payloads[i] = []byte(fmt.Sprintf(`{"brightness":%d,"color":{"x":0.4573,"y":0.41},"color_mode":"color_temp","color_temp":%d,"linkquality":%d,"power_on_behavior":"off","state":"ON"}`, i%254, 250+i%200, i%255))
	}
	for i := 0; i < 1000; i++ {
		m.HandleMessage(topics[i%len(topics)], payloads[i%len(payloads)])
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	n := 0
	for {
		for j := 0; j < 1024; j++ {
			m.HandleMessage(topics[n%len(topics)], payloads[n%len(payloads)])
			n++
		}
		if n >= b.cfg.MaxIters*10 || time.Since(start) >= b.cfg.Duration {
			break
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	rate := float64(n) / elapsed.Seconds()
	allocs := float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
	bytesPer := float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n)
	b.add(Row{Key: keyIngest, Measure: "state ingest into the model (1 goroutine, no broker)", PerSec: rate,
		Value: fmt.Sprintf("%s msgs/s (%.0f ns, %.0f allocs, %s per msg)", fmtCount(rate), float64(elapsed.Nanoseconds())/float64(n), allocs, fmtBytes(int64(bytesPer)))})
}

// index measures indexing a bridge/devices of n devices into a fresh model:
// median time and the heap the model keeps.
func (b *bencher) index(n int) {
	payload, err := json.Marshal(bigHome(n).Devices)
	key := fmt.Sprintf("%s%d", keyIndexPrefix, n)
	measure := fmt.Sprintf("index bridge/devices of %d devices (+ coordinator)", n)
	if err != nil {
		b.add(Row{Key: key, Measure: measure, Value: "not measured", Error: err.Error()})
		return
	}
	var times []time.Duration
	start := time.Now()
	for i := 0; i < 10 && (i < 3 || time.Since(start) < b.cfg.Duration); i++ {
		m := devices.New(devices.Options{Logger: zerolog.Nop()})
		t0 := time.Now()
		m.HandleMessage("zigbee2mqtt/bridge/devices", payload)
		times = append(times, time.Since(t0))
		if got := len(m.Snapshot().Devices()); got != n+1 {
			b.add(Row{Key: key, Measure: measure, Value: "not measured", Error: fmt.Sprintf("model has %d devices, want %d and the coordinator", got, n)})
			return
		}
	}
	l := summarize(times)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	m := devices.New(devices.Options{Logger: zerolog.Nop()})
	m.HandleMessage("zigbee2mqtt/bridge/devices", payload)
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	runtime.KeepAlive(m)
	heap := int64(ms1.HeapInuse) - int64(ms0.HeapInuse)
	b.add(Row{Key: key, Measure: measure, Latency: &l, Bytes: int64(len(payload)),
		Value: fmt.Sprintf("%s median (payload %s, model keeps %s of heap)", fmtMs(l.P50ms), fmtBytes(int64(len(payload))), fmtBytes(heap))})
}

// ratios fills the ratio column from the raw QoS 1 p50 and resolves the
// ratio targets.
func (b *bencher) ratios() {
	raw := b.rep.RawP50ms
	for i := range b.rep.Rows {
		row := &b.rep.Rows[i]
		if !row.withRatio {
			continue
		}
		if row.Latency == nil || row.Latency.N == 0 || raw <= 0 {
			if row.maxRatio > 0 {
				row.OK = "no"
			}
			continue
		}
		ratio := row.Latency.P50ms / raw
		row.Ratio = fmt.Sprintf("%.2f×", ratio)
		if row.maxRatio > 0 {
			row.OK = okIf(ratio <= row.maxRatio && row.Latency.Errors == 0)
		}
	}
}

func okIf(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}
