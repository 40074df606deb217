package simulator

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
)

//go:embed homes/sample.json
var sampleHomeJSON []byte

//go:embed homes/bridge-info.json
var bridgeInfoJSON []byte

// Home is the set of devices and groups a simulator serves.
//
// Devices and Groups hold entries exactly in the shape of Zigbee2MQTT's
// bridge/devices and bridge/groups payloads; they are republished as loaded
// (with scene lists and renames applied), so a home captured from a real
// bridge round-trips. The coordinator entry is added when missing.
type Home struct {
	// Devices are bridge/devices entries, including the coordinator.
	Devices []map[string]any `json:"devices"`
	// Groups are bridge/groups entries.
	Groups []map[string]any `json:"groups,omitempty"`
	// Info optionally replaces the built-in bridge/info template.
	Info map[string]any `json:"info,omitempty"`
	// States optionally gives the initial state per device or group
	// friendly name; devices without one get a state derived from their
	// exposes.
	States map[string]map[string]any `json:"states,omitempty"`
	// Scenes optionally gives stored scene contents. Scenes listed in
	// bridge/devices endpoints or bridge/groups without an entry here are
	// stored with an empty state.
	Scenes []SceneDef `json:"scenes,omitempty"`
}

// SceneDef is one scene stored on a device endpoint.
type SceneDef struct {
	// Device is the friendly name or IEEE address of the device.
	Device string `json:"device"`
	// Endpoint is the endpoint number; 0 means the device's first endpoint.
	Endpoint int `json:"endpoint,omitempty"`
	// ID is the scene ID (0–255).
	ID int `json:"id"`
	// GroupID is the group the scene belongs to; 0 for a device scene.
	GroupID int `json:"group_id,omitempty"`
	// Name is the scene name; empty lists as "Scene <id>".
	Name string `json:"name,omitempty"`
	// State is what a recall publishes (state, brightness, color, ...).
	State map[string]any `json:"state,omitempty"`
}

// LoadHome reads a home from a file holding either a bare bridge/devices
// array or an object {"devices": [...], "groups": [...], "states": {...},
// "scenes": [...], "info": {...}}.
func LoadHome(path string) (*Home, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load home: %w", err)
	}
	h, err := ParseHome(data)
	if err != nil {
		return nil, fmt.Errorf("load home %s: %w", path, err)
	}
	return h, nil
}

// ParseHome parses a home from JSON in the forms LoadHome accepts.
func ParseHome(data []byte) (*Home, error) {
	data = bytes.TrimSpace(data)
	h := &Home{}
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &h.Devices); err != nil {
			return nil, fmt.Errorf("parse devices array: %w", err)
		}
	case len(data) > 0 && data[0] == '{':
		if err := json.Unmarshal(data, h); err != nil {
			return nil, fmt.Errorf("parse home object: %w", err)
		}
	default:
		return nil, fmt.Errorf("home must be a bridge/devices array or an object with \"devices\"")
	}
	if len(h.Devices) == 0 {
		return nil, fmt.Errorf("home has no devices")
	}
	seen := map[string]bool{}
	for i, d := range h.Devices {
		ieee, _ := d["ieee_address"].(string)
		if ieee == "" {
			return nil, fmt.Errorf("device %d has no ieee_address", i)
		}
		if seen[ieee] {
			return nil, fmt.Errorf("duplicate ieee_address %s", ieee)
		}
		seen[ieee] = true
		if name, _ := d["friendly_name"].(string); name == "" {
			d["friendly_name"] = ieee
		}
	}
	return h, nil
}

// SampleHome returns the built-in sample home: about twenty devices taken
// from real Zigbee2MQTT exposes (lights with and without colour and with
// different colour-temperature ranges, a radiator valve, a wall thermostat,
// plugs, a 2-gang switch, a blind, a lock, sensors) and two groups, one with
// a stored scene. Each call returns a fresh copy.
func SampleHome() *Home {
	h, err := ParseHome(sampleHomeJSON)
	if err != nil {
		panic("simulator: embedded sample home is invalid: " + err.Error())
	}
	return h
}

func defaultBridgeInfo() map[string]any {
	var m map[string]any
	if err := json.Unmarshal(bridgeInfoJSON, &m); err != nil {
		panic("simulator: embedded bridge info is invalid: " + err.Error())
	}
	return m
}

func (h *Home) clone() *Home {
	data := marshal(h)
	var c Home
	if err := json.Unmarshal(data, &c); err != nil {
		panic("simulator: cannot copy home: " + err.Error())
	}
	return &c
}
