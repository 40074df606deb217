package mqtt

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// EmbeddedBroker is an in-process MQTT broker (mochi-mqtt) listening on TCP.
// It allows every client, keeps retained messages in memory and publishes
// last wills. It serves `z2m-mcp --demo` and is the last-resort broker in
// tests; it is not meant for production.
type EmbeddedBroker struct {
	srv  *mochi.Server
	addr string
	log  zerolog.Logger

	closeOnce sync.Once
	closeErr  error
}

// StartEmbeddedBroker starts a broker listening on addr ("127.0.0.1:0"
// picks a free port; see Addr and URL). Lifecycle events go to logger, with
// component=broker; mochi's own logging goes to stderr at error level only
// (at warn it reports every client that disconnects without DISCONNECT).
func StartEmbeddedBroker(addr string, logger zerolog.Logger) (*EmbeddedBroker, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// Bind here, not in mochi, so a busy port is reported by this call and
	// ":0" is resolved without a window in which another process could take
	// the port.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt: embedded broker: %w", err)
	}

	srv := mochi.New(&mochi.Options{
		InlineClient: true,
		Logger:       quietSlog(os.Stderr),
	})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("mqtt: embedded broker: %w", err)
	}
	tcp := &boundListener{ln: ln}
	if err := srv.AddListener(tcp); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("mqtt: embedded broker listen on %s: %w", ln.Addr(), err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("mqtt: embedded broker: %w", err)
	}
	b := &EmbeddedBroker{
		srv:  srv,
		addr: tcp.Address(),
		log:  logger.With().Str("component", "broker").Logger(),
	}
	b.log.Info().Str("addr", b.addr).Msg("embedded broker started")
	return b, nil
}

// quietSlog routes mochi's slog output to w at error level only.
func quietSlog(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
}

// Addr returns the host:port the broker listens on.
func (b *EmbeddedBroker) Addr() string { return b.addr }

// URL returns the broker's address as tcp://host:port.
func (b *EmbeddedBroker) URL() string { return "tcp://" + b.addr }

// Retained returns a copy of the retained messages the broker holds.
func (b *EmbeddedBroker) Retained() []Message {
	all := b.srv.Topics.Retained.GetAll()
	out := make([]Message, 0, len(all))
	for _, pk := range all {
		out = append(out, Message{
			Topic:    pk.TopicName,
			Payload:  append([]byte(nil), pk.Payload...),
			QoS:      pk.FixedHeader.Qos,
			Retained: true,
		})
	}
	return out
}

// Publish publishes m from inside the broker, as if a client had sent it;
// with m.Retained the broker keeps it for future subscribers. It lets a
// caller seed retained topics (mqtttest restores them after a restart).
func (b *EmbeddedBroker) Publish(m Message) error {
	if err := ValidTopicName(m.Topic); err != nil {
		return fmt.Errorf("mqtt: embedded broker publish: %w", err)
	}
	if m.QoS > 2 {
		return fmt.Errorf("mqtt: embedded broker publish: QoS %d is invalid", m.QoS)
	}
	return b.srv.Publish(m.Topic, m.Payload, m.Retained, m.QoS)
}

// Close disconnects all clients (their wills are not published: the broker
// is going away, not the client) and stops listening. It is idempotent.
func (b *EmbeddedBroker) Close() error {
	b.closeOnce.Do(func() {
		b.closeErr = b.srv.Close()
		if b.closeErr != nil && !errors.Is(b.closeErr, net.ErrClosed) {
			b.log.Warn().Err(b.closeErr).Msg("embedded broker close")
		}
		b.log.Info().Str("addr", b.addr).Msg("embedded broker stopped")
	})
	return b.closeErr
}

// allowAll lets every client connect and use every topic. (mochi's own
// auth.AllowHook package pulls in a YAML dependency we do not need.)
type allowAll struct{ mochi.HookBase }

func (h *allowAll) ID() string { return "allow-all" }

func (h *allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *allowAll) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (h *allowAll) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// boundListener is a mochi TCP listener on an already bound net.Listener.
//
// It also works around a race in mochi: Server.Close waits on a WaitGroup
// to which each new connection adds itself (attachClient), and a connection
// accepted just before Close could Add concurrently with that Wait. Close
// here first waits until every accepted connection has passed that Add,
// which is certain once mochi first reads from the connection.
type boundListener struct {
	ln  net.Listener
	log *slog.Logger

	mu       sync.Mutex
	closed   bool
	starting sync.WaitGroup // accepted connections not yet read by mochi
}

var _ listeners.Listener = (*boundListener)(nil)

func (l *boundListener) ID() string       { return "tcp" }
func (l *boundListener) Address() string  { return l.ln.Addr().String() }
func (l *boundListener) Protocol() string { return "tcp" }

func (l *boundListener) Init(log *slog.Logger) error {
	l.log = log
	return nil
}

func (l *boundListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = conn.Close()
			return
		}
		l.starting.Add(1)
		l.mu.Unlock()
		fc := &firstReadConn{Conn: conn, done: l.starting.Done}
		go func() {
			defer fc.started()
			if err := establish(l.ID(), fc); err != nil {
				l.log.Debug("client connection ended", "error", err)
			}
		}()
	}
}

func (l *boundListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	_ = l.ln.Close()
	l.starting.Wait()
	closeClients(l.ID())
}

// firstReadConn calls done once, on its first Read (or via started).
type firstReadConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *firstReadConn) started() { c.once.Do(c.done) }

func (c *firstReadConn) Read(p []byte) (int, error) {
	c.started()
	return c.Conn.Read(p)
}
