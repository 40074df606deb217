package mqtttest

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// containerImage is the Mosquitto image used when Docker answers.
const containerImage = "eclipse-mosquitto:2"

// containerConf is the container's mosquitto.conf. Mosquitto 2 exits
// without an explicit listener. Persistence keeps retained messages across
// Stop and Start.
const containerConf = `listener 1883
allow_anonymous true
set_tcp_nodelay true
persistence true
persistence_location /mosquitto/data/
autosave_interval 1
log_dest stdout
`

// containerHandle wraps the testcontainers container.
type containerHandle struct {
	c *testcontainers.DockerContainer
}

func (h containerHandle) start() error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	return h.c.Start(ctx)
}

func (h containerHandle) stop() error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	timeout := 10 * time.Second
	return h.c.Stop(ctx, &timeout)
}

// startContainer runs Mosquitto in Docker, published on a fixed loopback
// port chosen here so the URL survives Stop and Start.
func startContainer(t testing.TB) (*Broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ctx, cancel := ctxTimeout()
	defer cancel()
	c, err := testcontainers.Run(ctx, containerImage,
		testcontainers.WithLogger(tclog.TestLogger(t)),
		testcontainers.WithExposedPorts("1883/tcp"),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader:            strings.NewReader(containerConf),
			ContainerFilePath: "/mosquitto/config/mosquitto.conf",
			FileMode:          0o644,
		}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{
				network.MustParsePort("1883/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port}},
			}
		}),
		testcontainers.WithWaitStrategy(wait.ForListeningPort("1883/tcp").WithStartupTimeout(startTimeout)),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		return nil, err
	}
	b := &Broker{Kind: KindContainer, t: t, Addr: net.JoinHostPort("127.0.0.1", port), ctr: containerHandle{c: c}, running: true}
	b.URL = "tcp://" + b.Addr
	return b, nil
}

// dockerAnswers pings the Docker engine with a short timeout, so machines
// with a docker client but no engine fall through quickly.
func dockerAnswers() (bool, string) {
	host := os.Getenv("DOCKER_HOST")
	var netw, addr string
	switch {
	case host == "":
		netw, addr = "unix", "/var/run/docker.sock"
		if _, err := os.Stat(addr); err != nil {
			if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" {
				alt := filepath.Join(xdg, "docker.sock")
				if _, err := os.Stat(alt); err == nil {
					addr = alt
				}
			}
		}
	case strings.HasPrefix(host, "unix://"):
		netw, addr = "unix", strings.TrimPrefix(host, "unix://")
	case strings.HasPrefix(host, "tcp://"):
		netw, addr = "tcp", strings.TrimPrefix(host, "tcp://")
	default:
		return false, fmt.Sprintf("DOCKER_HOST=%s is not probed (unix:// or tcp:// only)", host)
	}
	if netw == "unix" {
		if _, err := os.Stat(addr); err != nil {
			return false, "no Docker socket at " + addr
		}
	}
	conn, err := net.DialTimeout(netw, addr, time.Second)
	if err != nil {
		return false, "Docker engine does not answer: " + err.Error()
	}
	defer conn.Close()
	if netw == "tcp" && os.Getenv("DOCKER_TLS_VERIFY") != "" {
		return true, "" // TLS endpoint: an open port is as far as a cheap probe goes
	}
	_ = conn.SetDeadline(time.Now().Add(1500 * time.Millisecond))
	if _, err := conn.Write([]byte("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")); err != nil {
		return false, "Docker ping: " + err.Error()
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return false, "Docker ping: " + err.Error()
	}
	if !strings.Contains(status, " 200 ") {
		return false, "Docker ping: " + strings.TrimSpace(status)
	}
	return true, ""
}
