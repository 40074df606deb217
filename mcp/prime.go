package mcp

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

// Zigbee2MQTT does not retain device state by default, so after a start the
// server knows a device's state only once it reports. When a tool needs a
// state never seen, primeStates asks for it once: a /get of the readable
// (access bit 4) properties of the device's specific exposes, mains-powered
// devices only (a sleepy device would not answer), a few at a time. A
// read-only server never asks.

const (
	primeParallel = 4
	primeWait     = 1500 * time.Millisecond
)

type primer struct {
	mu    sync.Mutex
	asked map[string]bool
}

// readableProps returns the properties a /get may read: those of specific
// exposes (light, switch, climate, cover, lock, fan) with the GET bit.
func readableProps(d *devices.Device) []string {
	var out []string
	for _, e := range d.Exposes() {
		if !e.IsSpecific() {
			continue
		}
		for _, f := range e.Features {
			if f.Can(devices.AccessGet) && f.Property != "" {
				out = append(out, f.Property)
			}
		}
	}
	return out
}

// primeStates requests the state of never-seen, mains-powered devices and
// waits (bounded) for their reports. Each device is asked at most once.
func (s *Server) primeStates(ctx context.Context, devs []*devices.Device) {
	if s.policy.ReadOnly {
		return // a read-only server publishes nothing, /get included
	}
	var todo []*devices.Device
	s.prime.mu.Lock()
	if s.prime.asked == nil {
		s.prime.asked = map[string]bool{}
	}
	for _, d := range devs {
		if d.Sleepy() || s.prime.asked[d.IEEEAddress] || s.model.State(d.IEEEAddress) != nil || len(readableProps(d)) == 0 {
			continue
		}
		s.prime.asked[d.IEEEAddress] = true
		todo = append(todo, d)
	}
	s.prime.mu.Unlock()
	if len(todo) == 0 || !s.model.Connected() || !s.model.Snapshot().Bridge.Online() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, primeWait)
	defer cancel()
	sem := make(chan struct{}, primeParallel)
	var wg sync.WaitGroup
	for _, d := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func(d *devices.Device) {
			defer wg.Done()
			defer func() { <-sem }()
			w := s.model.Watch(d.IEEEAddress)
			defer w.Close()
			body := map[string]string{}
			for _, p := range readableProps(d) {
				body[p] = ""
			}
			b, _ := json.Marshal(body)
			if err := s.pub.Publish(ctx, s.model.BaseTopic()+"/"+d.FriendlyName+"/get", b); err != nil {
				return
			}
			for {
				ev, err := w.Next(ctx)
				if err != nil || ev.Kind == devices.EventState || ev.Kind == devices.EventError {
					return
				}
			}
		}(d)
	}
	wg.Wait()
}

// primeUnknown primes the visible devices that match keep.
func (s *Server) primeUnknown(ctx context.Context, snap *devices.Snapshot, keep func(*devices.Device) bool) {
	var devs []*devices.Device
	for _, d := range snap.Devices() {
		if d.Type != "Coordinator" && s.policy.visible(d.FriendlyName) && keep(d) && s.model.State(d.IEEEAddress) == nil {
			devs = append(devs, d)
		}
	}
	s.primeStates(ctx, devs)
}
