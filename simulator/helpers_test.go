package simulator

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

type rec struct {
	Topic    string
	QoS      byte
	Retained bool
	Payload  string
}

// recorder is a Publisher that keeps everything the engine publishes.
type recorder struct {
	mu   sync.Mutex
	msgs []rec
}

func (r *recorder) Publish(topic string, qos byte, retained bool, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec{topic, qos, retained, string(payload)})
}

func (r *recorder) all() []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rec(nil), r.msgs...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) since(n int) []rec { return r.all()[n:] }

type harness struct {
	t   *testing.T
	e   *engine
	out *recorder
}

const waitFor = 10 * time.Second
const tick = 5 * time.Millisecond

func fastConfig() Config {
	return Config{Latency: time.Millisecond, UnreachableDelay: 50 * time.Millisecond, CoverStep: 5 * time.Millisecond, CoverSpeed: 25, LockDelay: 5 * time.Millisecond}
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.Logger.GetLevel() == zerolog.TraceLevel && cfg.Home == nil {
		cfg.Logger = zerolog.Nop()
	}
	out := &recorder{}
	e, err := newCore(cfg, out)
	require.NoError(t, err)
	t.Cleanup(e.close)
	h := &harness{t: t, e: e, out: out}
	e.call(e.startup)
	return h
}

// send injects a message as if received from the broker.
func (h *harness) send(topic, payload string) {
	h.e.do(func() { h.e.handleMessage(topic, []byte(payload)) })
}

// mark returns the current output position.
func (h *harness) mark() int { return h.out.len() }

// waitMsg waits for a message after position from matching topic (and
// pred, if given) and returns it.
func (h *harness) waitMsg(from int, topic string, pred func(m map[string]any) bool) map[string]any {
	h.t.Helper()
	var found map[string]any
	require.Eventually(h.t, func() bool {
		for _, m := range h.out.since(from) {
			if m.Topic != topic {
				continue
			}
			var v map[string]any
			if m.Payload != "" && json.Unmarshal([]byte(m.Payload), &v) != nil && pred != nil {
				continue // not an object
			}
			if pred == nil || pred(v) {
				found = v
				return true
			}
		}
		return false
	}, waitFor, tick, "no message on %s; got %s", topic, dump(h.out.since(from)))
	return found
}

// waitLog waits for a bridge/logging message containing substr.
func (h *harness) waitLog(from int, substr string) string {
	h.t.Helper()
	m := h.waitMsg(from, "zigbee2mqtt/bridge/logging", func(m map[string]any) bool {
		s, _ := m["message"].(string)
		return strings.Contains(s, substr)
	})
	return m["message"].(string)
}

// settle waits until the engine is idle: nothing queued and nothing
// scheduled (it re-arms behind the last scheduled task, so it never depends
// on wall-clock margins). It returns the position before the marker.
func (h *harness) settle() int {
	h.t.Helper()
	from := h.mark()
	var check func()
	check = func() {
		if len(h.e.tasks) == 0 {
			h.e.publish("test/marker", 0, false, []byte(`{}`))
			return
		}
		last := h.e.tasks[0].due
		for _, t := range h.e.tasks {
			if t.due.After(last) {
				last = t.due
			}
		}
		h.e.at(last, check)
	}
	h.e.do(check)
	h.waitMsg(from, "zigbee2mqtt/test/marker", nil)
	return from
}

func dump(ms []rec) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "\n  %s %s", m.Topic, m.Payload)
	}
	return b.String()
}

func topics(ms []rec) []string {
	var out []string
	for _, m := range ms {
		if m.Topic != "zigbee2mqtt/test/marker" {
			out = append(out, m.Topic)
		}
	}
	return out
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(s), &v), s)
	return v
}
