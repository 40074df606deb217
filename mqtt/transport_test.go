package mqtt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// pki is a throw-away CA with a server certificate for 127.0.0.1/localhost
// and a client certificate, written as PEM files.
type pki struct {
	caFile, certFile, keyFile string // client side
	serverCert                tls.Certificate
	pool                      *x509.CertPool
	otherCAFile               string // a CA that signed nothing here
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	writePEM := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return path
	}
	serial := int64(1)
	mkCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return c, k, der
	}
	ca, caKey, caDER := mkCA("z2m-mcp test CA")
	p.caFile = writePEM("ca.pem", "CERTIFICATE", caDER)
	_, _, otherDER := mkCA("unrelated CA")
	p.otherCAFile = writePEM("other-ca.pem", "CERTIFICATE", otherDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)

	leaf := func(name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		return der, k
	}
	sDER, sKey := leaf("broker", x509.ExtKeyUsageServerAuth)
	sKeyDER, err := x509.MarshalECPrivateKey(sKey)
	require.NoError(t, err)
	p.serverCert, err = tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sKeyDER}))
	require.NoError(t, err)

	cDER, cKey := leaf("z2m-mcp", x509.ExtKeyUsageClientAuth)
	cKeyDER, err := x509.MarshalECPrivateKey(cKey)
	require.NoError(t, err)
	p.certFile = writePEM("client.pem", "CERTIFICATE", cDER)
	p.keyFile = writePEM("client-key.pem", "EC PRIVATE KEY", cKeyDER)
	return p
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// tlsBroker is a mochi broker with a mutual-TLS TCP listener, a plain
// WebSocket listener and a TLS WebSocket listener.
func tlsBroker(t *testing.T, p *pki) (mtls, ws, wss string) {
	t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: quietSlog(os.Stderr)})
	require.NoError(t, srv.AddHook(new(allowAll), nil))
	mutual := &tls.Config{Certificates: []tls.Certificate{p.serverCert}, ClientCAs: p.pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	server := &tls.Config{Certificates: []tls.Certificate{p.serverCert}, MinVersion: tls.VersionTLS12}
	mtls, ws, wss = freeAddr(t), freeAddr(t), freeAddr(t)
	require.NoError(t, srv.AddListener(listeners.NewTCP(listeners.Config{ID: "mtls", Address: mtls, TLSConfig: mutual})))
	require.NoError(t, srv.AddListener(listeners.NewWebsocket(listeners.Config{ID: "ws", Address: ws})))
	require.NoError(t, srv.AddListener(listeners.NewWebsocket(listeners.Config{ID: "wss", Address: wss, TLSConfig: server})))
	require.NoError(t, srv.Serve())
	t.Cleanup(func() { _ = srv.Close() })
	return mtls, ws, wss
}

// roundTrip connects with cfg, subscribes and receives its own publish.
func roundTrip(t *testing.T, cfg Config) error {
	t.Helper()
	cfg.Logger = zerolog.Nop()
	c, err := New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	got := make(chan Message, 1)
	c.Subscribe("z2m-transport/#", 1, func(m Message) {
		select {
		case got <- m:
		default:
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		return err
	}
	// The subscription is made right after the connection: publish until
	// one comes back.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := c.Publish(ctx, "z2m-transport/x", []byte("hello"), false); err != nil {
			return err
		}
		select {
		case m := <-got:
			require.Equal(t, "hello", string(m.Payload))
			return nil
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TestTransports connects for real over every scheme the design names:
// mutual TLS (ssl:// and mqtts://, CA and client certificate), ws:// and
// wss://, and refuses the wrong CA or a missing client certificate.
func TestTransports(t *testing.T) {
	p := newPKI(t)
	mtls, ws, wss := tlsBroker(t, p)
	tlsCfg := Config{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ConnectTimeout: 3 * time.Second}

	for _, scheme := range []string{"ssl", "mqtts"} {
		c := tlsCfg
		c.URL = scheme + "://" + mtls
		require.NoError(t, roundTrip(t, c), scheme)
	}
	c := tlsCfg
	c.URL = "mqtts://localhost:" + mtls[len("127.0.0.1:"):]
	require.NoError(t, roundTrip(t, c), "the server name is checked against the certificate")

	noCert := Config{URL: "ssl://" + mtls, CAFile: p.caFile, ConnectTimeout: 3 * time.Second}
	require.Error(t, roundTrip(t, noCert), "the broker requires a client certificate")
	wrongCA := tlsCfg
	wrongCA.URL, wrongCA.CAFile = "ssl://"+mtls, p.otherCAFile
	require.Error(t, roundTrip(t, wrongCA), "a server certificate from another CA is refused")

	require.NoError(t, roundTrip(t, Config{URL: "ws://" + ws + "/mqtt"}), "ws://")
	require.NoError(t, roundTrip(t, Config{URL: "wss://" + wss + "/mqtt", CAFile: p.caFile}), "wss://")
	require.Error(t, roundTrip(t, Config{URL: "wss://" + wss + "/mqtt", CAFile: p.otherCAFile, ConnectTimeout: 3 * time.Second}), "wss:// with the wrong CA")
}
