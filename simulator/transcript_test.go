package simulator

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type line struct{ topic, payload string }

func readTranscript(t *testing.T) []line {
	t.Helper()
	f, err := os.Open("testdata/home-transcript.tsv")
	require.NoError(t, err)
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		topic, payload, _ := strings.Cut(sc.Text(), "\t")
		out = append(out, line{topic, payload})
	}
	require.NoError(t, sc.Err())
	return out
}

func isCommand(topic string) bool {
	return strings.HasSuffix(topic, "/set") || strings.HasSuffix(topic, "/get") || strings.Contains(topic, "/bridge/request/")
}

// relevant drops what the simulator deliberately does not imitate: the
// info-level "MQTT publish" mirror, and bridge topics it does not publish.
func relevant(l line) bool {
	switch {
	case strings.HasSuffix(l.topic, "/bridge/definitions"), strings.HasSuffix(l.topic, "/bridge/converters"), strings.HasSuffix(l.topic, "/bridge/extensions"):
		return false
	case strings.HasSuffix(l.topic, "/bridge/logging"):
		return !strings.Contains(l.payload, "z2m:mqtt: MQTT publish")
	}
	return true
}

// fixtureHome builds the fixture home with the transcript's start-up states
// and the stored contents of scene 1 "Movie" (as the recall shows them).
func fixtureHome(t *testing.T, lines []line) *Home {
	t.Helper()
	data, err := os.ReadFile("testdata/home-bridge-devices.json")
	require.NoError(t, err)
	h, err := ParseHome(data)
	require.NoError(t, err)
	gdata, err := os.ReadFile("testdata/home-bridge-groups.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(gdata, &h.Groups))
	names := map[string]bool{}
	for _, d := range h.Devices {
		names[d["friendly_name"].(string)] = true
	}
	h.States = map[string]map[string]any{}
	for _, l := range lines {
		if strings.Contains(l.payload, "Zigbee2MQTT started!") {
			break
		}
		name := strings.TrimPrefix(l.topic, "zigbee2mqtt/")
		if names[name] {
			var st map[string]any
			require.NoError(t, json.Unmarshal([]byte(l.payload), &st))
			h.States[name] = st
		}
	}
	movie := map[string]any{"brightness": 60, "color": map[string]any{"x": 0.5056, "y": 0.4152}, "color_mode": "color_temp", "color_temp": 454, "state": "ON"}
	for _, m := range []struct {
		dev string
		ep  int
	}{{"lounge/ceiling", 1}, {"lounge/reading_lamp", 11}, {"lounge/tv_backlight", 1}} {
		h.Scenes = append(h.Scenes, SceneDef{Device: m.dev, Endpoint: m.ep, ID: 1, GroupID: 1, Name: "Movie", State: movie})
	}
	return h
}

// canonical renders a message for comparison: JSON payloads normalised,
// linkquality ignored, placeholders compared by topic only.
func canonical(topic, payload string) string {
	if strings.HasPrefix(payload, "<") {
		return topic + " <any>"
	}
	var v any
	if payload != "" && json.Unmarshal([]byte(payload), &v) == nil {
		if m, ok := v.(map[string]any); ok {
			delete(m, "linkquality")
		}
		return topic + " " + string(marshal(v))
	}
	return topic + " " + payload
}

func canonicalSet(t *testing.T, got []rec, want []line) ([]string, []string) {
	var g, w []string
	for _, m := range got {
		if m.Topic == "zigbee2mqtt/test/marker" {
			continue
		}
		c := canonical(m.Topic, m.Payload)
		g = append(g, c)
	}
	for _, l := range want {
		w = append(w, canonical(l.topic, l.payload))
	}
	// Placeholder lines match any payload on their topic.
	for i, x := range w {
		if strings.HasSuffix(x, " <any>") {
			topic := strings.TrimSuffix(x, " <any>")
			for j, y := range g {
				if strings.HasPrefix(y, topic+" ") {
					g[j] = x
					break
				}
			}
			_ = i
		}
	}
	sort.Strings(g)
	sort.Strings(w)
	return g, w
}

// TestTranscriptReplay replays every command of the real-shaped transcript
// against the fixture home and checks that the simulator publishes the same
// messages (payloads equal as JSON, linkquality and the order between group
// and member publishes ignored).
func TestTranscriptReplay(t *testing.T) {
	lines := readTranscript(t)
	cfg := fastConfig()
	cfg.Home = fixtureHome(t, lines)
	cfg.Offline = []string{"guest/plug"}

	// Segment the transcript: start-up, then one segment per command.
	type segment struct {
		cmd  *line
		want []line
	}
	var segs []segment
	cur := segment{}
	for i := range lines {
		l := lines[i]
		if isCommand(l.topic) {
			segs = append(segs, cur)
			cur = segment{cmd: &lines[i]}
			continue
		}
		if strings.Contains(l.payload, "Received SIGTERM") {
			break
		}
		if relevant(l) {
			cur.want = append(cur.want, l)
		}
	}
	segs = append(segs, cur)
	require.Greater(t, len(segs), 10)

	out := &recorder{}
	e, err := newCore(cfg, out)
	require.NoError(t, err)
	t.Cleanup(e.close)
	h := &harness{t: t, e: e, out: out}
	e.call(e.startup)

	for i, s := range segs {
		from := 0
		name := "startup"
		if s.cmd != nil {
			name = s.cmd.topic + " " + s.cmd.payload
			from = h.mark()
			h.send(s.cmd.topic, s.cmd.payload)
		}
		require.Eventually(t, func() bool { return out.len()-from >= len(s.want) }, waitFor, tick,
			"segment %d (%s): want %d messages, got %s", i, name, len(s.want), dump(out.since(from)))
		h.settle()
		got, want := canonicalSet(t, out.since(from), s.want)
		t.Logf("segment %d (%s): %d messages", i, name, len(got))
		require.Equal(t, want, got, "segment %d (%s)", i, name)
	}
	_ = time.Second
}
