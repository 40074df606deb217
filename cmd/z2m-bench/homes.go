package main

import (
	"encoding/json"
	"fmt"

	"github.com/z2m-mcp/z2m-mcp/simulator"
)

// protoLight is the sample home's light the bench copies.
const protoLight = "lounge/ceiling"

// groupName is the bench group of groupSize copied lights.
const (
	groupName = "bench_group"
	groupSize = 10
)

// copyEntry deep-copies a bridge/devices entry.
func copyEntry(d map[string]any) map[string]any {
	raw, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		panic(err)
	}
	return c
}

func findDevice(h *simulator.Home, name string) (map[string]any, error) {
	for _, d := range h.Devices {
		if d["friendly_name"] == name {
			return d, nil
		}
	}
	return nil, fmt.Errorf("sample home has no %s", name)
}

// lightName is the i-th single light; each concurrent caller drives its own.
func lightName(i int) string { return fmt.Sprintf("bench/light_%d", i) }

// benchHome is the sample home plus lights copies of lounge/ceiling named
// bench/light_<i>, and a group bench_group of 10 more copies
// (bench/group_light_<i>).
func benchHome(lights int) (*simulator.Home, error) {
	h := simulator.SampleHome()
	proto, err := findDevice(h, protoLight)
	if err != nil {
		return nil, err
	}
	for i := 0; i < lights; i++ {
		c := copyEntry(proto)
		c["ieee_address"] = fmt.Sprintf("0x00be0000%08x", i)
		c["friendly_name"] = lightName(i)
		h.Devices = append(h.Devices, c)
	}
	members := make([]any, 0, groupSize)
	for i := 0; i < groupSize; i++ {
		c := copyEntry(proto)
		ieee := fmt.Sprintf("0x00be0001%08x", i)
		c["ieee_address"] = ieee
		c["friendly_name"] = fmt.Sprintf("bench/group_light_%d", i)
		h.Devices = append(h.Devices, c)
		members = append(members, map[string]any{"endpoint": 1, "ieee_address": ieee})
	}
	h.Groups = append(h.Groups, map[string]any{
		"friendly_name": groupName,
		"id":            900,
		"members":       members,
		"scenes":        []any{},
	})
	return h, nil
}

// bigHome is a home of n devices plus the coordinator: the
// sample home's devices copied with new IEEE addresses and names
// ("lounge/ceiling_7"), no groups or scenes.
func bigHome(n int) *simulator.Home {
	sample := simulator.SampleHome()
	var coord map[string]any
	var others []map[string]any
	for _, d := range sample.Devices {
		if d["type"] == "Coordinator" {
			coord = d
		} else {
			others = append(others, d)
		}
	}
	h := &simulator.Home{Info: sample.Info}
	if coord != nil {
		h.Devices = append(h.Devices, coord)
	}
	for i := 0; i < n; i++ {
		d := others[i%len(others)]
		c := copyEntry(d)
		c["ieee_address"] = fmt.Sprintf("0x00bf%012x", i)
		c["friendly_name"] = fmt.Sprintf("%s_%d", d["friendly_name"], i/len(others))
		h.Devices = append(h.Devices, c)
	}
	return h
}
