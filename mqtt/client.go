package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"
)

// Errors returned by [Client].
var (
	// ErrNotConnected is returned by Publish while the client has no open
	// connection to the broker. Nothing is queued.
	ErrNotConnected = errors.New("mqtt: not connected to the broker")
	// ErrClosed is returned by Connect and Publish after Close.
	ErrClosed = errors.New("mqtt: client closed")
	// ErrTimeout is returned when the broker does not answer within
	// Config.ConnectTimeout.
	ErrTimeout = errors.New("mqtt: timed out waiting for the broker")
)

// Handler receives messages for a subscription. Handlers are called one at
// a time, in the order the broker delivered the messages, on paho's
// delivery goroutine: they must not block and must not wait on the Client.
type Handler func(Message)

// Stats are counters kept since the client was created.
type Stats struct {
	MessagesIn       uint64 // messages delivered to handlers
	MessagesOut      uint64 // publishes acknowledged (or sent, at QoS 0)
	Reconnects       uint64 // successful connects after the first
	ConnectionLosses uint64 // connections lost unexpectedly
}

type subscription struct {
	filter string
	qos    byte
	h      Handler
}

// Client is a connection to one MQTT broker that reconnects by itself and
// renews its subscriptions on every connect. It is safe for concurrent use.
type Client struct {
	cfg    Config
	url    *url.URL
	log    zerolog.Logger
	pc     paho.Client
	closed chan struct{}

	mu        sync.Mutex
	subs      []subscription // in the order of first Subscribe
	online    bool           // OnConnect seen and no loss since
	connected bool           // a first Connect succeeded
	everUp    bool           // onConnect has run before
	isClosed  bool
	listeners []func(connected bool)
	conn      net.Conn // current network connection (see dropConnectionForTest)
	wg        sync.WaitGroup

	in, out, reconnects, losses atomic.Uint64
}

// New validates cfg, applies its defaults and returns a client that is not
// yet connected.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	u, user, err := cfg.brokerURL()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" && user != nil {
		cfg.Username = user.Username()
		cfg.Password, _ = user.Password()
	}
	c := &Client{
		cfg:    cfg,
		url:    u,
		log:    cfg.Logger.With().Str("component", "mqtt").Logger(),
		closed: make(chan struct{}),
	}

	opts := paho.NewClientOptions().
		AddBroker(u.String()).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetKeepAlive(cfg.KeepAlive).
		SetPingTimeout(cfg.ConnectTimeout).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetWriteTimeout(cfg.ConnectTimeout).
		// A clean session and no resumption: a publish that could not be
		// sent is an error now, never a command replayed minutes later.
		SetCleanSession(true).
		SetResumeSubs(false).
		// Ordered delivery: state updates must apply in order.
		SetOrderMatters(true).
		// Reconnecting is done here (reconnectLoop) so the first retry is
		// fast; paho's own loop starts at one second.
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(c.onConnectionLost).
		SetCustomOpenConnectionFn(c.openConnection)
	if tlsCfg != nil {
		opts.SetTLSConfig(tlsCfg)
	}
	if cfg.Will != nil {
		opts.SetBinaryWill(cfg.Will.Topic, cfg.Will.Payload, cfg.Will.QoS, cfg.Will.Retained)
	}
	c.pc = paho.NewClient(opts)
	return c, nil
}

// openConnection dials the broker like paho's default does (without its
// proxy support) and remembers the connection, so tests can cut it.
func (c *Client) openConnection(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
	var (
		conn net.Conn
		err  error
	)
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	switch u.Scheme {
	case "tcp":
		conn, err = d.Dial("tcp", u.Host)
	case "ssl":
		conn, err = tls.DialWithDialer(d, "tcp", u.Host, o.TLSConfig)
	case "ws", "wss":
		var tlsCfg *tls.Config
		if u.Scheme == "wss" {
			tlsCfg = o.TLSConfig
		}
		conn, err = paho.NewWebsocket(u.String(), tlsCfg, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	default:
		err = fmt.Errorf("mqtt: unsupported scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	return conn, nil
}

// Subscribe registers h for messages matching filter at the given QoS. The
// subscription is remembered and renewed on every (re)connect, so the
// broker re-delivers retained messages after a reconnect. It may be called
// before or after Connect; errors (a refused or unacknowledged subscribe)
// are logged, and the subscription is retried on the next reconnect.
// Subscribing to the same filter again replaces its QoS and handler.
func (c *Client) Subscribe(filter string, qos byte, h Handler) {
	if qos > 2 {
		c.log.Error().Str("topic", filter).Uint8("qos", qos).Msg("subscribe: invalid QoS, using 2")
		qos = 2
	}
	s := subscription{filter: filter, qos: qos, h: h}
	c.mu.Lock()
	replaced := false
	for i := range c.subs {
		if c.subs[i].filter == filter {
			c.subs[i] = s
			replaced = true
		}
	}
	if !replaced {
		c.subs = append(c.subs, s)
	}
	// When online, OnConnect has already taken its snapshot of c.subs, so
	// this filter is subscribed here and exactly once.
	online := c.online && !c.isClosed
	if online {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if online {
		go func() {
			defer c.wg.Done()
			c.subscribe(s)
		}()
	}
}

// subscribe sends one SUBSCRIBE and waits, bounded, for the SUBACK.
func (c *Client) subscribe(s subscription) {
	t := c.pc.Subscribe(s.filter, s.qos, func(_ paho.Client, m paho.Message) {
		c.in.Add(1)
		s.h(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retained: m.Retained()})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := c.wait(ctx, t); err != nil {
		c.log.Warn().Err(err).Str("topic", s.filter).Msg("subscribe failed")
		return
	}
	if st, ok := t.(*paho.SubscribeToken); ok {
		for _, code := range st.Result() {
			if code == 0x80 {
				c.log.Warn().Str("topic", s.filter).Msg("subscribe refused by the broker")
				return
			}
		}
	}
	c.log.Debug().Str("topic", s.filter).Uint8("qos", s.qos).Msg("subscribed")
}

// Connect opens the first connection, bounded by ctx and
// Config.ConnectTimeout. It returns an error if the broker cannot be
// reached or refuses the connection; the caller may call Connect again.
// After a successful Connect the client reconnects by itself, with
// exponential backoff, until Close.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.connected {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()

	c.log.Info().Str("url", c.url.Redacted()).Str("client_id", c.cfg.ClientID).Msg("connecting")
	if err := c.wait(ctx, c.pc.Connect()); err != nil {
		if errors.Is(err, ErrTimeout) || ctx.Err() != nil {
			// Abandon the attempt still under way so a retry can start.
			c.pc.Disconnect(0)
		}
		return fmt.Errorf("mqtt: connect to %s: %w", c.url.Redacted(), err)
	}
	c.mu.Lock()
	c.connected = true
	c.mu.Unlock()
	return nil
}

// wait waits for t, bounded by ctx, Config.ConnectTimeout and Close.
func (c *Client) wait(ctx context.Context, t paho.Token) error {
	timer := time.NewTimer(c.cfg.ConnectTimeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return ErrTimeout
	case <-c.closed:
		return ErrClosed
	}
}

// onConnect runs on every successful (re)connect, on its own goroutine.
func (c *Client) onConnect(_ paho.Client) {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		go c.pc.Disconnect(0) // a reconnect raced with Close
		return
	}
	first := !c.everUp
	c.everUp = true
	c.connected = true
	c.online = true
	subs := append([]subscription(nil), c.subs...)
	c.wg.Add(1)
	c.mu.Unlock()

	if first {
		c.log.Info().Str("url", c.url.Redacted()).Str("client_id", c.cfg.ClientID).Msg("connected")
	} else {
		c.reconnects.Add(1)
		c.log.Info().Str("url", c.url.Redacted()).Msg("reconnected")
	}
	// Subscribing waits for SUBACKs, which paho delivers on goroutines this
	// handler must not hold up.
	go func() {
		defer c.wg.Done()
		for _, s := range subs {
			c.subscribe(s)
		}
	}()
	c.notify(true)
}

// onConnectionLost runs when an established connection dies.
func (c *Client) onConnectionLost(_ paho.Client, err error) {
	c.mu.Lock()
	c.online = false
	closed := c.isClosed
	if !closed {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if closed {
		return
	}
	c.losses.Add(1)
	c.log.Info().Err(err).Str("url", c.url.Redacted()).Msg("connection lost; reconnecting")
	c.notify(false)
	go func() {
		defer c.wg.Done()
		c.reconnectLoop()
	}()
}

// reconnectLoop connects again, first after about 200ms, then with the
// delay doubling (with jitter) up to Config.MaxReconnectInterval.
func (c *Client) reconnectLoop() {
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		d := delay/2 + rand.N(delay/2+1) // jitter: spread clients that lost the same broker
		timer := time.NewTimer(d)
		select {
		case <-c.closed:
			timer.Stop()
			return
		case <-timer.C:
		}
		err := c.wait(context.Background(), c.pc.Connect())
		if err == nil {
			return // onConnect takes over
		}
		if errors.Is(err, ErrClosed) {
			return
		}
		c.log.Debug().Err(err).Int("attempt", attempt).Msg("reconnect failed")
		if attempt == 1 || attempt%10 == 0 {
			c.log.Info().Err(err).Int("attempt", attempt).Msg("broker still unreachable; retrying")
		}
		if errors.Is(err, ErrTimeout) {
			c.pc.Disconnect(0) // abandon the attempt still under way
		}
		delay = min(delay*2, c.cfg.MaxReconnectInterval)
	}
}

// notify calls the connection listeners, outside any lock.
func (c *Client) notify(connected bool) {
	c.mu.Lock()
	ls := make([]func(bool), len(c.listeners))
	copy(ls, c.listeners)
	c.mu.Unlock()
	for _, f := range ls {
		f(connected)
	}
}

// Publish sends payload to topic at Config.QoS. See PublishQoS.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, retained bool) error {
	return c.PublishQoS(ctx, topic, c.cfg.QoS, retained, payload)
}

// PublishQoS sends payload to topic and, for QoS 1 and 2, waits for the
// broker's acknowledgement, bounded by ctx and Config.ConnectTimeout. While
// disconnected it returns ErrNotConnected at once: nothing is queued.
func (c *Client) PublishQoS(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	if qos > 2 {
		return fmt.Errorf("mqtt: publish %s: QoS %d is invalid: use 0, 1 or 2", topic, qos)
	}
	if err := ValidTopicName(topic); err != nil {
		return fmt.Errorf("mqtt: publish: %w", err)
	}
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !c.pc.IsConnectionOpen() {
		return fmt.Errorf("mqtt: publish %s: %w", topic, ErrNotConnected)
	}
	if err := c.wait(ctx, c.pc.Publish(topic, qos, retained, payload)); err != nil {
		return fmt.Errorf("mqtt: publish %s: %w", topic, err)
	}
	c.out.Add(1)
	if e := c.log.Debug(); e.Enabled() {
		e.Str("topic", topic).Uint8("qos", qos).Bool("retained", retained).
			Str("payload", truncate(payload, 200)).Msg("published")
	}
	return nil
}

// IsConnected reports whether the connection to the broker is open now.
func (c *Client) IsConnected() bool { return c.pc.IsConnectionOpen() }

// OnConnectionChange registers f to be called with true on every connect
// and reconnect and with false on every connection loss. Listeners are
// called in registration order, outside the client's locks, on a paho
// goroutine; they must not block for long.
func (c *Client) OnConnectionChange(f func(connected bool)) {
	c.mu.Lock()
	c.listeners = append(c.listeners, f)
	c.mu.Unlock()
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		MessagesIn:       c.in.Load(),
		MessagesOut:      c.out.Load(),
		Reconnects:       c.reconnects.Load(),
		ConnectionLosses: c.losses.Load(),
	}
}

// Close disconnects cleanly (waiting up to 250ms for work in flight), so
// the broker does not publish the last will, and stops reconnecting. It is
// idempotent.
func (c *Client) Close() {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return
	}
	c.isClosed = true
	c.online = false
	close(c.closed)
	c.mu.Unlock()
	c.wg.Wait() // reconnect loop and subscribers end promptly on c.closed
	c.pc.Disconnect(250)
	c.log.Info().Msg("disconnected")
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
