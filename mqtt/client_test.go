package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
)

// wait is the generous bound for anything a test waits for.
const wait = 10 * time.Second

// newClient connects a client to url and closes it when the test ends.
func newClient(t *testing.T, url string, modify ...func(*mqtt.Config)) *mqtt.Client {
	t.Helper()
	cfg := mqtt.Config{
		URL:            url,
		Logger:         zerolog.New(zerolog.NewTestWriter(t)),
		ConnectTimeout: wait,
	}
	for _, m := range modify {
		m(&cfg)
	}
	c, err := mqtt.New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
	return c
}

// inbox collects messages from a subscription.
type inbox chan mqtt.Message

func newInbox() inbox { return make(inbox, 100) }

func (in inbox) handler(m mqtt.Message) { in <- m }

// next returns the next message, failing the test after wait.
func (in inbox) next(t *testing.T) mqtt.Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(wait):
		t.Fatal("no message within", wait)
		return mqtt.Message{}
	}
}

// subscribeAndSync subscribes and returns once the subscription is live,
// proven by a probe message published on a topic the filter matches.
func subscribeAndSync(t *testing.T, c *mqtt.Client, filter, probeTopic string, in inbox) {
	t.Helper()
	synced := make(chan struct{})
	var once sync.Once
	c.Subscribe(filter, 2, func(m mqtt.Message) {
		if m.Topic == probeTopic && string(m.Payload) == "probe" {
			once.Do(func() { close(synced) })
			return
		}
		in.handler(m)
	})
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.PublishQoS(ctx, probeTopic, 1, false, []byte("probe"))
		select {
		case <-synced:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}, wait, 10*time.Millisecond)
}

// uniq returns a topic prefix unique to the test, so tests sharing an
// external broker do not see each other's messages.
func uniq(t *testing.T) string {
	return fmt.Sprintf("test/%s/%d", t.Name(), time.Now().UnixNano())
}

func testRoundTrip(t *testing.T, url string) {
	base := uniq(t)
	sub := newClient(t, url)
	pub := newClient(t, url)
	in := newInbox()
	subscribeAndSync(t, sub, base+"/#", base+"/probe", in)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for qos := byte(0); qos <= 2; qos++ {
		topic := fmt.Sprintf("%s/q%d", base, qos)
		require.NoError(t, pub.PublishQoS(ctx, topic, qos, false, []byte(`{"state":"ON"}`)))
		m := in.next(t)
		require.Equal(t, topic, m.Topic)
		require.JSONEq(t, `{"state":"ON"}`, string(m.Payload))
		require.False(t, m.Retained, "Publish must not retain unless asked")
		require.Equal(t, qos, m.QoS)
	}
	// Publish uses Config.QoS (default 1) and does not retain.
	require.NoError(t, pub.Publish(ctx, base+"/default", []byte("x"), false))
	m := in.next(t)
	require.Equal(t, base+"/default", m.Topic)
	require.Equal(t, byte(1), m.QoS)
	require.False(t, m.Retained)

	// Order is kept.
	for i := range 50 {
		require.NoError(t, pub.Publish(ctx, base+"/seq", []byte(fmt.Sprint(i)), false))
	}
	for i := range 50 {
		require.Equal(t, fmt.Sprint(i), string(in.next(t).Payload))
	}
	require.GreaterOrEqual(t, pub.Stats().MessagesOut, uint64(54))
	require.GreaterOrEqual(t, sub.Stats().MessagesIn, uint64(54))
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	testRoundTrip(t, mqtttest.New(t).URL)
}

func TestRoundTripEmbedded(t *testing.T) {
	t.Parallel()
	b, err := mqtt.StartEmbeddedBroker("127.0.0.1:0", zerolog.New(zerolog.NewTestWriter(t)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	require.Equal(t, "tcp://"+b.Addr(), b.URL())
	testRoundTrip(t, b.URL())
}

func testRetained(t *testing.T, url string) {
	base := uniq(t)
	pub := newClient(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, pub.Publish(ctx, base+"/plain", []byte("gone"), false))
	require.NoError(t, pub.Publish(ctx, base+"/bridge/state", []byte(`{"state":"online"}`), true))
	// mochi acknowledges a publish before routing it; a publish outside the
	// filter below proves the two above have been routed.
	require.NoError(t, pub.Publish(ctx, "fence/"+base, nil, false))

	// A later subscriber gets the retained message, flagged as retained,
	// and not the plain one.
	sub := newClient(t, url)
	in := newInbox()
	subscribeAndSync(t, sub, base+"/#", base+"/probe", in)
	m := in.next(t)
	require.Equal(t, base+"/bridge/state", m.Topic)
	require.True(t, m.Retained)
	require.JSONEq(t, `{"state":"online"}`, string(m.Payload))
	if len(in) > 0 {
		t.Fatalf("only the retained message should be delivered, also got %+v", <-in)
	}
}

func TestRetainedOnSubscribe(t *testing.T) {
	t.Parallel()
	testRetained(t, mqtttest.New(t).URL)
}

func TestRetainedOnSubscribeEmbedded(t *testing.T) {
	t.Parallel()
	b, err := mqtt.StartEmbeddedBroker("127.0.0.1:0", zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	testRetained(t, b.URL())
}

func testWill(t *testing.T, url string) {
	base := uniq(t)
	will := &mqtt.Message{Topic: base + "/bridge/state", Payload: []byte(`{"state":"offline"}`), QoS: 1, Retained: true}
	dying := newClient(t, url, func(c *mqtt.Config) { c.Will = will })

	watcher := newClient(t, url)
	in := newInbox()
	subscribeAndSync(t, watcher, base+"/bridge/state", base+"/bridge/state", in)
	require.Empty(t, in)

	mqtt.DropConnectionForTest(dying)
	m := in.next(t)
	require.Equal(t, will.Topic, m.Topic)
	require.JSONEq(t, `{"state":"offline"}`, string(m.Payload))

	// The will was retained: a new subscriber sees it too.
	late := newClient(t, url)
	in2 := newInbox()
	late.Subscribe(will.Topic, 1, in2.handler)
	m = in2.next(t)
	require.True(t, m.Retained)
	require.JSONEq(t, `{"state":"offline"}`, string(m.Payload))

	// And the dropped client comes back by itself.
	require.Eventually(t, dying.IsConnected, wait, 10*time.Millisecond)
	require.Eventually(t, func() bool { return dying.Stats().Reconnects >= 1 }, wait, 10*time.Millisecond)
}

func TestWillOnAbruptDisconnect(t *testing.T) {
	t.Parallel()
	testWill(t, mqtttest.New(t).URL)
}

func TestWillOnAbruptDisconnectEmbedded(t *testing.T) {
	t.Parallel()
	b, err := mqtt.StartEmbeddedBroker("127.0.0.1:0", zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	testWill(t, b.URL())
}

func TestCloseSendsNoWill(t *testing.T) {
	t.Parallel()
	url := mqtttest.New(t).URL
	base := uniq(t)
	leaving := newClient(t, url, func(c *mqtt.Config) {
		c.Will = &mqtt.Message{Topic: base + "/will", Payload: []byte("offline"), QoS: 1}
	})
	watcher := newClient(t, url)
	in := newInbox()
	subscribeAndSync(t, watcher, base+"/#", base+"/probe", in)
	leaving.Close()
	leaving.Close() // idempotent
	require.ErrorIs(t, leaving.Publish(context.Background(), base+"/x", nil, false), mqtt.ErrClosed)
	// Prove the broker has processed the disconnect before asserting no will:
	// a marker published after it arrives, and nothing came before it.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, watcher.Publish(ctx, base+"/marker", []byte("m"), false))
	require.Equal(t, base+"/marker", in.next(t).Topic)
}

func TestPublishWhileNeverConnected(t *testing.T) {
	t.Parallel()
	c, err := mqtt.New(mqtt.Config{URL: "tcp://127.0.0.1:1"})
	require.NoError(t, err)
	defer c.Close()
	require.False(t, c.IsConnected())
	err = c.Publish(context.Background(), "a/b", []byte("x"), false)
	require.ErrorIs(t, err, mqtt.ErrNotConnected)
}

func TestConnectUnreachable(t *testing.T) {
	t.Parallel()
	// A port that was free a moment ago: nothing listens there.
	b, err := mqtt.StartEmbeddedBroker("127.0.0.1:0", zerolog.Nop())
	require.NoError(t, err)
	url := b.URL()
	require.NoError(t, b.Close())

	c, err := mqtt.New(mqtt.Config{URL: url, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.Error(t, c.Connect(ctx))
	require.False(t, c.IsConnected())

	// The caller may retry once the broker is there.
	b2, err := mqtt.StartEmbeddedBroker(b.Addr(), zerolog.Nop())
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", b.Addr(), err)
	}
	defer b2.Close()
	require.NoError(t, c.Connect(ctx))
	require.True(t, c.IsConnected())
}

func TestPublishRejectsBadInput(t *testing.T) {
	t.Parallel()
	c := newClient(t, mqtttest.New(t).URL)
	ctx := context.Background()
	require.Error(t, c.Publish(ctx, "a/+", nil, false))
	require.Error(t, c.Publish(ctx, "", nil, false))
	require.Error(t, c.PublishQoS(ctx, "a", 3, false, nil))
}

// TestBrokerRestart stops and starts the broker under a connected client,
// for the broker mqtttest picks and for the embedded one.
func TestBrokerRestart(t *testing.T) {
	for _, kind := range []string{"", mqtttest.KindEmbedded} {
		name := kind
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			if kind != "" {
				t.Setenv(mqtttest.EnvKind, kind)
			}
			broker := mqtttest.New(t)
			if !broker.Restartable() {
				t.Skipf("%s broker is not restartable", broker.Kind)
			}
			testBrokerRestart(t, broker, broker.Stop, true)
		})
	}
}

// TestBrokerKill kills the broker (SIGKILL for mosquitto) instead.
func TestBrokerKill(t *testing.T) {
	t.Parallel()
	broker := mqtttest.New(t)
	if !broker.Restartable() {
		t.Skipf("%s broker is not restartable", broker.Kind)
	}
	testBrokerRestart(t, broker, broker.Kill, false)
}

// testBrokerRestart stops the broker with stop and starts it again. After a
// SIGKILL the retained message may be lost (it is saved every second), so
// expectRetained is false then.
func testBrokerRestart(t *testing.T, broker *mqtttest.Broker, stop func(), expectRetained bool) {
	base := uniq(t)
	c := newClient(t, broker.URL, func(cfg *mqtt.Config) {
		cfg.MaxReconnectInterval = 500 * time.Millisecond
	})
	var (
		mu     sync.Mutex
		events []bool
	)
	c.OnConnectionChange(func(up bool) {
		mu.Lock()
		events = append(events, up)
		mu.Unlock()
	})
	eventsSoFar := func() []bool {
		mu.Lock()
		defer mu.Unlock()
		return append([]bool(nil), events...)
	}

	in := newInbox()
	c.Subscribe(base+"/bridge/devices", 1, in.handler)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, c.Publish(ctx, base+"/bridge/devices", []byte(`[1]`), true))
	m := in.next(t)
	require.Equal(t, `[1]`, string(m.Payload))
	stop()
	require.Eventually(t, func() bool { return !c.IsConnected() }, wait, 10*time.Millisecond)

	// Publishing while the broker is down fails within its bound.
	pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := c.Publish(pctx, base+"/cmd", []byte("x"), false)
	pcancel()
	require.Error(t, err)
	require.True(t, errors.Is(err, mqtt.ErrNotConnected) || errors.Is(err, context.DeadlineExceeded), "got %v", err)

	broker.Start()
	require.Eventually(t, c.IsConnected, wait, 10*time.Millisecond)
	if expectRetained {
		// Resubscribed on reconnect: the broker re-delivers the retained topic.
		m = in.next(t)
		require.Equal(t, base+"/bridge/devices", m.Topic)
		require.True(t, m.Retained)
		require.Equal(t, `[1]`, string(m.Payload))
	}

	require.Eventually(t, func() bool {
		ev := eventsSoFar()
		// The listener was registered after the first connect, whose
		// notification may or may not have reached it: look for a loss
		// followed by a connect.
		for i, up := range ev {
			if !up {
				return slices.Contains(ev[i+1:], true)
			}
		}
		return false
	}, wait, 10*time.Millisecond, "events: %v", eventsSoFar())
	st := c.Stats()
	require.GreaterOrEqual(t, st.ConnectionLosses, uint64(1))
	require.GreaterOrEqual(t, st.Reconnects, uint64(1))

	// And live traffic flows again through the renewed subscription.
	require.NoError(t, c.Publish(ctx, base+"/bridge/devices", []byte(`[2]`), true))
	for {
		if m := in.next(t); string(m.Payload) == `[2]` {
			require.False(t, m.Retained, "a live message is not flagged retained")
			break
		}
	}
}
