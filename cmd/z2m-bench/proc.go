package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// process builds z2m-mcp (unless given), reports its size, and runs it
// against the broker with the sample home (idle RSS) and each generated
// home (RSS with n devices).
func (b *bencher) process(ctx context.Context) {
	keys := []string{keyRSSIdle}
	for _, n := range b.cfg.Homes {
		keys = append(keys, fmt.Sprintf("%s%d", keyRSSPrefix, n))
	}
	bin := b.cfg.BinaryPath
	built := "given with --z2m-mcp"
	if bin == "" {
		dir, err := os.MkdirTemp("", "z2m-bench-bin-")
		if err == nil {
			defer os.RemoveAll(dir)
			bin = filepath.Join(dir, "z2m-mcp")
			err = buildServer(ctx, bin)
		}
		if err != nil {
			for _, k := range append(keys, keyBinarySize) {
				b.add(Row{Key: k, Measure: k, Value: "not measured", Error: "build z2m-mcp: " + err.Error()})
			}
			return
		}
		built = `-trimpath -ldflags "-s -w", CGO_ENABLED=0`
	}

	type rssCase struct {
		key, measure, target string
		limit                int64
		size                 int // 0: the sample home
	}
	cases := []rssCase{{keyRSSIdle, fmt.Sprintf("z2m-mcp idle RSS, sample home (%d devices)", len(simulator.SampleHome().Devices)), "< 25 MB", 25 << 20, 0}}
	for i, n := range b.cfg.Homes {
		c := rssCase{key: keys[i+1], measure: fmt.Sprintf("z2m-mcp RSS with %d devices", n), size: n}
		if n == 1000 {
			c.target, c.limit = "< 60 MB", 60<<20
		}
		cases = append(cases, c)
	}
	for i, h := range cases {
		home := simulator.SampleHome()
		if h.size > 0 {
			home = bigHome(h.size)
		}
		row := Row{Key: h.key, Measure: h.measure, Target: h.target}
		rss, hwm, ready, err := b.childRSS(ctx, bin, fmt.Sprintf("z2mbench_rss_%d", i), home)
		if err != nil {
			row.Value, row.Error = "not measured", err.Error()
			if h.limit > 0 {
				row.OK = "no"
			}
		} else {
			row.RSSBytes = rss
			row.Value = fmt.Sprintf("%s (peak %s; ready in %s)", fmtBytes(rss), fmtBytes(hwm), fmtMs(float64(ready)/float64(time.Millisecond)))
			if h.limit > 0 {
				row.OK = okIf(rss < h.limit)
			}
		}
		b.add(row)
	}

	row := Row{Key: keyBinarySize, Measure: fmt.Sprintf("z2m-mcp binary size (%s/%s)", runtime.GOOS, runtime.GOARCH)}
	if fi, err := os.Stat(bin); err != nil {
		row.Value, row.Error = "not measured", err.Error()
	} else {
		row.Bytes = fi.Size()
		row.Value = fmt.Sprintf("%s (%s)", fmtBytes(fi.Size()), built)
	}
	b.add(row)
}

// buildServer builds ./cmd/z2m-mcp of this module into out.
func buildServer(ctx context.Context, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	gomod, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return errors.New("not inside the z2m-mcp module")
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/z2m-mcp")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(msg))
	}
	return nil
}

// childRSS runs a simulator of home under base and z2m-mcp against it; once
// /healthz is ok with the inventory received and Settle has passed it reads
// the child's VmRSS and VmHWM.
func (b *bencher) childRSS(ctx context.Context, bin, base string, home *simulator.Home) (rss, hwm int64, ready time.Duration, err error) {
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	sim, err := startSim(sctx, b.cfg.BrokerURL, base, home)
	cancel()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("simulator: %w", err)
	}
	defer sim.Close()

	port, err := freePort()
	if err != nil {
		return 0, 0, 0, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir, err := os.MkdirTemp("", "z2m-bench-run-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(bin, "--transport", "http", "--listen", addr, "--mqtt-url", b.cfg.BrokerURL,
		"--base-topic", base, "--log-level", "warn", "--log-format", "json")
	cmd.Dir = dir // no stray .env
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "Z2M_MCP_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := t0.Add(b.cfg.ReadyTimeout)
	for {
		if healthy(hc, "http://"+addr+"/healthz") {
			ready = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("z2m-mcp not ready within %s; output: %.300s", b.cfg.ReadyTimeout, output.String())
		}
		select {
		case <-exited:
			return 0, 0, 0, fmt.Errorf("z2m-mcp exited; output: %.300s", output.String())
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	reportAll(sim, home)
	select {
	case <-time.After(b.cfg.Settle):
	case <-ctx.Done():
		return 0, 0, 0, ctx.Err()
	}
	rss, hwm, err = procMem(cmd.Process.Pid)
	return rss, hwm, ready, err
}

func healthy(hc *http.Client, url string) bool {
	resp, err := hc.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		OK              bool `json:"ok"`
		DevicesReceived bool `json:"devices_received"`
	}
	return json.NewDecoder(resp.Body).Decode(&h) == nil && h.OK && h.DevicesReceived
}

// procMem reads VmRSS and VmHWM of pid (Linux).
func procMem(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("RSS needs Linux /proc: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fields := strings.Fields(v) // "12345 kB"
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc status")
	}
	return rss, hwm, sc.Err()
}
