package mqtttest_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
)

const wait = 10 * time.Second

// TestNewPicksBroker checks the choice on this machine: with no
// Z2M_MCP_TEST_BROKER and no Docker engine, a mosquitto on PATH wins.
func TestNewPicksBroker(t *testing.T) {
	b := mqtttest.New(t)
	require.NotEmpty(t, b.URL)
	require.NotEmpty(t, b.Kind)
	switch {
	case os.Getenv(mqtttest.EnvKind) != "":
		require.Equal(t, os.Getenv(mqtttest.EnvKind), b.Kind)
	case os.Getenv(mqtttest.EnvBroker) != "":
		require.Equal(t, mqtttest.KindEnv, b.Kind)
		require.False(t, b.Restartable())
	case b.Kind == mqtttest.KindContainer:
		// Docker answered; nothing more to check here.
	default:
		if _, err := exec.LookPath("mosquitto"); err == nil || fileExists("/usr/sbin/mosquitto") {
			require.Equal(t, mqtttest.KindMosquitto, b.Kind)
		} else {
			require.Equal(t, mqtttest.KindEmbedded, b.Kind)
		}
	}
	requireUsable(t, b.URL)
}

func TestForcedEmbedded(t *testing.T) {
	t.Setenv(mqtttest.EnvKind, mqtttest.KindEmbedded)
	b := mqtttest.New(t)
	require.Equal(t, mqtttest.KindEmbedded, b.Kind)
	require.True(t, b.Restartable())
	requireUsable(t, b.URL)
}

func TestForcedMosquitto(t *testing.T) {
	t.Setenv(mqtttest.EnvKind, mqtttest.KindMosquitto)
	b := mqtttest.New(t) // skips when there is no mosquitto
	require.Equal(t, mqtttest.KindMosquitto, b.Kind)
	requireUsable(t, b.URL)
}

// TestParallelBrokersDoNotCollide starts several brokers at once.
func TestParallelBrokersDoNotCollide(t *testing.T) {
	for _, kind := range []string{"a", "b", "c", "d"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			b := mqtttest.New(t)
			requireUsable(t, b.URL)
		})
	}
}

// TestRestartKeepsAddress stops, kills and starts each restartable kind
// available here and checks the URL stays usable.
func TestRestartKeepsAddress(t *testing.T) {
	for _, kind := range []string{mqtttest.KindMosquitto, mqtttest.KindEmbedded} {
		t.Run(kind, func(t *testing.T) {
			t.Setenv(mqtttest.EnvKind, kind)
			b := mqtttest.New(t)
			url := b.URL
			b.Stop()
			b.Stop() // stopping a stopped broker does nothing
			_, err := net.DialTimeout("tcp", b.Addr, time.Second)
			require.Error(t, err, "stopped broker still accepts connections")
			b.Start()
			require.Equal(t, url, b.URL)
			requireUsable(t, b.URL)
			b.Kill()
			b.Start()
			b.Start() // starting a running broker does nothing
			requireUsable(t, b.URL)
		})
	}
}

// TestRetainedSurviveRestart: a graceful stop keeps retained messages
// (mosquitto persists them, the embedded broker carries them over).
func TestRetainedSurviveRestart(t *testing.T) {
	for _, kind := range []string{mqtttest.KindMosquitto, mqtttest.KindEmbedded} {
		t.Run(kind, func(t *testing.T) {
			t.Setenv(mqtttest.EnvKind, kind)
			b := mqtttest.New(t)
			c := connect(t, b.URL)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			require.NoError(t, c.Publish(ctx, "z/bridge/devices", []byte(`[]`), true))
			c.Close()
			b.Stop()
			b.Start()
			c2 := connect(t, b.URL)
			got := make(chan mqtt.Message, 1)
			c2.Subscribe("z/bridge/devices", 1, func(m mqtt.Message) { got <- m })
			select {
			case m := <-got:
				require.True(t, m.Retained)
				require.Equal(t, `[]`, string(m.Payload))
			case <-time.After(wait):
				t.Fatal("retained message lost over restart")
			}
		})
	}
}

func connect(t *testing.T, url string) *mqtt.Client {
	t.Helper()
	c, err := mqtt.New(mqtt.Config{URL: url, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
	return c
}

// requireUsable publishes through the broker and receives the message back.
func requireUsable(t *testing.T, url string) {
	t.Helper()
	c := connect(t, url)
	got := make(chan mqtt.Message, 10)
	c.Subscribe("probe/#", 1, func(m mqtt.Message) { got <- m })
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.Publish(ctx, "probe/x", []byte("hi"), false); err != nil {
			return false
		}
		select {
		case m := <-got:
			return string(m.Payload) == "hi"
		case <-time.After(200 * time.Millisecond):
			return false
		}
	}, wait, 10*time.Millisecond)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
