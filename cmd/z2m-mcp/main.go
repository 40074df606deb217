// Command z2m-mcp is an MCP server that runs a Zigbee home through
// Zigbee2MQTT and confirms every command against the devices' state reports.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"
	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/devices"
	"github.com/z2m-mcp/z2m-mcp/mcp"
	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// version is stamped with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv, os.Environ()))
}

// run is main without process globals, so tests can drive it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) (string, bool), environ []string) int {
	check := len(args) > 0 && args[0] == "check"
	if check {
		args = args[1:]
	}
	cfg, err := loadConfig(args, getenv, environ, stderr)
	if errors.Is(err, flagHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "z2m-mcp: %v\n", err)
		return 2
	}
	if cfg.Version {
		fmt.Fprintln(stdout, "z2m-mcp", version)
		return 0
	}
	log := newLogger(cfg, stderr)
	if check {
		return runCheck(ctx, cfg, log, stdout)
	}
	if err := serve(ctx, cfg, log, stdin, stdout, stderr); err != nil {
		log.Error().Err(err).Msg("stopped")
		return 1
	}
	return 0
}

func newLogger(cfg *config, w io.Writer) zerolog.Logger {
	level, _ := zerolog.ParseLevel(cfg.LogLevel)
	out := w
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "console"
		}
	}
	if format == "console" {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger()
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// app is the wired-up process: MQTT link, model and MCP server.
type app struct {
	cfg     *config
	log     zerolog.Logger
	client  *mqtt.Client
	model   *devices.Model
	server  *mcp.Server
	metrics *metrics
	closer  []func()
}

func (a *app) close() {
	for i := len(a.closer) - 1; i >= 0; i-- {
		a.closer[i]()
	}
}

// start wires everything; with --demo it first starts the embedded broker and
// the simulated home.
func start(ctx context.Context, cfg *config, log zerolog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log}
	if cfg.Demo {
		broker, err := mqtt.StartEmbeddedBroker("127.0.0.1:0", log)
		if err != nil {
			return nil, fmt.Errorf("demo broker: %w", err)
		}
		a.closer = append(a.closer, func() { _ = broker.Close() })
		cfg.MQTTURL = broker.URL()
	}
	a.model = devices.New(devices.Options{BaseTopic: cfg.BaseTopic, Logger: log, Rooms: cfg.rooms})
	mc := cfg.mqttConfig()
	mc.Logger = log
	client, err := mqtt.New(mc)
	if err != nil {
		a.close()
		return nil, err
	}
	a.client = client
	inLog := log.With().Str("component", "mqtt").Logger()
	client.Subscribe(a.model.SubscriptionFilter(), byte(cfg.MQTTQoS), func(m mqtt.Message) {
		if e := inLog.Debug(); e.Enabled() {
			e.Str("topic", m.Topic).Bool("retained", m.Retained).Str("payload", clipBytes(m.Payload, 200)).Msg("received")
		}
		a.model.Handle(m.Topic, m.Payload, m.Retained)
	})
	client.OnConnectionChange(a.model.SetConnected)
	a.closer = append(a.closer, client.Close)
	a.metrics = newMetrics(a)
	qos := byte(cfg.MQTTQoS)
	pub := devices.PublisherFunc(func(ctx context.Context, topic string, payload []byte) error {
		// PublishQoS: Config.QoS 0 means "default", and --mqtt-qos 0 must mean 0.
		return client.PublishQoS(ctx, topic, qos, false, payload)
	})
	a.server = mcp.NewServer(a.model, pub, mcp.Config{
		Policy:         cfg.policy(),
		ConfirmTimeout: cfg.ConfirmTimeout,
		SleepyTimeout:  cfg.SleepyTimeout,
		Logger:         log,
		Version:        version,
		Observer:       a.metrics,
	})
	a.closer = append(a.closer, a.server.Close)
	if !cfg.Demo {
		go a.connect(ctx)
		return a, nil
	}
	// The demo connects first, then starts the simulated home, so the model
	// sees its start-up states (Zigbee2MQTT does not retain them).
	if err := client.Connect(ctx); err != nil {
		a.close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	sim, err := simulator.New(simulator.Config{MQTTURL: cfg.MQTTURL, BaseTopic: cfg.BaseTopic, Logger: log.With().Str("component", "simulator").Logger()})
	if err != nil {
		a.close()
		return nil, fmt.Errorf("demo simulator: %w", err)
	}
	if err := sim.Start(ctx); err != nil {
		a.close()
		return nil, fmt.Errorf("demo simulator: %w", err)
	}
	a.closer = append(a.closer, sim.Close)
	return a, nil
}

// connect retries the first connection until it works or ctx ends; the
// server answers meanwhile (commands fail with "MQTT link down").
func (a *app) connect(ctx context.Context) {
	wait := 250 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.client.Connect(cctx)
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Warn().Err(err).Dur("retry_in", wait).Msg("cannot reach the MQTT broker")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}

// health reports whether the broker is connected and the bridge online.
func (a *app) health() (bool, map[string]any) {
	b := a.model.Snapshot().Bridge
	connected := a.model.Connected()
	ok := connected && b.Online()
	state := b.State
	if state == "" {
		state = "unknown"
	}
	return ok, map[string]any{"ok": ok, "mqtt_connected": connected, "bridge": state, "devices_received": b.DevicesReceived}
}

func (a *app) healthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, body := a.health()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(body)
	})
}

func serve(ctx context.Context, cfg *config, log zerolog.Logger, stdin io.Reader, stdout, stderr io.Writer) error {
	a, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	httpCfg := mcp.HTTPConfig{Token: cfg.Token, AllowOrigins: splitList(cfg.AllowOrigin), Health: a.healthHandler(), Metrics: a.metrics.handler()}
	if cfg.Transport == "http" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
		if cfg.Demo {
			printDemo(stderr, cfg, ln.Addr().String())
		}
		log.Info().Str("listen", ln.Addr().String()).Bool("token", cfg.Token != "").Msg("serving MCP over Streamable HTTP at /mcp (legacy SSE at /sse)")
		return serveHTTP(ctx, ln, a.server.HTTPHandler(httpCfg), log)
	}
	if cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("listen %s: %w", cfg.MetricsListen, err)
		}
		log.Info().Str("listen", ln.Addr().String()).Msg("serving /healthz and /metrics")
		go func() { _ = serveHTTP(ctx, ln, mcp.OpsHandler(httpCfg), log) }()
	}
	if cfg.Demo {
		printDemo(stderr, cfg, "")
	}
	log.Info().Str("mqtt", cfg.MQTTURL).Msg("serving MCP over stdio")
	stdio := mcpserver.NewStdioServer(a.server.MCPServer())
	stdio.SetErrorLogger(stdLogger(log))
	err = stdio.Listen(ctx, stdin, stdout)
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, io.EOF)) {
		return nil
	}
	return err
}

func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log zerolog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

func printDemo(w io.Writer, cfg *config, addr string) {
	fmt.Fprintf(w, "\nz2m-mcp demo: embedded MQTT broker at %s with a simulated Zigbee2MQTT home.\n", cfg.MQTTURL)
	if addr != "" {
		fmt.Fprintf(w, "MCP (Streamable HTTP): http://%s/mcp", addr)
		if cfg.Token != "" {
			fmt.Fprint(w, "  (Authorization: Bearer <your --token>)")
		}
		fmt.Fprintf(w, "\nTry: npx @modelcontextprotocol/inspector --cli http://%s/mcp --transport http --method tools/list\n\n", addr)
		return
	}
	fmt.Fprint(w, "MCP over stdio: connect an MCP client to this process's stdin/stdout, e.g.\n"+
		"  npx @modelcontextprotocol/inspector --cli go run ./cmd/z2m-mcp --demo --method tools/list\n"+
		"or run `go run ./cmd/z2m-mcp --demo --transport http` for an HTTP endpoint.\n\n")
}

// clipBytes returns at most n bytes of b as a string, marking a cut.
func clipBytes(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…(" + strconv.Itoa(len(b)) + " bytes)"
}
