// Command z2m-sim runs the Zigbee2MQTT simulator against an MQTT broker, so
// z2m-mcp (or any Zigbee2MQTT client) can be used without radio hardware.
//
//	z2m-sim --mqtt-url tcp://127.0.0.1:1883 [--base-topic zigbee2mqtt]
//	        [--home sample|FILE] [--latency 30ms] [--offline NAME,..]
//	        [--drop NAME,..] [--unreachable-delay 10s] [--log-level info]
//
// Every flag can also be given as an environment variable: Z2M_SIM_ plus the
// flag name in upper case with '-' replaced by '_' (Z2M_SIM_MQTT_URL, ...).
// Flags win over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/simulator"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "z2m-sim:", err)
		os.Exit(1)
	}
}

type options struct {
	mqttURL, username, password, baseTopic, home, logLevel, offline, drop string
	latency, unreachableDelay                                             time.Duration
}

// parse reads flags, falling back to Z2M_SIM_* environment variables.
func parse(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("z2m-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv("Z2M_SIM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&o.mqttURL, "mqtt-url", env("mqtt-url", "tcp://127.0.0.1:1883"), "MQTT broker URL (tcp://, mqtt://, ssl://, mqtts://, ws://, wss://)")
	fs.StringVar(&o.username, "mqtt-username", env("mqtt-username", ""), "MQTT username")
	fs.StringVar(&o.password, "mqtt-password", env("mqtt-password", ""), "MQTT password")
	fs.StringVar(&o.baseTopic, "base-topic", env("base-topic", simulator.DefaultBaseTopic), "Zigbee2MQTT base topic")
	fs.StringVar(&o.home, "home", env("home", "sample"), "\"sample\" or a JSON file: a bridge/devices array or {\"devices\":[...],\"groups\":[...]}")
	fs.StringVar(&o.offline, "offline", env("offline", ""), "comma-separated devices that are unreachable")
	fs.StringVar(&o.drop, "drop", env("drop", ""), "comma-separated devices that silently ignore commands")
	fs.StringVar(&o.logLevel, "log-level", env("log-level", "info"), "log level: debug, info, warn, error")
	latency := env("latency", "30ms")
	unreachable := env("unreachable-delay", "10s")
	fs.StringVar(&latency, "latency", latency, "device acknowledgement latency (0 for none)")
	fs.StringVar(&unreachable, "unreachable-delay", unreachable, "time until a command to an offline device fails")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.latency, err = time.ParseDuration(latency); err != nil || o.latency < 0 {
		return o, fmt.Errorf("--latency %q: want a duration like 30ms", latency)
	}
	if o.unreachableDelay, err = time.ParseDuration(unreachable); err != nil || o.unreachableDelay <= 0 {
		return o, fmt.Errorf("--unreachable-delay %q: want a positive duration like 10s", unreachable)
	}
	return o, nil
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

func run(args []string, getenv func(string) string, stderr io.Writer) error {
	o, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(o.logLevel)
	if err != nil {
		return fmt.Errorf("--log-level %q: %w", o.logLevel, err)
	}
	noColor := true
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			noColor = false
		}
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly, NoColor: noColor}).Level(level).With().Timestamp().Logger()

	var home *simulator.Home
	if o.home != "" && o.home != "sample" {
		if home, err = simulator.LoadHome(o.home); err != nil {
			return err
		}
	}
	latency := o.latency
	if latency == 0 {
		latency = -1 // the simulator's "none"
	}
	sim, err := simulator.New(simulator.Config{
		MQTTURL:          o.mqttURL,
		Username:         o.username,
		Password:         o.password,
		BaseTopic:        o.baseTopic,
		Home:             home,
		Latency:          latency,
		UnreachableDelay: o.unreachableDelay,
		Offline:          splitList(o.offline),
		Drop:             splitList(o.drop),
		Logger:           log,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = sim.Start(startCtx)
	cancel()
	if err != nil {
		sim.Close()
		return err
	}
	log.Info().Str("broker", o.mqttURL).Str("base_topic", sim.BaseTopic()).Int("devices", len(sim.Devices())).Msg("simulator running")
	<-ctx.Done()
	log.Info().Msg("stopping")
	sim.Close()
	return nil
}
