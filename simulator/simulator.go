package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/mqtt"
)

// Defaults applied by New.
const (
	DefaultBaseTopic        = "zigbee2mqtt"
	DefaultLatency          = 30 * time.Millisecond
	DefaultUnreachableDelay = 10 * time.Second
	DefaultCoverStep        = 200 * time.Millisecond
	DefaultCoverSpeed       = 10
	DefaultLockDelay        = 200 * time.Millisecond
)

// ErrUnknownDevice is returned for a device name the home does not have.
var ErrUnknownDevice = errors.New("unknown device")

// Config configures a Simulator. The zero value (plus MQTTURL) serves the
// sample home on base topic zigbee2mqtt.
type Config struct {
	// MQTTURL is the broker, e.g. tcp://127.0.0.1:1883.
	MQTTURL string
	// Username and Password authenticate to the broker.
	Username, Password string
	// ClientID defaults to "z2m-sim-" plus a random suffix.
	ClientID string
	// BaseTopic is Zigbee2MQTT's mqtt.base_topic. Default "zigbee2mqtt".
	BaseTopic string
	// Home is the set of devices and groups; nil means SampleHome().
	Home *Home
	// Latency is how long a device takes to acknowledge a command before
	// the optimistic state is published. Zero means DefaultLatency; a
	// negative value means none.
	Latency time.Duration
	// UnreachableDelay is how long a command to an offline device takes to
	// fail (Zigbee2MQTT's timeout is 10s). Zero means the default.
	UnreachableDelay time.Duration
	// CoverStep is the interval between position reports of a moving
	// cover; CoverSpeed the percent it travels per step. Zero: defaults.
	CoverStep  time.Duration
	CoverSpeed int
	// LockDelay is how long after the acknowledgement a lock reports its
	// new state. Zero means the default; negative means none.
	LockDelay time.Duration
	// Offline lists devices (friendly names or IEEE addresses) that are
	// unreachable from the start: availability offline, commands time out.
	Offline []string
	// Drop lists devices that silently ignore commands: no state, no error.
	Drop []string
	// Logger receives the simulator's own diagnostics.
	Logger zerolog.Logger
}

// Simulator is a fake Zigbee2MQTT bridge connected to an MQTT broker.
type Simulator struct {
	cfg      Config
	eng      *engine
	client   *mqtt.Client
	connects atomic.Int64
	closeMu  sync.Mutex
	closed   bool
}

func (c Config) engineConfig() engineConfig {
	ec := engineConfig{
		baseTopic:        c.BaseTopic,
		mqttServer:       c.MQTTURL,
		latency:          c.Latency,
		unreachableDelay: c.UnreachableDelay,
		coverStep:        c.CoverStep,
		coverSpeed:       float64(c.CoverSpeed),
		lockDelay:        c.LockDelay,
		log:              c.Logger.With().Str("component", "simulator").Logger(),
	}
	if ec.baseTopic == "" {
		ec.baseTopic = DefaultBaseTopic
	}
	switch {
	case ec.latency == 0:
		ec.latency = DefaultLatency
	case ec.latency < 0:
		ec.latency = 0
	}
	if ec.unreachableDelay <= 0 {
		ec.unreachableDelay = DefaultUnreachableDelay
	}
	if ec.coverStep <= 0 {
		ec.coverStep = DefaultCoverStep
	}
	if ec.coverSpeed <= 0 {
		ec.coverSpeed = DefaultCoverSpeed
	}
	switch {
	case ec.lockDelay == 0:
		ec.lockDelay = DefaultLockDelay
	case ec.lockDelay < 0:
		ec.lockDelay = 0
	}
	return ec
}

// newCore builds the engine for cfg with the given output and applies the
// fault lists.
func newCore(cfg Config, out Publisher) (*engine, error) {
	home := cfg.Home
	if home == nil {
		home = SampleHome()
	}
	e, err := newEngine(cfg.engineConfig(), home, out)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, list := range []struct {
		names []string
		set   func(*device)
	}{
		{cfg.Offline, func(d *device) { d.offline = true }},
		{cfg.Drop, func(d *device) { d.drop = true }},
	} {
		for _, n := range list.names {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			d := e.deviceByName(n)
			if d == nil || d.coordinator {
				bad = append(bad, n)
				continue
			}
			list.set(d)
		}
	}
	if len(bad) > 0 {
		e.close()
		return nil, fmt.Errorf("%w: %s (devices: %s)", ErrUnknownDevice, strings.Join(bad, ", "), strings.Join(e.deviceNames(), ", "))
	}
	return e, nil
}

func (e *engine) deviceNames() []string {
	var names []string
	for _, d := range e.devices {
		if !d.coordinator {
			names = append(names, d.name)
		}
	}
	sort.Strings(names)
	return names
}

// New creates a simulator; nothing is published until Start.
func New(cfg Config) (*Simulator, error) {
	if cfg.MQTTURL == "" {
		return nil, errors.New("simulator: MQTTURL is required")
	}
	s := &Simulator{cfg: cfg}
	base := cfg.engineConfig().baseTopic
	clientID := cfg.ClientID
	if clientID == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		clientID = "z2m-sim-" + hex.EncodeToString(b)
	}
	client, err := mqtt.New(mqtt.Config{
		URL:      cfg.MQTTURL,
		Username: cfg.Username,
		Password: cfg.Password,
		ClientID: clientID,
		QoS:      1,
		Will:     &mqtt.Message{Topic: base + "/bridge/state", Payload: []byte(`{"state":"offline"}`), QoS: 1, Retained: true},
		Logger:   cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	s.client = client
	log := cfg.engineConfig().log
	out := PublisherFunc(func(topic string, qos byte, retained bool, payload []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := client.PublishQoS(ctx, topic, qos, retained, payload); err != nil {
			log.Debug().Err(err).Str("topic", topic).Msg("publish failed")
		}
	})
	e, err := newCore(cfg, out)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("simulator: %w", err)
	}
	s.eng = e
	client.Subscribe(base+"/#", 0, func(m mqtt.Message) {
		topic, payload := m.Topic, m.Payload
		e.do(func() { e.handleMessage(topic, payload) })
	})
	client.OnConnectionChange(func(up bool) {
		if !up {
			return
		}
		n := s.connects.Add(1)
		e.do(func() {
			if n > 1 {
				e.reconnected()
			} else if !e.started {
				e.startup()
			}
		})
	})
	return s, nil
}

// Start connects to the broker and publishes the start-up sequence; it
// returns once that sequence has been published.
func (s *Simulator) Start(ctx context.Context) error {
	if err := s.client.Connect(ctx); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	s.eng.call(func() {
		if !s.eng.started {
			s.eng.startup()
		}
	})
	return nil
}

// Close publishes bridge/state offline, as a graceful Zigbee2MQTT stop
// does, then disconnects. It is idempotent.
func (s *Simulator) Close() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.eng.call(func() {
		if s.eng.started {
			s.eng.logMessage("info", "z2m: Received SIGTERM, stopping")
			s.eng.publishBridgeState(false)
		}
	})
	s.eng.close()
	s.client.Close()
}

// BaseTopic returns the base topic in use.
func (s *Simulator) BaseTopic() string { return s.eng.cfg.baseTopic }

// SetOffline marks a device unreachable (or reachable again) and publishes
// the availability change, for the device and for groups whose
// availability changes with it.
func (s *Simulator) SetOffline(name string, offline bool) error {
	return s.eng.setOffline(name, offline)
}

// SetDrop makes a device silently ignore commands (or stop doing so).
func (s *Simulator) SetDrop(name string, drop bool) error { return s.eng.setDrop(name, drop) }

// SetLatency changes the acknowledgement latency for later commands.
func (s *Simulator) SetLatency(d time.Duration) { s.eng.setLatency(d) }

// Report simulates a device report: partial is merged into the device's
// state, the full state is published and groups are updated.
func (s *Simulator) Report(name string, partial map[string]any) error {
	return s.eng.report(name, partial)
}

// State returns a copy of a device's or group's cached state, nil if the
// name is unknown.
func (s *Simulator) State(name string) map[string]any { return s.eng.stateOf(name) }

// Devices returns the friendly names of all devices except the coordinator.
func (s *Simulator) Devices() []string {
	var names []string
	s.eng.call(func() { names = s.eng.deviceNames() })
	return names
}

// onDevice runs f on the engine's goroutine with the named device (not the
// coordinator), or returns ErrUnknownDevice.
func (e *engine) onDevice(name string, f func(d *device)) error {
	var err error
	e.call(func() {
		d := e.deviceByName(name)
		if d == nil || d.coordinator {
			err = fmt.Errorf("%w: %q", ErrUnknownDevice, name)
			return
		}
		f(d)
	})
	return err
}

func (e *engine) setOffline(name string, offline bool) error {
	return e.onDevice(name, func(d *device) {
		if d.offline == offline {
			return
		}
		d.offline = offline
		if !e.started {
			return
		}
		e.publishDeviceAvailability(d)
		for _, g := range e.groups {
			if g.hasDevice(d.ieee) {
				e.publishGroupAvailability(g, false)
			}
		}
	})
}

func (e *engine) setDrop(name string, drop bool) error {
	return e.onDevice(name, func(d *device) { d.drop = drop })
}

func (e *engine) setLatency(d time.Duration) {
	if d < 0 {
		d = 0
	}
	e.call(func() { e.cfg.latency = d })
}

func (e *engine) report(name string, partial map[string]any) error {
	return e.onDevice(name, func(d *device) { e.applyDeviceUpdate(d, cloneMap(partial), true) })
}

func (e *engine) stateOf(name string) map[string]any {
	var out map[string]any
	e.call(func() {
		if d := e.deviceByName(name); d != nil {
			out = cloneMap(d.state)
		} else if g := e.groupByName(name); g != nil {
			out = cloneMap(g.state)
		}
	})
	return out
}
