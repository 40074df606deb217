package mqtttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/mqtt"
)

// Environment variables read by [New].
const (
	// EnvBroker names an external broker URL to use instead of starting one.
	EnvBroker = "Z2M_MCP_TEST_BROKER"
	// EnvKind forces one kind of broker: env, container, mosquitto or embedded.
	EnvKind = "Z2M_MCP_TEST_BROKER_KIND"
)

// Kinds of broker, as found in [Broker].Kind.
const (
	KindEnv       = "env"
	KindContainer = "container"
	KindMosquitto = "mosquitto"
	KindEmbedded  = "embedded"
)

// startTimeout bounds waiting for a broker to accept connections.
const startTimeout = 30 * time.Second

// Broker is a running broker for one test.
type Broker struct {
	// URL is the broker's address, e.g. tcp://127.0.0.1:38211. It stays
	// valid across Stop and Start.
	URL string
	// Addr is the host:port part of URL.
	Addr string
	// Kind says which kind of broker this is: "env", "container",
	// "mosquitto" or "embedded".
	Kind string

	t       testing.TB
	mu      sync.Mutex
	running bool

	// mosquitto
	binary, conf string
	proc         *exec.Cmd
	exited       chan struct{}
	output       *syncBuffer
	outputMark   int // length of output when the current process started

	// embedded
	emb      *mqtt.EmbeddedBroker
	retained []mqtt.Message

	// container
	ctr containerHandle
}

// New starts (or names) a broker for t and stops it when t ends.
func New(t testing.TB) *Broker {
	t.Helper()
	forced := strings.TrimSpace(os.Getenv(EnvKind))
	switch forced {
	case "", KindEnv, KindContainer, KindMosquitto, KindEmbedded:
	default:
		t.Fatalf("mqtttest: %s=%q: use %s, %s, %s or %s", EnvKind, forced, KindEnv, KindContainer, KindMosquitto, KindEmbedded)
	}
	want := func(kind string) bool { return forced == "" || forced == kind }
	var skipped []string
	use := func(b *Broker, why string) *Broker {
		msg := fmt.Sprintf("mqtttest: using %s broker at %s", b.Kind, b.URL)
		if why != "" {
			msg += " (" + why + ")"
		}
		if len(skipped) > 0 {
			msg += "; passed over: " + strings.Join(skipped, "; ")
		}
		if forced != "" {
			msg += "; forced by " + EnvKind
		}
		t.Log(msg)
		return b
	}

	if want(KindEnv) {
		if u := os.Getenv(EnvBroker); u != "" {
			host, err := hostPort(u)
			if err != nil {
				t.Fatalf("mqtttest: %s=%q: %v", EnvBroker, u, err)
			}
			return use(&Broker{URL: u, Addr: host, Kind: KindEnv, t: t, running: true}, EnvBroker+" is set")
		}
		skipped = append(skipped, "env: "+EnvBroker+" not set")
	}
	if want(KindContainer) {
		if ok, why := dockerAnswers(); ok {
			b, err := startContainer(t)
			if err == nil {
				return use(b, "Docker answered")
			}
			skipped = append(skipped, "container: "+err.Error())
		} else {
			skipped = append(skipped, "container: "+why)
		}
	}
	if want(KindMosquitto) {
		if bin, err := mqtt.MosquittoBinary(); err == nil {
			b, err := startMosquitto(t, bin)
			if err == nil {
				return use(b, bin)
			}
			skipped = append(skipped, "mosquitto: "+err.Error())
		} else {
			skipped = append(skipped, "mosquitto: "+err.Error())
		}
	}
	if want(KindEmbedded) {
		b, err := startEmbedded(t)
		if err == nil {
			return use(b, "")
		}
		skipped = append(skipped, "embedded: "+err.Error())
	}
	if forced != "" {
		t.Skipf("mqtttest: %s=%s but that broker is unavailable: %s", EnvKind, forced, strings.Join(skipped, "; "))
	}
	t.Fatalf("mqtttest: no broker available: %s", strings.Join(skipped, "; "))
	return nil
}

// Restartable reports whether Stop, Kill and Start work: true for every
// kind except "env".
func (b *Broker) Restartable() bool { return b.Kind != KindEnv }

// Stop stops the broker gracefully: SIGTERM and wait for exit (mosquitto),
// Close (embedded) or stop the container. Clients see the connection drop.
// On an "env" broker it skips the test.
func (b *Broker) Stop() {
	b.t.Helper()
	b.stop(false)
}

// Kill stops the broker abruptly: SIGKILL for mosquitto, so retained
// messages since its last autosave (one second) may be lost. For the other
// kinds it is the same as Stop.
func (b *Broker) Kill() {
	b.t.Helper()
	b.stop(true)
}

// Start starts a stopped broker again on the same host and port, so URL
// stays valid, and waits until it accepts TCP connections. Starting a
// running broker does nothing.
func (b *Broker) Start() {
	b.t.Helper()
	if !b.Restartable() {
		b.t.Skipf("mqtttest: the %s broker cannot be restarted", b.Kind)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return
	}
	var err error
	switch b.Kind {
	case KindMosquitto:
		err = b.startMosquittoProc()
		if err == nil {
			err = b.waitMosquitto()
		}
	case KindEmbedded:
		err = b.startEmbeddedOnce()
	case KindContainer:
		err = b.ctr.start()
	}
	if err == nil {
		err = waitTCP(b.Addr, startTimeout, nil)
	}
	if err != nil {
		b.t.Fatalf("mqtttest: restart %s broker: %v", b.Kind, err)
	}
	b.running = true
}

func (b *Broker) stop(kill bool) {
	b.t.Helper()
	if !b.Restartable() {
		b.t.Skipf("mqtttest: the %s broker cannot be stopped", b.Kind)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		return
	}
	b.running = false
	var err error
	switch b.Kind {
	case KindMosquitto:
		err = b.stopMosquittoProc(kill)
	case KindEmbedded:
		b.retained = b.emb.Retained()
		err = b.emb.Close()
	case KindContainer:
		err = b.ctr.stop()
	}
	if err != nil {
		b.t.Errorf("mqtttest: stop %s broker: %v", b.Kind, err)
	}
}

// ---- embedded ----

func startEmbedded(t testing.TB) (*Broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &Broker{Kind: KindEmbedded, t: t, Addr: net.JoinHostPort("127.0.0.1", port)}
	b.URL = "tcp://" + b.Addr
	if err := b.startEmbeddedOnce(); err != nil {
		return nil, err
	}
	b.running = true
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.running {
			b.running = false
			_ = b.emb.Close()
		}
	})
	return b, nil
}

// startEmbeddedOnce starts the embedded broker on b.Addr and restores the
// retained messages it held when stopped, as a persistent broker would.
func (b *Broker) startEmbeddedOnce() error {
	emb, err := mqtt.StartEmbeddedBroker(b.Addr, zerolog.New(zerolog.NewTestWriter(b.t)).Level(zerolog.WarnLevel))
	if err != nil {
		return err
	}
	for _, m := range b.retained {
		if err := emb.Publish(m); err != nil {
			_ = emb.Close()
			return err
		}
	}
	b.emb = emb
	return nil
}

// ---- mosquitto ----

func startMosquitto(t testing.TB, bin string) (*Broker, error) {
	dir := t.TempDir()
	b := &Broker{Kind: KindMosquitto, t: t, binary: bin, output: new(syncBuffer)}
	var lastErr error
	// The free port may be taken between choosing it and mosquitto binding
	// it; try a few.
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		b.Addr = net.JoinHostPort("127.0.0.1", port)
		b.URL = "tcp://" + b.Addr
		b.conf = filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(b.conf, []byte(mqtt.MosquittoConfig(port, dir)), 0o600); err != nil {
			return nil, err
		}
		if lastErr = b.startMosquittoProc(); lastErr != nil {
			continue
		}
		if lastErr = b.waitMosquitto(); lastErr == nil {
			break
		}
		_ = b.stopMosquittoProc(true)
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w; output:\n%s", lastErr, b.output.String())
	}
	b.running = true
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.running {
			b.running = false
			_ = b.stopMosquittoProc(false)
		}
		if t.Failed() {
			t.Logf("mqtttest: mosquitto output:\n%s", b.output.String())
		}
	})
	return b, nil
}

func (b *Broker) startMosquittoProc() error {
	b.outputMark = b.output.Len()
	cmd := exec.Command(b.binary, "-c", b.conf)
	cmd.Stdout = b.output
	cmd.Stderr = b.output
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	b.proc, b.exited = cmd, exited
	return nil
}

// waitMosquitto waits until this broker's mosquitto says it is running and
// accepts connections. Its own log line matters: a bare TCP connect could
// reach another process that took the port, or connect to itself.
func (b *Broker) waitMosquitto() error {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(b.output.String()[b.outputMark:], " running") {
		if time.Now().After(deadline) {
			return fmt.Errorf("mosquitto did not start within %s", startTimeout)
		}
		select {
		case <-b.exited:
			return errors.New("mosquitto exited during start")
		case <-tick.C:
		}
	}
	return waitTCP(b.Addr, startTimeout, b.exited)
}

func (b *Broker) stopMosquittoProc(kill bool) error {
	if b.proc == nil {
		return nil
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = b.proc.Process.Signal(sig)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		_ = b.proc.Process.Kill()
		<-b.exited
		return errors.New("mosquitto did not exit within 10s of SIGTERM; killed it")
	}
	b.proc = nil
	return nil
}

// ---- helpers ----

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// waitTCP waits until addr accepts a TCP connection, for at most d, or until
// exited (if not nil) is closed.
func waitTCP(addr string, d time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			self := conn.LocalAddr().String() == conn.RemoteAddr().String() // TCP self-connect
			_ = conn.Close()
			if !self {
				return nil
			}
			err = errors.New("connected to itself: nothing listens")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %s: %w", addr, d, err)
		}
		select {
		case <-exited:
			return errors.New("broker process exited during start")
		case <-tick.C:
		}
	}
}

func hostPort(rawURL string) (string, error) {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return "", errors.New("not a URL")
	}
	rest := rawURL[i+3:]
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		rest = rest[:j]
	}
	if k := strings.LastIndex(rest, "@"); k >= 0 {
		rest = rest[k+1:]
	}
	if rest == "" {
		return "", errors.New("no host")
	}
	return rest, nil
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ctxTimeout is a context for one Docker operation.
func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}
