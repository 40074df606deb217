package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseFlagsAndEnv(t *testing.T) {
	env := map[string]string{"Z2M_SIM_MQTT_URL": "tcp://env:1883", "Z2M_SIM_LATENCY": "5ms", "Z2M_SIM_OFFLINE": "a,b"}
	o, err := parse([]string{"--latency", "0", "--drop", "c"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "tcp://env:1883", o.mqttURL)
	require.Equal(t, time.Duration(0), o.latency, "flag wins over env")
	require.Equal(t, []string{"a", "b"}, splitList(o.offline))
	require.Equal(t, []string{"c"}, splitList(o.drop))
	require.Equal(t, 10*time.Second, o.unreachableDelay)
	require.Equal(t, "zigbee2mqtt", o.baseTopic)

	_, err = parse([]string{"--latency", "soon"}, func(string) string { return "" }, io.Discard)
	require.Error(t, err)
}

func TestUnknownOfflineNameFails(t *testing.T) {
	err := run([]string{"--mqtt-url", "tcp://127.0.0.1:1", "--offline", "ghost"}, func(string) string { return "" }, io.Discard)
	require.ErrorContains(t, err, "ghost")
	require.ErrorContains(t, err, "lounge/ceiling")
}
