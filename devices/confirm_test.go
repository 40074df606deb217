package devices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// edge is a unit-test stand-in for the broker and Zigbee2MQTT: it records
// publishes and answers through react, feeding the model like the real
// bridge would. Integration tests use the simulator on a real broker.
type edge struct {
	m     *Model
	mu    sync.Mutex
	sent  []string
	react func(topic string, body map[string]any)
}

func (e *edge) Publish(_ context.Context, topic string, payload []byte) error {
	e.mu.Lock()
	e.sent = append(e.sent, topic+" "+string(payload))
	e.mu.Unlock()
	var body map[string]any
	_ = json.Unmarshal(payload, &body)
	if e.react != nil {
		go e.react(topic, body)
	}
	return nil
}

func (e *edge) published() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.sent...)
}

func newExec(t *testing.T, react func(m *Model, topic string, body map[string]any)) (*Executor, *edge) {
	m := loadFixtureModel(t)
	m.SetConnected(true)
	e := &edge{m: m}
	if react != nil {
		e.react = func(topic string, body map[string]any) { react(m, topic, body) }
	}
	return &Executor{Model: m, Pub: e, Log: zerolog.Nop(), Timeout: 300 * time.Millisecond, SleepyTimeout: 300 * time.Millisecond, Settle: 50 * time.Millisecond}, e
}

func echo(m *Model, topic string, body map[string]any) {
	name := strings.TrimSuffix(strings.TrimPrefix(topic, "zigbee2mqtt/"), "/set")
	if strings.HasSuffix(topic, "/get") {
		return
	}
	b, _ := json.Marshal(body)
	m.HandleMessage("zigbee2mqtt/"+name, b)
}

func lightCmd(s *Snapshot, name string, payload map[string]any, expect ...Expectation) Target {
	return Target{Asked: name, Command: Command{Device: s.Device(name), Payload: payload, Expect: expect, Idempotent: true, Readback: []string{"state"}}}
}

func TestExecuteConfirmed(t *testing.T) {
	x, e := newExec(t, echo)
	s := x.Model.Snapshot()
	res := x.Execute(context.Background(), []Target{
		lightCmd(s, "lounge/ceiling", map[string]any{"state": "ON", "brightness": 128.0},
			Expectation{Property: "state", Value: "ON"}, Expectation{Property: "brightness", Value: 128.0, Tolerance: 1}),
	}, ExecOptions{Retries: 1})
	require.Len(t, res, 1)
	require.Equal(t, StatusConfirmed, res[0].Status, res[0].Reason)
	require.Equal(t, 1, res[0].Attempts)
	require.Equal(t, "ON", res[0].State["state"])
	require.Equal(t, []string{`zigbee2mqtt/lounge/ceiling/set {"brightness":128,"state":"ON"}`}, e.published())
}

func TestExecuteFailedWithReason(t *testing.T) {
	x, _ := newExec(t, func(m *Model, topic string, body map[string]any) {
		m.HandleMessage("zigbee2mqtt/bridge/logging", []byte(`{"level":"error","message":"z2m: Publish 'set' 'state' to 'guest/plug' failed: 'Error: ZCL command failed (Timeout after 10000ms)'"}`))
	})
	s := x.Model.Snapshot()
	res := x.Execute(context.Background(), []Target{
		lightCmd(s, "guest/plug", map[string]any{"state": "ON"}, Expectation{Property: "state", Value: "ON"}),
	}, ExecOptions{})
	require.Equal(t, StatusFailed, res[0].Status)
	require.Contains(t, res[0].Reason, "Timeout after 10000ms")
}

func TestExecuteTimeoutRetriesAndOffline(t *testing.T) {
	x, e := newExec(t, nil) // nothing answers
	s := x.Model.Snapshot()
	res := x.Execute(context.Background(), []Target{
		lightCmd(s, "lounge/ceiling", map[string]any{"state": "ON"}, Expectation{Property: "state", Value: "ON"}),
	}, ExecOptions{Retries: 1})
	require.Equal(t, StatusTimeout, res[0].Status)
	require.Equal(t, 2, res[0].Attempts, "an idempotent command is re-sent once")
	require.Len(t, e.published(), 2)
	require.Contains(t, res[0].Reason, "no matching state report")

	x.Model.HandleMessage("zigbee2mqtt/kitchen/spots/availability", []byte(`{"state":"offline"}`))
	tgt := lightCmd(s, "kitchen/spots", map[string]any{"state": "TOGGLE"}, Expectation{Property: "state", Value: "ON"})
	tgt.Command.Idempotent = false
	res = x.Execute(context.Background(), []Target{tgt}, ExecOptions{Retries: 1})
	require.Equal(t, StatusOffline, res[0].Status)
	require.Equal(t, 1, res[0].Attempts, "a toggle is never re-sent")
	require.Contains(t, res[0].Reason, "already marked offline")
}

func TestExecuteUnsupportedAndBridgeOffline(t *testing.T) {
	x, e := newExec(t, echo)
	s := x.Model.Snapshot()
	res := x.Execute(context.Background(), []Target{
		{Asked: "kitchen/coffee_plug", Command: Command{Device: s.Device("kitchen/coffee_plug"), Unsupported: "no brightness"}},
	}, ExecOptions{})
	require.Equal(t, StatusUnsupported, res[0].Status)
	require.Empty(t, e.published())

	x.Model.HandleMessage("zigbee2mqtt/bridge/state", []byte(`{"state":"offline"}`))
	res = x.Execute(context.Background(), []Target{
		lightCmd(s, "lounge/ceiling", map[string]any{"state": "ON"}, Expectation{Property: "state", Value: "ON"}),
	}, ExecOptions{})
	require.Equal(t, StatusFailed, res[0].Status)
	require.Contains(t, res[0].Reason, "bridge offline")
	require.Empty(t, e.published())
}

func TestExecuteNoConfirmAndNothingToEcho(t *testing.T) {
	x, _ := newExec(t, nil)
	s := x.Model.Snapshot()
	res := x.Execute(context.Background(), []Target{
		lightCmd(s, "lounge/ceiling", map[string]any{"state": "ON"}, Expectation{Property: "state", Value: "ON"}),
	}, ExecOptions{NoConfirm: true})
	require.Equal(t, StatusSent, res[0].Status)
	res = x.Execute(context.Background(), []Target{
		lightCmd(s, "lounge/ceiling", map[string]any{"effect": "blink"}),
	}, ExecOptions{})
	require.Equal(t, StatusAssumed, res[0].Status)
}

func TestExecuteReadback(t *testing.T) {
	var gets []string
	var mu sync.Mutex
	x, _ := newExec(t, func(m *Model, topic string, body map[string]any) {
		if strings.HasSuffix(topic, "/get") {
			mu.Lock()
			gets = append(gets, topic)
			mu.Unlock()
			m.HandleMessage(strings.TrimSuffix(topic, "/get"), []byte(`{"state":"ON"}`))
			return
		}
		echo(m, topic, body)
	})
	s := x.Model.Snapshot()
	res := x.Execute(context.Background(), []Target{
		lightCmd(s, "lounge/ceiling", map[string]any{"state": "ON"}, Expectation{Property: "state", Value: "ON"}),
	}, ExecOptions{Verify: VerifyReadback})
	require.Equal(t, StatusConfirmed, res[0].Status, res[0].Reason)
	require.Equal(t, []string{"zigbee2mqtt/lounge/ceiling/get"}, gets)
}

func TestExecuteGroupcast(t *testing.T) {
	x, e := newExec(t, func(m *Model, topic string, body map[string]any) {
		if topic == "zigbee2mqtt/bedroom_lights/set" {
			b, _ := json.Marshal(body)
			m.HandleMessage("zigbee2mqtt/bedroom/bedside_left", b)
			m.HandleMessage("zigbee2mqtt/bedroom/bedside_right", b)
			m.HandleMessage("zigbee2mqtt/bedroom_lights", b)
		}
	})
	s := x.Model.Snapshot()
	on := map[string]any{"state": "ON"}
	exp := Expectation{Property: "state", Value: "ON"}
	res := x.Execute(context.Background(), []Target{
		lightCmd(s, "bedroom/bedside_left", on, exp),
		lightCmd(s, "bedroom/bedside_right", on, exp),
	}, ExecOptions{})
	require.Equal(t, []string{`zigbee2mqtt/bedroom_lights/set {"state":"ON"}`}, e.published(), "exactly a group's members: one group publish")
	for _, r := range res {
		require.Equal(t, StatusAssumed, r.Status, r.Reason)
		require.Contains(t, r.Reason, "groupcast")
	}
}

func TestSummarizeAndTopicNames(t *testing.T) {
	require.Equal(t, "2 targets: 1 confirmed, 1 timeout", Summarize([]Result{{Status: StatusConfirmed}, {Status: StatusTimeout}}))
	for _, bad := range []string{"", "a/+", "#", "a\x00b", "/a", "a/", "x\u0085y"} {
		require.ErrorIs(t, CheckTopicName(bad), ErrBadName, bad)
	}
	require.NoError(t, CheckTopicName("wohnzimmer.light/wall right"))
}

func TestExpectationMatches(t *testing.T) {
	require.True(t, Expectation{Value: 128.0, Tolerance: 1}.Matches(129.0))
	require.False(t, Expectation{Value: 128.0, Tolerance: 1}.Matches(130.0))
	require.True(t, Expectation{Value: "on"}.Matches("ON"))
	require.False(t, Expectation{Value: "ON"}.Matches(1.0))
	require.True(t, Expectation{Value: map[string]any{"x": 0.3, "y": 0.3}, Tolerance: 0.01}.Matches(map[string]any{"x": 0.305, "y": 0.299, "hue": 3.0}))
	require.False(t, Expectation{Value: map[string]any{"x": 0.3}, Tolerance: 0.01}.Matches(0.3))
	require.True(t, Expectation{Value: map[string]any{"hue": 359.0}, Tolerance: 1}.Matches(map[string]any{"hue": 0.0}))
	require.False(t, Expectation{Value: map[string]any{"hue": 350.0}, Tolerance: 1}.Matches(map[string]any{"hue": 0.0}))
}

func TestRetainedStateNeverConfirms(t *testing.T) {
	// A reconnect mid-call re-delivers a retained state that happens to
	// match: it must not confirm; the live echo that follows does.
	x, _ := newExec(t, func(m *Model, topic string, body map[string]any) {
		m.Handle("zigbee2mqtt/lounge/ceiling", []byte(`{"state":"ON"}`), true)
	})
	s := x.Model.Snapshot()
	res := x.Execute(context.Background(), []Target{
		lightCmd(s, "lounge/ceiling", map[string]any{"state": "ON"}, Expectation{Property: "state", Value: "ON"}),
	}, ExecOptions{})
	require.Equal(t, StatusTimeout, res[0].Status, res[0].Reason)

	x2, _ := newExec(t, func(m *Model, topic string, body map[string]any) {
		m.Handle("zigbee2mqtt/lounge/ceiling", []byte(`{"state":"ON"}`), true)
		m.Handle("zigbee2mqtt/lounge/ceiling", []byte(`{"state":"ON"}`), false)
	})
	res = x2.Execute(context.Background(), []Target{
		lightCmd(s, "lounge/ceiling", map[string]any{"state": "ON"}, Expectation{Property: "state", Value: "ON"}),
	}, ExecOptions{})
	require.Equal(t, StatusConfirmed, res[0].Status, res[0].Reason)
}

func TestPublishErrors(t *testing.T) {
	m := loadFixtureModel(t)
	m.SetConnected(true)
	s := m.Snapshot()
	for _, c := range []struct {
		err    error
		status Status
	}{
		{context.DeadlineExceeded, StatusTimeout},
		{errors.New("mqtt: not connected"), StatusFailed},
	} {
		x := &Executor{Model: m, Log: zerolog.Nop(), Pub: PublisherFunc(func(context.Context, string, []byte) error {
			return fmt.Errorf("mqtt: publish: %w", c.err)
		})}
		res := x.Execute(context.Background(), []Target{
			lightCmd(s, "lounge/ceiling", map[string]any{"state": "ON"}, Expectation{Property: "state", Value: "ON"}),
		}, ExecOptions{})
		require.Equal(t, c.status, res[0].Status, res[0].Reason)
		require.Contains(t, res[0].Reason, c.err.Error())
	}
}
