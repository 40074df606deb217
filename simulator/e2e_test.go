package simulator_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

type inbox struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func (in *inbox) add(m mqtt.Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.msgs = append(in.msgs, m)
}

func (in *inbox) find(pred func(mqtt.Message) bool) (mqtt.Message, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, m := range in.msgs {
		if pred(m) {
			return m, true
		}
	}
	return mqtt.Message{}, false
}

func (in *inbox) wait(t *testing.T, pred func(mqtt.Message) bool) mqtt.Message {
	t.Helper()
	var got mqtt.Message
	require.Eventually(t, func() bool {
		m, ok := in.find(pred)
		got = m
		return ok
	}, 10*time.Second, 5*time.Millisecond)
	return got
}

func topicIs(topic string) func(mqtt.Message) bool {
	return func(m mqtt.Message) bool { return m.Topic == topic }
}

func newClient(t *testing.T, url string) (*mqtt.Client, *inbox) {
	t.Helper()
	c, err := mqtt.New(mqtt.Config{URL: url, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	require.NoError(t, err)
	in := &inbox{}
	c.Subscribe("zigbee2mqtt/#", 1, in.add)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
	t.Cleanup(c.Close)
	return c, in
}

// TestEndToEnd runs the simulator against a real broker: retained bridge
// topics reach a late subscriber, a /set is echoed, and Close leaves
// bridge/state offline.
func TestEndToEnd(t *testing.T) {
	broker := mqtttest.New(t)
	sim, err := simulator.New(simulator.Config{MQTTURL: broker.URL, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, sim.Start(ctx))
	defer sim.Close()

	c, in := newClient(t, broker.URL)
	state := in.wait(t, topicIs("zigbee2mqtt/bridge/state"))
	require.True(t, state.Retained)
	require.JSONEq(t, `{"state":"online"}`, string(state.Payload))
	devs := in.wait(t, topicIs("zigbee2mqtt/bridge/devices"))
	require.True(t, devs.Retained)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(devs.Payload, &list))
	require.Len(t, list, 19) // 18 devices + coordinator
	in.wait(t, topicIs("zigbee2mqtt/bridge/groups"))
	in.wait(t, topicIs("zigbee2mqtt/bridge/info"))
	avail := in.wait(t, topicIs("zigbee2mqtt/lounge/ceiling/availability"))
	require.True(t, avail.Retained)

	require.NoError(t, c.Publish(ctx, "zigbee2mqtt/lounge/ceiling/set", []byte(`{"state":"ON","brightness":200}`), false))
	echo := in.wait(t, func(m mqtt.Message) bool {
		return m.Topic == "zigbee2mqtt/lounge/ceiling" && strings.Contains(string(m.Payload), `"state":"ON"`)
	})
	require.False(t, echo.Retained)
	require.Contains(t, string(echo.Payload), `"brightness":200`)

	// Runtime fault injection is visible on the wire.
	require.NoError(t, sim.SetOffline("office/plug", true))
	in.wait(t, func(m mqtt.Message) bool {
		return m.Topic == "zigbee2mqtt/office/plug/availability" && string(m.Payload) == `{"state":"offline"}`
	})
	require.Equal(t, "ON", sim.State("lounge/ceiling")["state"])

	sim.Close()
	in.wait(t, func(m mqtt.Message) bool {
		return m.Topic == "zigbee2mqtt/bridge/state" && string(m.Payload) == `{"state":"offline"}`
	})
}

// TestReconnect restarts the broker and expects bridge/state online again.
func TestReconnect(t *testing.T) {
	broker := mqtttest.New(t)
	if !broker.Restartable() {
		t.Skip("broker cannot be restarted")
	}
	sim, err := simulator.New(simulator.Config{MQTTURL: broker.URL, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, sim.Start(ctx))
	defer sim.Close()
	broker.Stop()
	broker.Start()
	_, in := newClient(t, broker.URL)
	in.wait(t, func(m mqtt.Message) bool {
		return m.Topic == "zigbee2mqtt/bridge/state" && string(m.Payload) == `{"state":"online"}`
	})
	in.wait(t, topicIs("zigbee2mqtt/bridge/devices"))
}

func TestUnknownOfflineName(t *testing.T) {
	_, err := simulator.New(simulator.Config{MQTTURL: "tcp://127.0.0.1:1", Offline: []string{"ghost"}})
	require.ErrorIs(t, err, simulator.ErrUnknownDevice)
	require.Contains(t, err.Error(), "ghost")
}
