package mqtt

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Defaults applied by [New] to zero fields of [Config].
const (
	DefaultURL                 = "tcp://127.0.0.1:1883"
	DefaultKeepAlive           = 30 * time.Second
	DefaultConnectTimeout      = 10 * time.Second
	DefaultQoS            byte = 1
	DefaultMaxReconnect        = 10 * time.Second
	// DefaultClientIDPrefix is followed by 8 random hex characters, so two
	// servers (say Claude Desktop and VS Code each starting one) never knock
	// each other off the broker.
	DefaultClientIDPrefix = "z2m-mcp-"
)

// schemes maps the URL schemes users may write to the scheme paho dials.
var schemes = map[string]string{
	"tcp":   "tcp",
	"mqtt":  "tcp",
	"ssl":   "ssl",
	"mqtts": "ssl",
	"ws":    "ws",
	"wss":   "wss",
}

const validSchemes = "tcp://, mqtt://, ssl://, mqtts://, ws://, wss://"

// Message is one MQTT application message, received or to be sent (as a
// last will).
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Config configures a [Client]. The zero value connects to
// tcp://127.0.0.1:1883 anonymously at QoS 1.
type Config struct {
	// URL of the broker: tcp:// or mqtt:// (plain TCP), ssl:// or mqtts://
	// (TLS), ws:// or wss:// (WebSocket). Without a port, 1883 (tcp), 8883
	// (TLS), 80 (ws) or 443 (wss) is used. Credentials in the URL
	// (tcp://user:pass@host) are used when Username is empty.
	// Default tcp://127.0.0.1:1883.
	URL string
	// Username and Password authenticate to the broker. The password is
	// never logged.
	Username, Password string
	// CAFile is a PEM bundle added to the system roots for verifying the
	// broker. CertFile and KeyFile are a PEM client certificate and its key
	// for mutual TLS; they must be given together. TLS settings require a
	// TLS scheme (ssl, mqtts, wss).
	CAFile, CertFile, KeyFile string
	// InsecureSkipVerify disables verification of the broker's certificate.
	// For tests only.
	InsecureSkipVerify bool
	// ClientID identifies the session. Default "z2m-mcp-" plus 8 random hex
	// characters.
	ClientID string
	// KeepAlive is the MQTT keep-alive interval. Default 30s.
	KeepAlive time.Duration
	// ConnectTimeout bounds each wait on the broker: dialling and the
	// CONNECT handshake, and each publish or subscribe acknowledgement.
	// Default 10s.
	ConnectTimeout time.Duration
	// QoS is used by Publish and by callers of Subscribe that want the
	// default; 0, 1 or 2. Default 1 (a zero value means the default: QoS 0
	// can still be used per call with PublishQoS and Subscribe).
	QoS byte
	// Will is an optional last will, published by the broker when the
	// connection dies without a clean disconnect.
	Will *Message
	// CleanSession is accepted for completeness; the client always asks for
	// a clean session, so nothing published while offline is replayed
	// later and each (re)connect subscribes afresh.
	CleanSession bool
	// MaxReconnectInterval caps the exponential backoff between reconnect
	// attempts (the first retry comes after about 200ms). Default 10s.
	MaxReconnectInterval time.Duration
	// Logger receives lifecycle events at info and traffic at debug; the
	// client tags it with component=mqtt. The zero value logs nothing.
	Logger zerolog.Logger
}

// withDefaults returns c with zero fields filled in.
func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientIDPrefix + randomHex(4)
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.QoS == 0 {
		c.QoS = DefaultQoS
	}
	if c.MaxReconnectInterval == 0 {
		c.MaxReconnectInterval = DefaultMaxReconnect
	}
	return c
}

// Validate checks the configuration after applying defaults and returns an
// error naming the offending field. It reads the TLS files, so a missing or
// unparsable CA, certificate or key is reported here.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, _, err := c.brokerURL(); err != nil {
		return err
	}
	if c.QoS > 2 {
		return fmt.Errorf("mqtt: QoS %d is invalid: use 0, 1 or 2", c.QoS)
	}
	if c.KeepAlive < 0 {
		return fmt.Errorf("mqtt: KeepAlive %s is negative", c.KeepAlive)
	}
	if c.KeepAlive > 0 && c.KeepAlive < time.Second {
		return fmt.Errorf("mqtt: KeepAlive %s is shorter than one second", c.KeepAlive)
	}
	if c.ConnectTimeout < 0 {
		return fmt.Errorf("mqtt: ConnectTimeout %s is negative", c.ConnectTimeout)
	}
	if c.MaxReconnectInterval < 0 {
		return fmt.Errorf("mqtt: MaxReconnectInterval %s is negative", c.MaxReconnectInterval)
	}
	if strings.ContainsAny(c.ClientID, "\x00") || len(c.ClientID) > 65535 {
		return fmt.Errorf("mqtt: ClientID %q is invalid", c.ClientID)
	}
	if c.Password != "" && c.Username == "" {
		if u, err := url.Parse(c.URL); err == nil && (u.User == nil || u.User.Username() == "") {
			return errors.New("mqtt: Password is set but Username is empty")
		}
	}
	if c.Will != nil {
		if err := ValidTopicName(c.Will.Topic); err != nil {
			return fmt.Errorf("mqtt: Will.Topic: %w", err)
		}
		if c.Will.QoS > 2 {
			return fmt.Errorf("mqtt: Will.QoS %d is invalid: use 0, 1 or 2", c.Will.QoS)
		}
	}
	if _, err := c.tlsConfig(); err != nil {
		return err
	}
	return nil
}

// brokerURL parses c.URL and returns the URL paho should dial (scheme
// normalised, port filled in, credentials removed) and the user info found
// in it, if any.
func (c Config) brokerURL() (*url.URL, *url.Userinfo, error) {
	raw := c.URL
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password included: say why without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, fmt.Errorf("mqtt: URL %q cannot be parsed: %v", redactRaw(raw), err)
	}
	if u.Scheme == "" || u.Host == "" {
		return nil, nil, fmt.Errorf("mqtt: URL %q needs a scheme and a host, e.g. %s (valid schemes: %s)", redactURL(u), DefaultURL, validSchemes)
	}
	scheme, ok := schemes[strings.ToLower(u.Scheme)]
	if !ok {
		return nil, nil, fmt.Errorf("mqtt: URL scheme %q is not supported: use %s", u.Scheme, validSchemes)
	}
	out := *u
	out.Scheme = scheme
	user := out.User
	out.User = nil
	if out.Port() == "" {
		port := map[string]string{"tcp": "1883", "ssl": "8883", "ws": "80", "wss": "443"}[scheme]
		out.Host = net.JoinHostPort(out.Hostname(), port)
	}
	if out.Hostname() == "" {
		return nil, nil, fmt.Errorf("mqtt: URL %q has no host name", redactURL(u))
	}
	if scheme == "tcp" || scheme == "ssl" {
		if out.Path != "" && out.Path != "/" {
			return nil, nil, fmt.Errorf("mqtt: URL %q: a path is only meaningful for ws:// and wss://", redactURL(u))
		}
		out.Path = ""
	}
	return &out, user, nil
}

// isTLS reports whether scheme (as normalised by brokerURL) uses TLS.
func isTLS(scheme string) bool { return scheme == "ssl" || scheme == "wss" }

// tlsConfig builds the TLS configuration, or returns nil for plain schemes.
func (c Config) tlsConfig() (*tls.Config, error) {
	u, _, err := c.brokerURL()
	if err != nil {
		return nil, err
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		if c.CertFile != "" {
			return nil, errors.New("mqtt: CertFile is set but KeyFile is empty: a client certificate needs its key")
		}
		return nil, errors.New("mqtt: KeyFile is set but CertFile is empty: a client key needs its certificate")
	}
	if !isTLS(u.Scheme) {
		if c.CAFile != "" || c.CertFile != "" || c.InsecureSkipVerify {
			return nil, fmt.Errorf("mqtt: TLS settings (CAFile, CertFile, KeyFile, InsecureSkipVerify) need a TLS URL scheme (ssl://, mqtts:// or wss://), not %s://", u.Scheme)
		}
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         u.Hostname(),
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // explicit user choice, documented as test-only
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: CAFile: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt: CAFile %s: no PEM certificates found", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: CertFile/KeyFile: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// redactURL prints u with any password replaced by "xxxxx".
func redactURL(u *url.URL) string { return u.Redacted() }

// redactRaw hides the password of a URL that does not parse.
func redactRaw(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return raw
	}
	return scheme + "://" + user + ":xxxxx@" + rest[at+1:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
