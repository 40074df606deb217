package devices

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkIngestState measures state messages/s into the model (one core).
func BenchmarkIngestState(b *testing.B) {
	m := loadFixtureModel(b)
	names := []string{"lounge/ceiling", "kitchen/coffee_plug", "bedroom/trv", "hall/switch"}
	payloads := make([][]byte, 256)
	for i := range payloads {
		payloads[i] = []byte(fmt.Sprintf(`{"brightness":%d,"color":{"x":0.4573,"y":0.41},"color_mode":"color_temp","color_temp":%d,"linkquality":%d,"power_on_behavior":"off","state":"ON"}`, i%254, 250+i%200, i%255))
	}
	topics := make([]string, len(names))
	for i, n := range names {
		topics[i] = "zigbee2mqtt/" + n
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.HandleMessage(topics[i%len(topics)], payloads[i%len(payloads)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// multiplyDevices builds a bridge/devices payload of n devices by copying the
// fixture with new IEEE addresses and friendly names.
func multiplyDevices(tb testing.TB, n int) []byte {
	var base []map[string]any
	if err := json.Unmarshal(readFixture(tb, "home-bridge-devices.json"), &base); err != nil {
		tb.Fatal(err)
	}
	out := make([]map[string]any, 0, n)
	for i := 0; len(out) < n; i++ {
		for _, d := range base {
			if len(out) == n {
				break
			}
			c := make(map[string]any, len(d))
			for k, v := range d {
				c[k] = v
			}
			c["ieee_address"] = "0x" + fmt.Sprintf("%016x", len(out)+1)
			c["friendly_name"] = "copy" + strconv.Itoa(i) + "/" + d["friendly_name"].(string)
			out = append(out, c)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkIndexDevices measures indexing a 10,000-device bridge/devices.
func BenchmarkIndexDevices(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		payload := multiplyDevices(b, n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				m := New(Options{Logger: zerolog.Nop()})
				m.HandleMessage("zigbee2mqtt/bridge/devices", payload)
				if len(m.Snapshot().Devices()) != n {
					b.Fatal("wrong count")
				}
			}
		})
	}
}
