package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine is what the run ran on.
type Machine struct {
	CPU           string `json:"cpu"`
	Cores         int    `json:"cores"`
	GOMAXPROCS    int    `json:"gomaxprocs"`
	OS            string `json:"os"`
	GoVersion     string `json:"go_version"`
	Broker        string `json:"broker"`
	BrokerVersion string `json:"broker_version,omitempty"`
	BrokerNote    string `json:"broker_note,omitempty"`
	Date          string `json:"date"`
}

func machineInfo(b *broker) Machine {
	return Machine{
		CPU:           cpuModel(),
		Cores:         runtime.NumCPU(),
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		OS:            runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion:     runtime.Version(),
		Broker:        b.Kind,
		BrokerVersion: b.Version,
		BrokerNote:    b.Note,
		Date:          time.Now().UTC().Format("2006-01-02 15:04 UTC"),
	}
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// WriteTable writes the machine lines and the markdown table.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	var s strings.Builder
	fmt.Fprintf(&s, "machine: %s, %d cores (GOMAXPROCS %d), %s, %s\n", m.CPU, m.Cores, m.GOMAXPROCS, m.OS, m.GoVersion)
	broker := m.Broker
	if m.BrokerVersion != "" {
		broker += " (" + m.BrokerVersion + ")"
	}
	if m.BrokerNote != "" {
		broker += " — " + m.BrokerNote
	}
	fmt.Fprintf(&s, "broker: %s on loopback; simulator in-process, zero latency; server at QoS 1\n", broker)
	fmt.Fprintf(&s, "run: %s, took %s; ratio = p50 / raw QoS 1 set→echo p50 (%s)\n\n", m.Date, r.Took, fmtMs(r.RawP50ms))
	s.WriteString("| measure | value | ratio to raw | target | ok? |\n")
	s.WriteString("|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		v := row.Value
		if row.Error != "" {
			v += " — " + clip(row.Error, 120)
		}
		fmt.Fprintf(&s, "| %s | %s | %s | %s | %s |\n", cell(row.Measure), cell(v), cell(row.Ratio), cell(row.Target), cell(row.OK))
	}
	_, err := io.WriteString(w, s.String())
	return err
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func cell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// fmtMs prints milliseconds with three significant digits.
func fmtMs(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.3f ms", ms)
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

func fmtBytes(n int64) string {
	switch {
	case n < 0:
		return "-" + fmtBytes(-n)
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}

// fmtCount prints a rate with thousands separators (1,234,567).
func fmtCount(f float64) string {
	n := int64(f + 0.5)
	s := fmt.Sprint(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
