package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
)

// TestRunProducesEveryRow runs every measure with tiny counts against
// mqtttest's broker and checks the report has every row, filled in. It
// checks shape, not timings. -short skips building and running z2m-mcp.
func TestRunProducesEveryRow(t *testing.T) {
	mb := mqtttest.New(t)
	cfg := DefaultConfig()
	cfg.BrokerURL = mb.URL
	cfg.Duration = 10 * time.Millisecond
	cfg.MinIters, cfg.MaxIters, cfg.Warmup = 3, 50, 1
	cfg.Callers = []int{1, 4}
	cfg.ListDevices = 30
	cfg.Homes = []int{20, 40}
	cfg.Settle = 50 * time.Millisecond
	cfg.ReadyTimeout = 30 * time.Second
	cfg.SkipProcess = testing.Short()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep.Machine = machineInfo(&broker{Kind: mb.Kind, URL: mb.URL})
	var keys []string
	for _, r := range rep.Rows {
		keys = append(keys, r.Key)
		if r.Error != "" || r.Value == "" || strings.HasPrefix(r.Value, "not measured") || strings.HasPrefix(r.Value, "no successful") {
			t.Errorf("row %s (%s): value %q, error %q", r.Key, r.Measure, r.Value, r.Error)
		}
		if r.Latency != nil && r.Latency.N == 0 {
			t.Errorf("row %s: no samples", r.Key)
		}
	}
	if want := ExpectedKeys(cfg); !slices.Equal(keys, want) {
		t.Fatalf("rows\n got %v\nwant %v", keys, want)
	}
	if rep.RawP50ms <= 0 {
		t.Error("no raw round trip to divide by")
	}
	for _, k := range []string{keyRawQoS0, keyConfirmedIn, keyConfirmedHTTP, keyGroup, keyListDevices} {
		if r := rep.Row(k); r.Ratio == "" {
			t.Errorf("row %s has no ratio to raw", k)
		}
	}
	for _, k := range []string{keyConfirmedIn, keyConfirmedHTTP} {
		if r := rep.Row(k); r.OK != "yes" && r.OK != "no" {
			t.Errorf("row %s: ok? is %q", k, r.OK)
		}
	}
	if r := rep.Row(keyListDevices); r.Bytes == 0 || !strings.Contains(r.Value, "30 devices listed") {
		t.Errorf("list_devices row: %+v", r)
	}
	if !cfg.SkipProcess {
		if r := rep.Row(keyRSSIdle); r.RSSBytes == 0 || r.OK == "" {
			t.Errorf("idle RSS row: %+v", r)
		}
		if r := rep.Row(keyBinarySize); r.Bytes == 0 {
			t.Errorf("binary size row: %+v", r)
		}
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(table.String(), "\n| "); n != len(rep.Rows)+1 {
		t.Errorf("table has %d rows, want %d header + rows:\n%s", n, len(rep.Rows)+1, table.String())
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Rows) != len(rep.Rows) {
		t.Errorf("JSON does not round-trip: %v", err)
	}
	t.Logf("\n%s", table.String())
}
