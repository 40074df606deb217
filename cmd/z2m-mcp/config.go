package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/z2m-mcp/z2m-mcp/mcp"
	"github.com/z2m-mcp/z2m-mcp/mqtt"
)

// config is everything the command line, Z2M_MCP_* variables and .env set.
type config struct {
	MQTTURL, MQTTUsername, MQTTPassword string
	MQTTCA, MQTTCert, MQTTKey           string
	MQTTClientID                        string
	MQTTQoS                             int
	BaseTopic                           string
	Transport, Listen, Token            string
	AllowOrigin                         string
	ReadOnly                            bool
	Allow, Deny                         string
	AllowLocks, AllowUnlock, AllowRaw   bool
	Rate                                float64
	RateBurst                           int
	ConfirmTimeout, SleepyTimeout       time.Duration
	Rooms                               string
	MetricsListen                       string
	LogLevel, LogFormat                 string
	Demo                                bool
	EnvFile                             string
	Version                             bool

	rooms map[string]string
}

// flagGroups orders --help: connection, server, policy, confirmation, other.
var flagGroups = []struct {
	title string
	names []string
}{
	{"MQTT connection", []string{"mqtt-url", "mqtt-username", "mqtt-password", "mqtt-ca", "mqtt-cert", "mqtt-key", "mqtt-client-id", "mqtt-qos", "base-topic"}},
	{"MCP transport", []string{"transport", "listen", "token", "allow-origin", "metrics-listen"}},
	{"Policy", []string{"read-only", "allow", "deny", "allow-locks", "allow-unlock", "allow-raw", "rate", "rate-burst"}},
	{"Confirmation", []string{"confirm-timeout", "confirm-timeout-sleepy"}},
	{"Other", []string{"rooms", "log-level", "log-format", "demo", "env-file", "version"}},
}

// secretFlags are never logged or echoed.
var secretFlags = map[string]bool{"mqtt-password": true, "token": true}

func newFlagSet(c *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("z2m-mcp", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.MQTTURL, "mqtt-url", "tcp://127.0.0.1:1883", "broker URL: tcp://, mqtt://, ssl://, mqtts://, ws://, wss://")
	fs.StringVar(&c.MQTTUsername, "mqtt-username", "", "MQTT username")
	fs.StringVar(&c.MQTTPassword, "mqtt-password", "", "MQTT password (never logged)")
	fs.StringVar(&c.MQTTCA, "mqtt-ca", "", "CA certificate FILE for TLS")
	fs.StringVar(&c.MQTTCert, "mqtt-cert", "", "client certificate FILE for TLS")
	fs.StringVar(&c.MQTTKey, "mqtt-key", "", "client key FILE for TLS")
	fs.StringVar(&c.MQTTClientID, "mqtt-client-id", "", "MQTT client id (default z2m-mcp-<random>)")
	fs.IntVar(&c.MQTTQoS, "mqtt-qos", 1, "QoS for commands and subscriptions (0, 1, 2)")
	fs.StringVar(&c.BaseTopic, "base-topic", "zigbee2mqtt", "Zigbee2MQTT base topic")
	fs.StringVar(&c.Transport, "transport", "stdio", "MCP transport: stdio or http")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8771", "HTTP listen address (non-loopback needs --token)")
	fs.StringVar(&c.Token, "token", "", "bearer token required on /mcp and /metrics (never logged)")
	fs.StringVar(&c.AllowOrigin, "allow-origin", "", "extra allowed HTTP Origins, comma-separated (loopback is always allowed)")
	fs.BoolVar(&c.ReadOnly, "read-only", false, "refuse every command")
	fs.StringVar(&c.Allow, "allow", "", "only these device names are visible, comma-separated globs (* matches '/')")
	fs.StringVar(&c.Deny, "deny", "", "these device names are invisible and refused, comma-separated globs")
	fs.BoolVar(&c.AllowLocks, "allow-locks", false, "enable set_locks")
	fs.BoolVar(&c.AllowUnlock, "allow-unlock", false, "allow unlocking (with --allow-locks)")
	fs.BoolVar(&c.AllowRaw, "allow-raw", false, "enable set_device (any writable property)")
	fs.Float64Var(&c.Rate, "rate", 0, "per-session limit on commands per second (0 = off)")
	fs.IntVar(&c.RateBurst, "rate-burst", 0, "burst for --rate (default max(1, rate))")
	fs.DurationVar(&c.ConfirmTimeout, "confirm-timeout", 5*time.Second, "default confirmation timeout")
	fs.DurationVar(&c.SleepyTimeout, "confirm-timeout-sleepy", 30*time.Second, "confirmation timeout for battery devices")
	fs.StringVar(&c.Rooms, "rooms", "", "JSON FILE mapping friendly names to rooms (default: first path segment)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "address for /healthz and /metrics in stdio mode")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "auto", "auto (console on a TTY, else JSON), json, console")
	fs.BoolVar(&c.Demo, "demo", false, "embedded broker + simulated home + server, nothing else needed")
	fs.StringVar(&c.EnvFile, "env-file", ".env", "optional file of Z2M_MCP_* settings")
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")
	fs.Usage = func() { usage(fs) }
	return fs
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `z2m-mcp: an MCP server that runs a Zigbee home through Zigbee2MQTT and confirms every command.

Usage:
  z2m-mcp [flags]            serve MCP (stdio by default)
  z2m-mcp --demo             embedded broker + simulated home + server
  z2m-mcp check [flags]      connect, report broker, bridge and devices; non-zero exit on problems

Every flag can also be set as Z2M_MCP_<NAME> (upper case, '-' → '_') or in a .env
file; flags win over the environment, the environment over .env.
`)
	for _, g := range flagGroups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, n := range g.names {
			f := fs.Lookup(n)
			if f == nil {
				continue
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && !secretFlags[n] {
				def = " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(w, "  --%-24s %s%s\n      env %s\n", n, f.Usage, def, envName(n))
		}
	}
}

func envName(flagName string) string {
	return "Z2M_MCP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// loadConfig parses args, then fills unset flags from the environment and the
// .env file, and validates. getenv is os.LookupEnv in production.
func loadConfig(args []string, getenv func(string) (string, bool), environ []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := newFlagSet(c, out)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Unknown Z2M_MCP_* variables are mistakes: say so.
	known := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = f.Name })
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "Z2M_MCP_") && known[k] == "" && !strings.HasPrefix(k, "Z2M_MCP_TEST_") {
			return nil, fmt.Errorf("unknown setting %s in the environment (valid: %s)", k, strings.Join(sortedKeys(known), ", "))
		}
	}
	apply := func(source, key, value string) error {
		name := known[key]
		if name == "" {
			return fmt.Errorf("unknown setting %s in %s", key, source)
		}
		if set[name] {
			return nil
		}
		if err := fs.Set(name, value); err != nil {
			shown := value
			if secretFlags[name] {
				shown = "<redacted>"
			}
			return fmt.Errorf("invalid %s=%q from %s: %v", key, shown, source, err)
		}
		set[name] = true
		return nil
	}
	fs.VisitAll(func(f *flag.Flag) {})
	var firstErr error
	for key := range known {
		if v, ok := getenv(key); ok && firstErr == nil {
			firstErr = apply("the environment", key, v)
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	envFile := c.EnvFile
	if v, ok := getenv("Z2M_MCP_ENV_FILE"); ok && !set["env-file"] {
		envFile = v
	}
	if envFile != "" {
		if err := readEnvFile(envFile, set["env-file"], func(k, v string) error { return apply(envFile, k, v) }); err != nil {
			return nil, err
		}
	}
	return c, c.validate()
}

// readEnvFile reads KEY=VALUE lines; a missing file is fine unless it was
// asked for explicitly.
func readEnvFile(path string, explicit bool, apply func(k, v string) error) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !explicit {
			return nil
		}
		return fmt.Errorf("env file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%s:%d: expected KEY=VALUE", path, n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i]) // inline comment
		}
		if !strings.HasPrefix(k, "Z2M_MCP_") {
			continue // .env files are shared with docker compose
		}
		if err := apply(k, v); err != nil {
			return err
		}
	}
	return sc.Err()
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *config) validate() error {
	// Before the MQTT settings, which would report it as "QoS" (and see
	// 256 as 0).
	if c.MQTTQoS < 0 || c.MQTTQoS > 2 {
		return fmt.Errorf("--mqtt-qos must be 0, 1 or 2, got %d", c.MQTTQoS)
	}
	if c.Demo {
		// The demo brings its own broker; connection flags do not apply.
		c.MQTTURL = ""
	} else {
		mc := c.mqttConfig()
		if err := mc.Validate(); err != nil {
			return fmt.Errorf("MQTT settings: %s", hideSecrets(err.Error(), c.MQTTURL, c.MQTTPassword))
		}
	}
	switch c.Transport {
	case "stdio", "http":
	default:
		return fmt.Errorf("--transport must be stdio or http, got %q", c.Transport)
	}
	if err := mqtt.ValidTopicName(c.BaseTopic); err != nil || strings.HasSuffix(c.BaseTopic, "/") {
		return fmt.Errorf("--base-topic %q is not a valid topic prefix", c.BaseTopic)
	}
	for _, l := range []struct{ name, addr string }{{"listen", c.Listen}, {"metrics-listen", c.MetricsListen}} {
		if l.addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(l.addr)
		if err != nil {
			return fmt.Errorf("--%s %q: %v (want host:port)", l.name, l.addr, err)
		}
		if _, err := strconv.Atoi(port); err != nil {
			return fmt.Errorf("--%s %q: port must be a number", l.name, l.addr)
		}
		if (l.name == "listen" && c.Transport == "http" || l.name == "metrics-listen") && !mcp.IsLoopbackHost(host) && c.Token == "" {
			return fmt.Errorf("--%s %s is not a loopback address: refusing to serve without --token (anyone on the network could control the house)", l.name, l.addr)
		}
	}
	if c.Token != "" && strings.TrimSpace(c.Token) != c.Token {
		return fmt.Errorf("--token must not start or end with spaces (no client could send it)")
	}
	if c.Rate < 0 || c.RateBurst < 0 {
		return fmt.Errorf("--rate and --rate-burst must not be negative")
	}
	if c.ConfirmTimeout <= 0 || c.SleepyTimeout <= 0 {
		return fmt.Errorf("--confirm-timeout and --confirm-timeout-sleepy must be positive")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level must be debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		return fmt.Errorf("--log-format must be auto, json or console, got %q", c.LogFormat)
	}
	if c.AllowUnlock && !c.AllowLocks {
		return fmt.Errorf("--allow-unlock needs --allow-locks")
	}
	for _, o := range splitList(c.AllowOrigin) {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("--allow-origin %q must look like https://host[:port]", o)
		}
	}
	if c.Rooms != "" {
		b, err := os.ReadFile(c.Rooms)
		if err != nil {
			return fmt.Errorf("--rooms: %w", err)
		}
		if err := json.Unmarshal(b, &c.rooms); err != nil {
			return fmt.Errorf("--rooms %s: want a JSON object of friendly name → room: %v", c.Rooms, err)
		}
	}
	return nil
}

func (c *config) mqttConfig() mqtt.Config {
	return mqtt.Config{
		URL:      c.MQTTURL,
		Username: c.MQTTUsername, Password: c.MQTTPassword,
		CAFile: c.MQTTCA, CertFile: c.MQTTCert, KeyFile: c.MQTTKey,
		ClientID: c.MQTTClientID,
		QoS:      byte(c.MQTTQoS),
	}
}

func (c *config) policy() mcp.Policy {
	return mcp.Policy{
		ReadOnly: c.ReadOnly, Allow: splitList(c.Allow), Deny: splitList(c.Deny),
		AllowLocks: c.AllowLocks, AllowUnlock: c.AllowUnlock, AllowRaw: c.AllowRaw,
		Rate: c.Rate, RateBurst: c.RateBurst,
	}
}

// hideSecrets removes the password of a broker URL (and a password given on
// its own) from an error message: net/url's parse errors quote the whole
// URL, userinfo included.
func hideSecrets(msg, rawURL string, passwords ...string) string {
	if i := strings.Index(rawURL, "://"); i >= 0 {
		rest := rawURL[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				passwords = append(passwords, pw)
			}
		}
	}
	for _, pw := range passwords {
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
	}
	return msg
}
