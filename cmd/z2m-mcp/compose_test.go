package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestComposeFile checks docker-compose.yml's shape: the services and
// profiles design.md fixes, healthchecks everywhere, loopback-only ports,
// Mosquitto's config with set_tcp_nodelay, and every ${VAR} documented in
// .env.example. Where docker-compose is installed it also runs `config -q`.
func TestComposeFile(t *testing.T) {
	root := filepath.Join("..", "..")
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	require.NoError(t, err)
	var doc struct {
		Services map[string]struct {
			Image       string         `yaml:"image"`
			Build       any            `yaml:"build"`
			Profiles    []string       `yaml:"profiles"`
			Ports       []string       `yaml:"ports"`
			Volumes     []string       `yaml:"volumes"`
			Healthcheck map[string]any `yaml:"healthcheck"`
			Devices     []string       `yaml:"devices"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	for _, name := range []string{"mosquitto", "z2m-sim", "z2m-mcp", "zigbee2mqtt"} {
		svc, ok := doc.Services[name]
		require.True(t, ok, "service %s", name)
		require.NotEmpty(t, svc.Healthcheck, "healthcheck on %s", name)
		for _, p := range svc.Ports {
			require.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s publishes %s beyond loopback", name, p)
		}
	}
	require.Equal(t, []string{"sim"}, doc.Services["z2m-sim"].Profiles)
	require.Equal(t, []string{"zigbee2mqtt"}, doc.Services["zigbee2mqtt"].Profiles)
	require.Contains(t, doc.Services["zigbee2mqtt"].Image, "koenkk/zigbee2mqtt")
	require.NotEmpty(t, doc.Services["zigbee2mqtt"].Devices, "serial device mapping")
	require.Equal(t, "eclipse-mosquitto:2", doc.Services["mosquitto"].Image)
	require.Contains(t, strings.Join(doc.Services["mosquitto"].Volumes, " "), "./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf")

	conf, err := os.ReadFile(filepath.Join(root, "mosquitto", "mosquitto.conf"))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^set_tcp_nodelay true`, string(conf))

	env, err := os.ReadFile(filepath.Join(root, ".env.example"))
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)`).FindAllStringSubmatch(string(raw), -1) {
		require.Regexp(t, `(?m)^`+m[1]+`=`, string(env), "%s is used by docker-compose.yml but not in .env.example", m[1])
	}
	require.Regexp(t, `(?m)^COMPOSE_PROFILES=sim$`, string(env))

	if dc, err := exec.LookPath("docker-compose"); err == nil {
		cmd := exec.Command(dc, "-f", filepath.Join(root, "docker-compose.yml"), "--env-file", filepath.Join(root, ".env.example"), "config", "-q")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "docker-compose config: %s", out)
	} else {
		t.Log("docker-compose not installed: checked the file's shape only")
	}
}
