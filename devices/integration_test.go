package devices_test

// Integration: the simulator and the model on a real broker (mqtt/mqtttest),
// talking only MQTT, as in production.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/devices"
	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

const wait = 10 * time.Second

type rig struct {
	broker *mqtttest.Broker
	sim    *simulator.Simulator
	model  *devices.Model
	client *mqtt.Client
	pub    devices.Publisher
}

// fixtureHome is the fixture bridge/devices and bridge/groups as one home.
func fixtureHome(t *testing.T) *simulator.Home {
	t.Helper()
	devs, err := os.ReadFile(filepath.Join("testdata", "home-bridge-devices.json"))
	require.NoError(t, err)
	groups, err := os.ReadFile(filepath.Join("testdata", "home-bridge-groups.json"))
	require.NoError(t, err)
	home, err := simulator.ParseHome([]byte(`{"devices":` + string(devs) + `,"groups":` + string(groups) + `}`))
	require.NoError(t, err)
	return home
}

func newRig(t *testing.T, cfg simulator.Config) *rig {
	t.Helper()
	return newRigWait(t, cfg, true)
}

func newRigNoWait(t *testing.T, cfg simulator.Config) *rig { return newRigWait(t, cfg, false) }

func newRigWait(t *testing.T, cfg simulator.Config, waitStates bool) *rig {
	r := &rig{broker: mqtttest.New(t)}
	cfg.MQTTURL = r.broker.URL
	if cfg.Latency == 0 {
		cfg.Latency = time.Millisecond
	}
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	// The model connects first: device states are not retained, so a
	// client that connects later only sees them on the next report.
	r.model = devices.New(devices.Options{Logger: zerolog.Nop()})
	c, err := mqtt.New(mqtt.Config{URL: r.broker.URL, Logger: zerolog.Nop(), MaxReconnectInterval: 500 * time.Millisecond})
	require.NoError(t, err)
	c.Subscribe(r.model.SubscriptionFilter(), 1, func(m mqtt.Message) { r.model.HandleMessage(m.Topic, m.Payload) })
	c.OnConnectionChange(r.model.SetConnected)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
	t.Cleanup(c.Close)
	r.client = c
	r.pub = devices.PublisherFunc(func(ctx context.Context, topic string, payload []byte) error {
		return c.Publish(ctx, topic, payload, false)
	})
	sim, err := simulator.New(cfg)
	require.NoError(t, err)
	require.NoError(t, sim.Start(ctx))
	t.Cleanup(sim.Close)
	r.sim = sim

	require.Eventually(t, func() bool {
		s := r.model.Snapshot()
		if !s.Bridge.Online() || !s.Bridge.DevicesReceived || !s.Bridge.GroupsReceived || !s.Bridge.InfoReceived {
			return false
		}
		// The start-up state of every device has arrived too.
		for _, d := range s.Devices() {
			if !waitStates {
				break
			}
			if d.Type != "Coordinator" && r.model.State(d.IEEEAddress) == nil {
				return false
			}
		}
		return true
	}, wait, 10*time.Millisecond)
	return r
}

func (r *rig) set(t *testing.T, name string, payload string) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, r.pub.Publish(ctx, "zigbee2mqtt/"+name+"/set", []byte(payload)))
}

func TestIntegrationModelMatchesFixtures(t *testing.T) {
	r := newRig(t, simulator.Config{Home: fixtureHome(t), Offline: []string{"guest/plug"}})
	s := r.model.Snapshot()

	var raw []map[string]any
	b, err := os.ReadFile(filepath.Join("testdata", "home-bridge-devices.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &raw))
	require.Len(t, s.Devices(), len(raw), "device count")
	for _, rd := range raw {
		d := s.Device(rd["friendly_name"].(string))
		require.NotNil(t, d, rd["friendly_name"])
		def, ok := rd["definition"].(map[string]any)
		if !ok {
			continue
		}
		want, _ := json.Marshal(withoutHomeAssistant(def["exposes"]))
		got, _ := json.Marshal(d.Definition.Exposes)
		require.JSONEq(t, string(want), string(got), "exposes of %s after the trip through the simulator and the broker", d.FriendlyName)
		require.Len(t, d.Endpoints, len(rd["endpoints"].(map[string]any)))
	}
	require.Len(t, s.Groups(), 3)
	require.Equal(t, []devices.Scene{{ID: 1, Name: "Movie"}}, s.Group("lounge").Scenes)
	require.Len(t, s.Group("downstairs").Members, 4)
	require.Equal(t, devices.AvailabilityOffline, r.model.Availability(s.Device("guest/plug").IEEEAddress))
	require.Equal(t, devices.AvailabilityOnline, r.model.Availability(s.Device("lounge/ceiling").IEEEAddress))
}

func TestIntegrationSetEchoUpdatesModel(t *testing.T) {
	r := newRig(t, simulator.Config{Home: fixtureHome(t)})
	ieee := r.model.Snapshot().Device("lounge/ceiling").IEEEAddress
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	done := make(chan *devices.State, 1)
	w := r.model.Watch(ieee)
	defer w.Close()
	go func() {
		for {
			ev, err := w.Next(ctx)
			if err != nil {
				close(done)
				return
			}
			if ev.Kind == devices.EventState && ev.State.Values["brightness"] == 77.0 {
				done <- ev.State
				return
			}
		}
	}()
	r.set(t, "lounge/ceiling", `{"state":"ON","brightness":77}`)
	st := <-done
	require.NotNil(t, st, "the simulator's echo reached the model")
	require.Equal(t, "ON", st.Values["state"])
	require.Equal(t, "ON", r.model.State(ieee).Values["state"])
}

func TestIntegrationRenameMovesState(t *testing.T) {
	r := newRig(t, simulator.Config{Home: fixtureHome(t)})
	ieee := r.model.Snapshot().Device("office/plug").IEEEAddress
	r.set(t, "office/plug", `{"state":"ON"}`)
	require.Eventually(t, func() bool {
		st := r.model.State(ieee)
		return st != nil && st.Values["state"] == "ON"
	}, wait, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := r.model.Request(ctx, r.pub, "device/rename", map[string]any{"from": "office/plug", "to": "office/heater_plug"})
	require.NoError(t, err)
	require.Equal(t, "ok", resp.Status)
	require.Eventually(t, func() bool {
		d := r.model.Snapshot().Device("office/heater_plug")
		return d != nil && d.IEEEAddress == ieee && r.model.Snapshot().Device("office/plug") == nil
	}, wait, 10*time.Millisecond)
	require.Equal(t, "ON", r.model.State(ieee).Values["state"], "state follows the device to its new name")

	// Commands to the new name work and update the same state.
	r.set(t, "office/heater_plug", `{"state":"OFF"}`)
	require.Eventually(t, func() bool { return r.model.State(ieee).Values["state"] == "OFF" }, wait, 10*time.Millisecond)

	// A request for a name in use is refused with Zigbee2MQTT's text.
	_, err = r.model.Request(ctx, r.pub, "device/rename", map[string]any{"from": "office/heater_plug", "to": "lounge/ceiling"})
	var be *devices.BridgeError
	require.ErrorAs(t, err, &be)
	require.Contains(t, be.Message, "already in use")
}

func TestIntegrationOfflineDeviceLogsErrorNoState(t *testing.T) {
	r := newRig(t, simulator.Config{Home: fixtureHome(t), Offline: []string{"guest/plug"}, UnreachableDelay: 50 * time.Millisecond})
	ieee := r.model.Snapshot().Device("guest/plug").IEEEAddress
	w := r.model.Watch(ieee)
	defer w.Close()
	r.set(t, "guest/plug", `{"state":"ON"}`)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var got *devices.LogError
	for got == nil {
		ev, err := w.Next(ctx)
		require.NoError(t, err)
		require.NotEqual(t, devices.EventState, ev.Kind, "an unreachable device publishes no state")
		if ev.Kind == devices.EventError {
			got = ev.Error
		}
	}
	require.Equal(t, "guest/plug", got.Name)
	require.Equal(t, "state", got.Key)
	require.Contains(t, got.Reason, "failed")

	// The executor reports it as failed, quoting Zigbee2MQTT.
	x := &devices.Executor{Model: r.model, Pub: r.pub, Timeout: 5 * time.Second}
	res := x.Execute(ctx, []devices.Target{{Asked: "guest/plug", Command: devices.Command{
		Device: r.model.Snapshot().Device("guest/plug"), Payload: map[string]any{"state": "ON"},
		Expect: []devices.Expectation{{Property: "state", Value: "ON"}}, Idempotent: true,
	}}}, devices.ExecOptions{})
	require.Equal(t, devices.StatusFailed, res[0].Status)
	require.Contains(t, res[0].Reason, "Zigbee2MQTT: Publish 'set' 'state' to 'guest/plug' failed")
}

func TestIntegrationBrokerRestartRebuildsModel(t *testing.T) {
	r := newRig(t, simulator.Config{Home: fixtureHome(t)})
	if !r.broker.Restartable() {
		t.Skip("broker from Z2M_MCP_TEST_BROKER cannot be restarted")
	}
	before := len(r.model.Snapshot().Devices())
	r.broker.Stop()
	require.Eventually(t, func() bool { return !r.model.Connected() }, wait, 10*time.Millisecond)
	// A model built from scratch must be able to rebuild from retained topics
	// (its own filter: one handler per filter).
	fresh := devices.New(devices.Options{Logger: zerolog.Nop()})
	r.client.Subscribe("zigbee2mqtt/bridge/#", 1, func(m mqtt.Message) { fresh.HandleMessage(m.Topic, m.Payload) })
	gen := r.model.Snapshot().Generation
	r.broker.Start()
	require.Eventually(t, func() bool { return r.model.Connected() }, wait, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		s := fresh.Snapshot()
		return s.Bridge.Online() && len(s.Devices()) == before && len(s.Groups()) == 3
	}, wait, 10*time.Millisecond, "the client resubscribed and the retained bridge topics rebuilt the model")
	require.Eventually(t, func() bool { return r.model.Snapshot().Generation > gen }, wait, 10*time.Millisecond,
		"the existing model received bridge/devices again")
	// And commands work again end to end.
	ieee := r.model.Snapshot().Device("kitchen/spots").IEEEAddress
	require.Eventually(t, func() bool {
		r.set(t, "kitchen/spots", `{"state":"ON"}`)
		st := r.model.State(ieee)
		return st != nil && st.Values["state"] == "ON"
	}, wait, 200*time.Millisecond)
}

// withoutHomeAssistant drops the "homeassistant" hints the model ignores.
func withoutHomeAssistant(v any) any {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			withoutHomeAssistant(e)
		}
	case map[string]any:
		delete(x, "homeassistant")
		for _, e := range x {
			withoutHomeAssistant(e)
		}
	}
	return v
}
