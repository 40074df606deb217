package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/mqtt"
)

// Broker kinds, as printed in the table header.
const (
	kindMosquitto = "mosquitto"
	kindEmbedded  = "embedded"
	kindExternal  = "external"
)

// broker is the broker the whole run uses.
type broker struct {
	Kind    string
	URL     string
	Version string // mosquitto's version line, when known
	Note    string // why auto fell back, when it did

	close func()
}

func (b *broker) Close() {
	if b.close != nil {
		b.close()
	}
}

// startBroker starts the broker named by spec: auto, mosquitto, embedded or a URL.
func startBroker(spec string, progress io.Writer) (*broker, error) {
	switch {
	case spec == "mosquitto":
		return startMosquitto()
	case spec == "embedded":
		return startEmbedded()
	case spec == "auto":
		b, err := startMosquitto()
		if err == nil {
			return b, nil
		}
		fmt.Fprintf(progress, "z2m-bench: no mosquitto (%v); using the embedded broker\n", err)
		e, err2 := startEmbedded()
		if err2 != nil {
			return nil, err2
		}
		e.Note = "mosquitto unavailable: " + err.Error()
		return e, nil
	case strings.Contains(spec, "://"):
		return &broker{Kind: kindExternal, URL: spec}, nil
	default:
		return nil, fmt.Errorf("--broker %q: want auto, mosquitto, embedded or a URL", spec)
	}
}

func startEmbedded() (*broker, error) {
	emb, err := mqtt.StartEmbeddedBroker("127.0.0.1:0", zerolog.Nop())
	if err != nil {
		return nil, err
	}
	return &broker{Kind: kindEmbedded, URL: emb.URL(), close: func() { _ = emb.Close() }}, nil
}

func startMosquitto() (*broker, error) {
	bin, err := mqtt.MosquittoBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "z2m-bench-mosquitto-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // the free port may be taken before mosquitto binds it
		port, err := freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		conf := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(conf, []byte(mqtt.MosquittoConfig(strconv.Itoa(port), "")+"log_type error\nlog_type warning\n"), 0o600); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		var output bytes.Buffer
		cmd := exec.Command(bin, "-c", conf)
		cmd.Stdout = &output
		cmd.Stderr = &output
		if err := cmd.Start(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = waitTCP(addr, 10*time.Second, exited); lastErr != nil {
			_ = cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%w; output: %s", lastErr, strings.TrimSpace(output.String()))
			continue
		}
		b := &broker{Kind: kindMosquitto, URL: "tcp://" + addr, Version: mosquittoVersion(bin)}
		b.close = func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			_ = os.RemoveAll(dir)
		}
		return b, nil
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// mosquittoVersion returns e.g. "mosquitto version 2.0.18" from `mosquitto -h`.
func mosquittoVersion(bin string) string {
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until addr accepts a connection, for at most d, or until
// exited (if not nil) is closed.
func waitTCP(addr string, d time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %s: %w", addr, d, err)
		}
		select {
		case <-exited:
			return errors.New("broker process exited during start")
		case <-time.After(25 * time.Millisecond):
		}
	}
}
