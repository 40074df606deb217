package mcp

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

// fuzzServer is a server over the fixture home whose publisher records every
// topic; the bridge is online and the link up, but nothing answers, so a
// setter that gets past validation times out quickly.
func fuzzServer(tb testing.TB) (*Server, *[]string, *sync.Mutex) {
	m := devices.New(devices.Options{Logger: zerolog.Nop()})
	for _, f := range []struct{ topic, file string }{
		{"zigbee2mqtt/bridge/devices", "home-bridge-devices.json"},
		{"zigbee2mqtt/bridge/groups", "home-bridge-groups.json"},
		{"zigbee2mqtt/bridge/info", "home-bridge-info.json"},
	} {
		b, err := os.ReadFile(filepath.Join("..", "devices", "testdata", f.file))
		if err != nil {
			tb.Fatal(err)
		}
		m.HandleMessage(f.topic, b)
	}
	m.HandleMessage("zigbee2mqtt/bridge/state", []byte(`{"state":"online"}`))
	m.SetConnected(true)
	var mu sync.Mutex
	var sent []string
	pub := devices.PublisherFunc(func(_ context.Context, topic string, _ []byte) error {
		mu.Lock()
		sent = append(sent, topic)
		mu.Unlock()
		return nil
	})
	s := NewServer(m, pub, Config{Logger: zerolog.Nop(), ConfirmTimeout: 20 * time.Millisecond, SleepyTimeout: 20 * time.Millisecond,
		Policy: Policy{AllowLocks: true, AllowUnlock: true, AllowRaw: true}})
	tb.Cleanup(s.Close)
	return s, &sent, &mu
}

// FuzzToolArguments feeds arbitrary JSON arguments to every tool: no panic,
// always a result, and a call that returns isError published nothing to a
// topic containing a wildcard or a control character.
func FuzzToolArguments(f *testing.F) {
	seeds := []struct{ tool, args string }{
		{"set_lights", `{"targets":"lounge/ceiling","state":"on","brightness":50}`},
		{"set_lights", `{"targets":["lounge","all"],"color":"warm white","transition":1.5}`},
		{"set_lights", `{"targets":"lounge/+","brightness":1e308}`},
		{"set_lights", `{"targets":"\u0000","brightness":-0.5}`},
		{"set_climate", `{"targets":"bedroom/trv","temperature":21.3,"unit":"f","mode":"HEAT"}`},
		{"set_switches", `{"targets":"hall/switch","state":"toggle","endpoint":"left"}`},
		{"set_covers", `{"targets":"lounge/blind","position":"50"}`},
		{"set_locks", `{"targets":"all","action":"unlock"}`},
		{"set_device", `{"name":"lounge/ceiling","payload":{"color":{"x":0.3,"y":0.3},"state":"ON"}}`},
		{"recall_scene", `{"scene":"Movie","target":"lounge"}`},
		{"store_scene", `{"scene":"x","target":"lounge","id":300}`},
		{"remove_scene", `{"scene":1.5,"target":"lounge"}`},
		{"list_devices", `{"type":"light","query":"#"}`},
		{"get_device", `{"name":["a","b"]}`},
		{"list_scenes", `{"target":""}`},
		{"bridge_status", `[]`},
		{"set_lights", `"just a string"`},
	}
	for _, s := range seeds {
		f.Add(s.tool, s.args)
	}
	srv, sent, mu := fuzzServer(f)
	tools := map[string]func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error){}
	for _, t := range srv.tools() {
		tools[t.Tool.Name] = t.Handler
	}
	f.Fuzz(func(t *testing.T, tool, args string) {
		h, ok := tools[tool]
		if !ok || !json.Valid([]byte(args)) {
			return
		}
		req := mcpgo.CallToolRequest{}
		req.Params.Name = tool
		req.Params.RawArguments = json.RawMessage(args)
		_ = json.Unmarshal([]byte(args), &req.Params.Arguments)
		mu.Lock()
		before := len(*sent)
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := h(ctx, req)
		if err != nil {
			t.Fatalf("%s: Go error %v (tool failures must be isError results)", tool, err)
		}
		if res == nil {
			t.Fatalf("%s: nil result", tool)
		}
		mu.Lock()
		published := append([]string(nil), (*sent)[before:]...)
		mu.Unlock()
		for _, topic := range published {
			if strings.ContainsAny(topic, "+#") || strings.ContainsFunc(topic, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }) {
				t.Fatalf("%s published to an unsafe topic %q", tool, topic)
			}
		}
	})
}

// FuzzParseColorArg: colour strings through set_lights validation never panic.
func FuzzParseColorArg(f *testing.F) {
	for _, s := range []string{"warm white", "#ff0000", "#F00", "teal", "", "#", "#gggggg", "hot  pink", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := devices.ParseColor(s)
		if err == nil {
			x, y := c.XY()
			if x < 0 || x > 1 || y < 0 || y > 1 {
				t.Fatalf("%q → xy (%v, %v) out of range", s, x, y)
			}
		}
		_ = devices.ValidateLightIntent(devices.LightIntent{Color: s})
	})
}
