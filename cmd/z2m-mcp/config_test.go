package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// envMap is a fake process environment.
type envMap map[string]string

func (m envMap) lookup(k string) (string, bool) { v, ok := m[k]; return v, ok }

func (m envMap) environ() []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// load runs loadConfig with a fake environment; a missing .env is the
// default unless the test names one.
func load(t *testing.T, env envMap, args ...string) (*config, error) {
	t.Helper()
	if env == nil {
		env = envMap{}
	}
	hasEnvFile := false
	for _, a := range args {
		hasEnvFile = hasEnvFile || strings.HasPrefix(a, "--env-file")
	}
	if _, ok := env["Z2M_MCP_ENV_FILE"]; !ok && !hasEnvFile {
		// Never read a .env lying in the package directory.
		args = append([]string{"--env-file", ""}, args...)
	}
	return loadConfig(args, env.lookup, env.environ(), io.Discard)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestConfigDefaults(t *testing.T) {
	c, err := load(t, nil)
	require.NoError(t, err)
	require.Equal(t, "tcp://127.0.0.1:1883", c.MQTTURL)
	require.Equal(t, 1, c.MQTTQoS)
	require.Equal(t, "zigbee2mqtt", c.BaseTopic)
	require.Equal(t, "stdio", c.Transport)
	require.Equal(t, "127.0.0.1:8771", c.Listen)
	require.Equal(t, 5*time.Second, c.ConfirmTimeout)
	require.Equal(t, 30*time.Second, c.SleepyTimeout)
	require.Empty(t, c.MQTTClientID, "the mqtt package adds a random suffix")
	p := c.policy()
	require.False(t, p.ReadOnly || p.AllowLocks || p.AllowUnlock || p.AllowRaw)
	require.Zero(t, p.Rate)
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, ".env", `# comment
Z2M_MCP_BASE_TOPIC=from_file
export Z2M_MCP_LOG_LEVEL="warn"
Z2M_MCP_MQTT_QOS=0
Z2M_MCP_CONFIRM_TIMEOUT='7s'
Z2M_MCP_DENY=office/*,garage/*
COMPOSE_PROFILES=sim

`)
	env := envMap{
		"Z2M_MCP_BASE_TOPIC": "from_env",
		"Z2M_MCP_MQTT_QOS":   "2",
		"Z2M_MCP_READ_ONLY":  "true",
		"Z2M_MCP_ENV_FILE":   file,
		"HOME":               "/root",
	}
	c, err := load(t, env, "--mqtt-qos", "1")
	require.NoError(t, err)
	require.Equal(t, 1, c.MQTTQoS, "flag beats environment and file")
	require.Equal(t, "from_env", c.BaseTopic, "environment beats file")
	require.Equal(t, "warn", c.LogLevel, "file beats default")
	require.Equal(t, 7*time.Second, c.ConfirmTimeout)
	require.True(t, c.ReadOnly)
	require.Equal(t, []string{"office/*", "garage/*"}, c.policy().Deny)

	// --env-file on the command line.
	c, err = load(t, envMap{}, "--env-file", file)
	require.NoError(t, err)
	require.Equal(t, "from_file", c.BaseTopic)
	require.Equal(t, 0, c.MQTTQoS)

	// A flag set to its default value still wins.
	c, err = load(t, envMap{"Z2M_MCP_MQTT_QOS": "2"}, "--mqtt-qos", "1")
	require.NoError(t, err)
	require.Equal(t, 1, c.MQTTQoS)
}

func TestConfigEnvFileMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.env")
	_, err := load(t, nil, "--env-file", missing)
	require.Error(t, err, "an env file asked for explicitly must exist")
	require.Contains(t, err.Error(), "nope.env")

	// The default .env is optional.
	dir := t.TempDir()
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.Chdir(dir))
	defer func() { require.NoError(t, os.Chdir(wd)) }()
	_, err = loadConfig(nil, envMap{}.lookup, nil, io.Discard)
	require.NoError(t, err)
	// ...and read when present.
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte("Z2M_MCP_BASE_TOPIC=dotenv\n"), 0o600))
	c, err := loadConfig(nil, envMap{}.lookup, nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "dotenv", c.BaseTopic)
}

func TestConfigUnknownVariable(t *testing.T) {
	_, err := load(t, envMap{"Z2M_MCP_FOO": "1"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "Z2M_MCP_FOO")

	file := writeFile(t, ".env", "Z2M_MCP_MQTT_URLL=tcp://x:1883\n")
	_, err = load(t, nil, "--env-file", file)
	require.Error(t, err)
	require.Contains(t, err.Error(), "Z2M_MCP_MQTT_URLL")

	// Test-only variables are not settings.
	_, err = load(t, envMap{"Z2M_MCP_TEST_BROKER": "tcp://127.0.0.1:1"})
	require.NoError(t, err)

	// Unknown flags too.
	_, err = load(t, nil, "--mqtt-urll", "tcp://x")
	require.Error(t, err)
	require.Contains(t, err.Error(), "mqtt-urll")
	_, err = load(t, nil, "serve")
	require.Error(t, err)
	require.Contains(t, err.Error(), "serve")
}

func TestConfigInvalidValues(t *testing.T) {
	rooms := writeFile(t, "rooms.json", `{"lounge/ceiling": "living"}`)
	badRooms := writeFile(t, "rooms.json", `["lounge"]`)
	cases := []struct {
		name string
		env  envMap
		args []string
		want []string
	}{
		{"qos flag", nil, []string{"--mqtt-qos", "3"}, []string{"--mqtt-qos"}},
		{"qos that wraps a byte", nil, []string{"--mqtt-qos", "256"}, []string{"--mqtt-qos"}},
		{"qos not a number in env", envMap{"Z2M_MCP_MQTT_QOS": "high"}, nil, []string{"Z2M_MCP_MQTT_QOS"}},
		{"qos out of range in env", envMap{"Z2M_MCP_MQTT_QOS": "5"}, nil, []string{"--mqtt-qos"}},
		{"transport", nil, []string{"--transport", "bogus"}, []string{"--transport", "bogus"}},
		{"transport in env", envMap{"Z2M_MCP_TRANSPORT": "sse"}, nil, []string{"--transport"}},
		{"non-loopback listen without token", nil, []string{"--transport", "http", "--listen", "0.0.0.0:8771"}, []string{"--listen", "--token"}},
		{"non-loopback listen by name without token", nil, []string{"--transport", "http", "--listen", "example.com:8771"}, []string{"--listen"}},
		{"metrics on the network without token", nil, []string{"--metrics-listen", "0.0.0.0:9100"}, []string{"--metrics-listen"}},
		{"listen without port", nil, []string{"--transport", "http", "--listen", "127.0.0.1"}, []string{"--listen"}},
		{"mqtt url scheme", nil, []string{"--mqtt-url", "ftp://broker:21"}, []string{"MQTT", "ftp"}},
		{"mqtt url without host", nil, []string{"--mqtt-url", "broker:1883"}, []string{"MQTT"}},
		{"base topic wildcard", nil, []string{"--base-topic", "z2m/#"}, []string{"--base-topic"}},
		{"base topic trailing slash", nil, []string{"--base-topic", "z2m/"}, []string{"--base-topic"}},
		{"log level", nil, []string{"--log-level", "loud"}, []string{"--log-level"}},
		{"log format", nil, []string{"--log-format", "xml"}, []string{"--log-format"}},
		{"unlock without locks", nil, []string{"--allow-unlock"}, []string{"--allow-unlock", "--allow-locks"}},
		{"origin without scheme", nil, []string{"--allow-origin", "app.example"}, []string{"--allow-origin"}},
		{"negative rate", nil, []string{"--rate", "-1"}, []string{"--rate"}},
		{"zero timeout", nil, []string{"--confirm-timeout", "0s"}, []string{"--confirm-timeout"}},
		{"bad duration in env", envMap{"Z2M_MCP_CONFIRM_TIMEOUT": "soon"}, nil, []string{"Z2M_MCP_CONFIRM_TIMEOUT"}},
		{"bad bool in env", envMap{"Z2M_MCP_READ_ONLY": "perhaps"}, nil, []string{"Z2M_MCP_READ_ONLY"}},
		{"rooms file missing", nil, []string{"--rooms", filepath.Join(t.TempDir(), "none.json")}, []string{"--rooms"}},
		{"rooms file not an object", nil, []string{"--rooms", badRooms}, []string{"--rooms"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.env, tc.args...)
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}

	t.Run("valid combinations", func(t *testing.T) {
		c, err := load(t, nil, "--transport", "http", "--listen", "0.0.0.0:8771", "--token", "t")
		require.NoError(t, err, "a token allows a non-loopback listener")
		require.Equal(t, "http", c.Transport)
		_, err = load(t, nil, "--listen", "0.0.0.0:8771")
		require.NoError(t, err, "--listen does not matter for stdio")
		_, err = load(t, nil, "--transport", "http", "--listen", "[::1]:0")
		require.NoError(t, err)
		c, err = load(t, nil, "--rooms", rooms, "--allow-locks", "--allow-unlock", "--allow-origin", "https://a.example, http://b.example:8080")
		require.NoError(t, err)
		require.Equal(t, map[string]string{"lounge/ceiling": "living"}, c.rooms)
		require.Equal(t, []string{"https://a.example", "http://b.example:8080"}, splitList(c.AllowOrigin))
		for _, u := range []string{"mqtt://broker", "mqtts://broker:8883", "ws://broker:9001/mqtt", "tcp://user:pw@broker:1883"} {
			_, err = load(t, nil, "--mqtt-url", u)
			require.NoError(t, err, u)
		}
	})

	t.Run("demo ignores connection settings", func(t *testing.T) {
		c, err := load(t, nil, "--demo", "--mqtt-url", "ftp://nowhere")
		require.NoError(t, err)
		require.Empty(t, c.MQTTURL, "the demo brings its own broker")
	})
}

func TestConfigSecretsNotEchoed(t *testing.T) {
	const secret = "hunter2-secret"
	cases := []struct {
		name string
		env  envMap
		args []string
	}{
		{"password in env, other error", envMap{"Z2M_MCP_MQTT_PASSWORD": secret, "Z2M_MCP_MQTT_USERNAME": "u"}, []string{"--mqtt-qos", "9"}},
		{"password without username", envMap{"Z2M_MCP_MQTT_PASSWORD": secret}, nil},
		{"token with bad listen", envMap{"Z2M_MCP_TOKEN": secret}, []string{"--transport", "http", "--listen", "nowhere"}},
		{"password in a URL with a bad scheme", nil, []string{"--mqtt-url", "ftp://u:" + secret + "@broker:21"}},
		{"password in a URL with a path", nil, []string{"--mqtt-url", "tcp://u:" + secret + "@broker:1883/x"}},
		{"password in a URL with a bad port", nil, []string{"--mqtt-url", "tcp://u:" + secret + "@broker:port"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.env, tc.args...)
			require.Error(t, err)
			require.NotContains(t, err.Error(), secret)
		})
	}
	t.Run("redacted broker URL in check output", func(t *testing.T) {
		require.Equal(t, "tcp://***@broker:1883", redact("tcp://u:"+secret+"@broker:1883"))
		require.Equal(t, "tcp://broker:1883", redact("tcp://broker:1883"))
	})
	t.Run("help shows no secret", func(t *testing.T) {
		var out bytes.Buffer
		env := envMap{"Z2M_MCP_TOKEN": secret}
		code := run(context.Background(), []string{"--help"}, strings.NewReader(""), &out, &out, env.lookup, env.environ())
		require.Equal(t, 0, code)
		require.Contains(t, out.String(), "Z2M_MCP_MQTT_URL")
		require.NotContains(t, out.String(), secret)
	})
}

func TestRunExitCodes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--version"}, strings.NewReader(""), &stdout, &stderr, envMap{}.lookup, nil)
	require.Equal(t, 0, code)
	require.Contains(t, stdout.String(), "z2m-mcp")

	stdout.Reset()
	stderr.Reset()
	env := envMap{"Z2M_MCP_FOO": "bar"}
	code = run(context.Background(), []string{"--env-file", ""}, strings.NewReader(""), &stdout, &stderr, env.lookup, env.environ())
	require.Equal(t, 2, code)
	require.Contains(t, stderr.String(), "Z2M_MCP_FOO")
	require.Empty(t, stdout.String(), "stdout carries only JSON-RPC")

	stdout.Reset()
	stderr.Reset()
	code = run(context.Background(), []string{"check", "--env-file", "", "--transport", "carrier-pigeon"}, strings.NewReader(""), &stdout, &stderr, envMap{}.lookup, nil)
	require.Equal(t, 2, code)
	require.Contains(t, stderr.String(), "--transport")
}
