package mqtt

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// MosquittoBinary finds a mosquitto executable: on PATH, or where Debian,
// /usr/local and Homebrew install it (sbin is often not on PATH).
func MosquittoBinary() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("no mosquitto binary on PATH or in /usr/sbin")
}

// MosquittoConfig is the configuration of a private Mosquitto on a loopback
// port (for tests and benchmarks): anonymous, set_tcp_nodelay (without it
// every QoS 1 hop costs ~40 ms on Linux loopback), logging to stderr, and
// persistence in persistDir when it is set (autosaved every second, so
// retained messages survive a restart).
func MosquittoConfig(port string, persistDir string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "listener %s 127.0.0.1\n", port)
	s.WriteString("allow_anonymous true\n")
	s.WriteString("set_tcp_nodelay true\n")
	if persistDir != "" {
		s.WriteString("persistence true\n")
		fmt.Fprintf(&s, "persistence_location %s/\n", strings.TrimSuffix(persistDir, "/"))
		s.WriteString("autosave_interval 1\n")
	} else {
		s.WriteString("persistence false\n")
	}
	s.WriteString("log_dest stderr\n")
	if os.Geteuid() == 0 {
		// Started as root, mosquitto drops to user mosquitto, which could
		// not write a private directory.
		s.WriteString("user root\n")
	}
	return s.String()
}
