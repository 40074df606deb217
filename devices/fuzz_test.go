package devices

import (
	"testing"

	"github.com/rs/zerolog"
)

// The fuzz targets feed hostile payloads to every parser the model has. The
// seed corpus lives in testdata/fuzz/<FuzzName>/.

func FuzzBridgeDevices(f *testing.F) {
	f.Add(compact(f, "home-bridge-devices.json"))
	f.Add([]byte(`[{"ieee_address":"0x1","friendly_name":"a/+/#","definition":{"exposes":[{"type":"light","features":[{"features":[{"features":[]}]}]}]}}]`))
	f.Add([]byte(`[{"ieee_address":1,"friendly_name":["x"],"endpoints":{"x":1,"1":{"scenes":"no"}}}]`))
	f.Add([]byte(`{"not":"an array"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m := New(Options{Logger: zerolog.Nop()})
		m.HandleMessage("zigbee2mqtt/bridge/devices", payload)
		s := m.Snapshot()
		for _, d := range s.Devices() {
			_ = d.Kind()
			_ = d.Scenes()
			m.HandleMessage("zigbee2mqtt/"+d.FriendlyName, []byte(`{"state":"ON"}`))
		}
	})
}

func FuzzBridgeGroups(f *testing.F) {
	f.Add(compact(f, "home-bridge-groups.json"))
	f.Add([]byte(`[{"id":"x","members":[1,{"ieee_address":null}],"scenes":[{"id":"1"}]}]`))
	f.Add([]byte(`[{"friendly_name":"g#","members":{}}]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m := New(Options{Logger: zerolog.Nop()})
		m.HandleMessage("zigbee2mqtt/bridge/devices", compact(t, "home-bridge-devices.json"))
		m.HandleMessage("zigbee2mqtt/bridge/groups", payload)
		s := m.Snapshot()
		for _, g := range s.Groups() {
			_ = s.Members(g)
		}
	})
}

func FuzzStateMessage(f *testing.F) {
	f.Add("lounge/ceiling", []byte(`{"brightness":128,"color":{"x":0.3,"y":0.4},"state":"ON"}`))
	f.Add("lounge/ceiling/availability", []byte(`offline`))
	f.Add("bridge/logging", []byte(`{"level":"error","message":"z2m: Publish 'set' 'state' to 'lounge/ceiling' failed: ''"}`))
	f.Add("bridge/state", []byte(`{"state":1}`))
	f.Add("bridge/info", []byte(`{"permit_join_end":"x","config":{"availability":true}}`))
	f.Add("lounge/ceiling", []byte(`{"color":{"x":{"y":{"z":[1,2,{"a":null}]}}}}`))
	f.Add("+/#", []byte(`{}`))
	f.Fuzz(func(t *testing.T, rest string, payload []byte) {
		m := loadFixtureModel(t)
		w := m.Watch(m.Snapshot().Device("lounge/ceiling").IEEEAddress)
		defer w.Close()
		m.HandleMessage("zigbee2mqtt/"+rest, payload)
		m.HandleMessage("zigbee2mqtt/"+rest, payload) // merge with itself
		_ = m.RecentLogs()
	})
}
