// Command z2m-bench measures the whole system: a real broker (its own
// Mosquitto on a free loopback port, or the embedded broker), the simulator
// in-process with zero latency, the z2m-mcp server in-process and over
// Streamable HTTP, and the z2m-mcp binary as a child process for its RSS.
// It prints a markdown table (or JSON) of latencies (p50/p95, each as a
// ratio to the raw MQTT set→echo round trip measured in the same run),
// throughput, memory and binary size, with the targets from the issue.
//
//	go run ./cmd/z2m-bench                     # table, ~1 minute
//	go run ./cmd/z2m-bench --duration 5s --out json
//	go run ./cmd/z2m-bench --broker tcp://127.0.0.1:1883
//
// Everything runs on loopback and every loop is bounded by --duration and a
// hard iteration cap.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("z2m-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokerFlag := fs.String("broker", "auto", "auto (mosquitto if found, else embedded), mosquitto, embedded, or a broker URL (tcp://host:port)")
	duration := fs.Duration("duration", 2*time.Second, "how long each latency or throughput measure runs")
	out := fs.String("out", "table", "output: table (markdown) or json")
	bin := fs.String("z2m-mcp", "", "a built z2m-mcp binary for the RSS rows (default: go build ./cmd/z2m-mcp with -ldflags \"-s -w\")")
	skipProc := fs.Bool("skip-process", false, "skip the rows that build and run the z2m-mcp binary (RSS, binary size)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (this process: server, simulator, clients) to FILE")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the whole run to FILE")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out != "table" && *out != "json" {
		fmt.Fprintf(stderr, "z2m-bench: --out must be table or json, not %q\n", *out)
		return 2
	}
	if *duration <= 0 {
		fmt.Fprintln(stderr, "z2m-bench: --duration must be positive")
		return 2
	}
	progress := stderr
	if *quiet {
		progress = io.Discard
	}

	broker, err := startBroker(*brokerFlag, progress)
	if err != nil {
		fmt.Fprintf(stderr, "z2m-bench: broker: %v\n", err)
		return 1
	}
	defer broker.Close()

	cfg := DefaultConfig()
	cfg.Duration = *duration
	cfg.BrokerURL = broker.URL
	cfg.BinaryPath = *bin
	cfg.SkipProcess = *skipProc
	cfg.Progress = progress

	if *memProfile != "" {
		runtime.MemProfileRate = 4096
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "z2m-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "z2m-bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	rep, err := Run(ctx, cfg)
	if *memProfile != "" {
		if perr := writeHeapProfile(*memProfile); perr != nil {
			fmt.Fprintf(stderr, "z2m-bench: %v\n", perr)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "z2m-bench: %v\n", err)
		return 1
	}
	rep.Machine = machineInfo(broker)
	rep.Took = time.Since(start).Round(time.Second).String()
	switch *out {
	case "json":
		err = rep.WriteJSON(stdout)
	default:
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "z2m-bench: %v\n", err)
		return 1
	}
	return 0
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
