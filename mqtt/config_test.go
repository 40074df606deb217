package mqtt_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mqtt"
)

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))

	tests := []struct {
		name    string
		cfg     mqtt.Config
		wantErr string // substring; empty means valid
	}{
		{name: "zero value", cfg: mqtt.Config{}},
		{name: "tcp", cfg: mqtt.Config{URL: "tcp://broker:1883"}},
		{name: "mqtt means tcp", cfg: mqtt.Config{URL: "mqtt://broker"}},
		{name: "ssl", cfg: mqtt.Config{URL: "ssl://broker:8883"}},
		{name: "mqtts means ssl", cfg: mqtt.Config{URL: "mqtts://broker"}},
		{name: "ws", cfg: mqtt.Config{URL: "ws://broker:9001/mqtt"}},
		{name: "wss", cfg: mqtt.Config{URL: "wss://broker/mqtt"}},
		{name: "upper-case scheme", cfg: mqtt.Config{URL: "TCP://broker"}},
		{name: "credentials in URL", cfg: mqtt.Config{URL: "tcp://u:p@broker"}},
		{name: "unknown scheme", cfg: mqtt.Config{URL: "http://broker"}, wantErr: `scheme "http" is not supported: use tcp://, mqtt://, ssl://, mqtts://, ws://, wss://`},
		{name: "unix not supported", cfg: mqtt.Config{URL: "unix:///run/mqtt.sock"}, wantErr: "needs a scheme and a host"},
		{name: "no scheme", cfg: mqtt.Config{URL: "broker:1883"}, wantErr: "needs a scheme and a host"},
		{name: "ip without scheme", cfg: mqtt.Config{URL: "127.0.0.1:1883"}, wantErr: "URL"},
		{name: "bare host", cfg: mqtt.Config{URL: "broker"}, wantErr: "needs a scheme and a host"},
		{name: "path on tcp", cfg: mqtt.Config{URL: "tcp://broker/x"}, wantErr: "only meaningful for ws"},
		{name: "qos 2", cfg: mqtt.Config{QoS: 2}},
		{name: "qos 3", cfg: mqtt.Config{QoS: 3}, wantErr: "QoS 3 is invalid"},
		{name: "negative keepalive", cfg: mqtt.Config{KeepAlive: -time.Second}, wantErr: "KeepAlive"},
		{name: "sub-second keepalive", cfg: mqtt.Config{KeepAlive: time.Millisecond}, wantErr: "KeepAlive"},
		{name: "negative connect timeout", cfg: mqtt.Config{ConnectTimeout: -1}, wantErr: "ConnectTimeout"},
		{name: "negative max reconnect", cfg: mqtt.Config{MaxReconnectInterval: -1}, wantErr: "MaxReconnectInterval"},
		{name: "password without user", cfg: mqtt.Config{Password: "secret"}, wantErr: "Username is empty"},
		{name: "cert without key", cfg: mqtt.Config{URL: "ssl://b", CertFile: "c.pem"}, wantErr: "CertFile is set but KeyFile is empty"},
		{name: "key without cert", cfg: mqtt.Config{URL: "ssl://b", KeyFile: "k.pem"}, wantErr: "KeyFile is set but CertFile is empty"},
		{name: "missing CA file", cfg: mqtt.Config{URL: "ssl://b", CAFile: filepath.Join(dir, "nope.pem")}, wantErr: "CAFile"},
		{name: "CA file without PEM", cfg: mqtt.Config{URL: "ssl://b", CAFile: notPEM}, wantErr: "no PEM certificates"},
		{name: "missing cert files", cfg: mqtt.Config{URL: "ssl://b", CertFile: filepath.Join(dir, "c"), KeyFile: filepath.Join(dir, "k")}, wantErr: "CertFile/KeyFile"},
		{name: "TLS option on tcp", cfg: mqtt.Config{URL: "tcp://b", CAFile: notPEM}, wantErr: "need a TLS URL scheme"},
		{name: "insecure on tcp", cfg: mqtt.Config{URL: "tcp://b", InsecureSkipVerify: true}, wantErr: "need a TLS URL scheme"},
		{name: "insecure on ssl", cfg: mqtt.Config{URL: "ssl://b", InsecureSkipVerify: true}},
		{name: "will", cfg: mqtt.Config{Will: &mqtt.Message{Topic: "z/bridge/state", Payload: []byte("offline"), QoS: 1, Retained: true}}},
		{name: "will with wildcard", cfg: mqtt.Config{Will: &mqtt.Message{Topic: "z/#"}}, wantErr: "Will.Topic"},
		{name: "will qos", cfg: mqtt.Config{Will: &mqtt.Message{Topic: "z", QoS: 5}}, wantErr: "Will.QoS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				c, err := mqtt.New(tt.cfg)
				require.NoError(t, err)
				c.Close()
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			_, err = mqtt.New(tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestValidateNeverPrintsPassword(t *testing.T) {
	err := mqtt.Config{URL: "http://user:hunter2@broker"}.Validate()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

func TestValidTopicName(t *testing.T) {
	for _, ok := range []string{"a", "zigbee2mqtt/Living room/lamp", "wohnzimmer.light.wall.right", "küche", "/leading"} {
		require.NoError(t, mqtt.ValidTopicName(ok), ok)
	}
	for _, bad := range []string{"", "+", "#", "a/+/b", "a/#", "a\x00b", "tab\there", "new\nline", "del\x7f", "c1\u0085", "c1\u009f"} {
		require.Error(t, mqtt.ValidTopicName(bad), "%q", bad)
	}
}

func TestURLErrorsHidePassword(t *testing.T) {
	for _, raw := range []string{"tcp://user:s3cr3t@bad host:1883", "tcp://user:s3cr3t@[::1:1883", "tcp://user:s3cr3t@%zz"} {
		err := mqtt.Config{URL: raw}.Validate()
		require.Error(t, err, raw)
		require.NotContains(t, err.Error(), "s3cr3t", raw)
	}
}
