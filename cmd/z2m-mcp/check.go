package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

// flagHelp is returned by loadConfig for --help.
var flagHelp = flag.ErrHelp

// stdLogger adapts zerolog for libraries that want a *log.Logger.
func stdLogger(l zerolog.Logger) *stdlog.Logger {
	return stdlog.New(zerologWriter{l}, "", 0)
}

type zerologWriter struct{ l zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.l.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// runCheck connects, waits for the bridge's retained topics and reports. It
// exits non-zero when the broker cannot be reached, the bridge is offline or
// sent no devices. It is the container healthcheck too.
func runCheck(ctx context.Context, cfg *config, log zerolog.Logger, out io.Writer) int {
	cfg.Transport = "stdio"
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	quiet := log.Level(zerolog.WarnLevel)
	a, err := start(ctx, cfg, quiet)
	if err != nil {
		fmt.Fprintf(out, "FAIL  setup: %v\n", err)
		return 1
	}
	defer a.close()
	problems := 0
	// Wait for the connection, then for bridge/state and bridge/devices.
	_, err = a.model.WaitSnapshot(ctx, func(s *devices.Snapshot) bool {
		return a.model.Connected() && s.Bridge.State != "" && s.Bridge.DevicesReceived
	})
	if !a.model.Connected() {
		fmt.Fprintf(out, "FAIL  broker %s: not reachable (%v)\n", redact(cfg.MQTTURL), err)
		return 1
	}
	fmt.Fprintf(out, "ok    broker %s connected\n", redact(cfg.MQTTURL))
	settle(ctx, a.model, 2*time.Second)
	st := a.server.BridgeStatus()
	switch {
	case st.State == "unknown":
		fmt.Fprintf(out, "FAIL  bridge: no %s/bridge/state on the broker (is Zigbee2MQTT running with this base topic?)\n", cfg.BaseTopic)
		problems++
	case !st.Online:
		fmt.Fprintf(out, "FAIL  bridge: Zigbee2MQTT is offline\n")
		problems++
	default:
		fmt.Fprintf(out, "ok    bridge online, Zigbee2MQTT %s\n", orDash(st.Version))
	}
	if !st.DevicesReceived {
		fmt.Fprintf(out, "FAIL  devices: no bridge/devices received\n")
		problems++
	} else {
		fmt.Fprintf(out, "ok    %d devices, %d groups\n", st.Devices, st.Groups)
	}
	if len(st.Offline) > 0 {
		fmt.Fprintf(out, "warn  offline devices: %s\n", strings.Join(st.Offline, ", "))
	}
	if len(st.Unsupported) > 0 {
		fmt.Fprintf(out, "warn  unsupported devices: %s\n", strings.Join(st.Unsupported, ", "))
	}
	if !st.AvailabilityOn {
		fmt.Fprintf(out, "note  Zigbee2MQTT availability is off: offline devices cannot be known (enable availability in its configuration.yaml)\n")
	}
	if problems > 0 {
		return 1
	}
	return 0
}

// settle waits, at most d, for the retained messages that follow
// bridge/devices: bridge/info and, when availability is on, every device's
// availability (otherwise offline devices could go unreported).
func settle(ctx context.Context, m *devices.Model, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	changed := make(chan struct{}, 1)
	stop := m.Subscribe(func(devices.Change) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer stop()
	done := func() bool {
		s := m.Snapshot()
		if !s.Bridge.InfoReceived {
			return false
		}
		if !s.Bridge.AvailabilityOn {
			return true
		}
		for _, dev := range s.Devices() {
			if dev.Type != "Coordinator" && m.Availability(dev.IEEEAddress) == devices.AvailabilityUnknown {
				return false
			}
		}
		return true
	}
	for !done() {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// redact hides a password embedded in a broker URL.
func redact(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "***@" + u[i+1:]
		}
	}
	return u
}
