package devices

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// Sentinel errors.
var (
	// ErrNotFound: no device or group by that name.
	ErrNotFound = errors.New("not found")
	// ErrBridgeOffline: Zigbee2MQTT's bridge/state is offline.
	ErrBridgeOffline = errors.New("bridge offline")
	// ErrLinkDown: the MQTT link to the broker dropped.
	ErrLinkDown = errors.New("MQTT link down")
	// ErrRemoved: the device was removed from bridge/devices.
	ErrRemoved = errors.New("device removed")
	// ErrWatcherClosed: the watcher was closed.
	ErrWatcherClosed = errors.New("watcher closed")
)

// EventKind says what an Event carries.
type EventKind int

// Event kinds delivered to watchers.
const (
	EventState        EventKind = iota + 1 // a state message of the entity
	EventAvailability                      // its availability changed
	EventError                             // a bridge/logging error naming it
	EventBridge                            // bridge/state changed (all watchers)
	EventLink                              // MQTT link up/down (all watchers)
	EventRemoved                           // the entity left bridge/devices
	EventRenamed                           // the entity has a new friendly name
)

// Event is one thing that happened to a watched entity.
type Event struct {
	Kind         EventKind
	State        *State       // EventState
	Availability Availability // EventAvailability
	Error        *LogError    // EventError
	BridgeOnline bool         // EventBridge
	Connected    bool         // EventLink
	Name         string       // EventRenamed: the new name
	At           time.Time
}

// LogError is a bridge/logging error about one entity.
type LogError struct {
	// Op is "set" or "get" for publish failures, "" otherwise.
	Op string
	// Key is the command key the error is about, when the message says it.
	Key string
	// Name is the entity's friendly name as the message gives it.
	Name string
	// Reason is Zigbee2MQTT's own text, without its namespace prefix.
	Reason string
}

// ParseLogError extracts the entity from Zigbee2MQTT's command error texts
// (z2m-protocol.md §9.3, §9.4). ok is false for messages about no entity.
func ParseLogError(msg string) (*LogError, bool) {
	msg = stripNamespace(msg)
	// Publish 'set' 'state' to 'hall/lamp' failed: 'Error: ...'
	if rest, ok := strings.CutPrefix(msg, "Publish '"); ok {
		op, rest, ok1 := strings.Cut(rest, "' '")
		key, rest, ok2 := strings.Cut(rest, "' to '")
		i := strings.LastIndex(rest, "' failed")
		if ok1 && ok2 && i >= 0 {
			return &LogError{Op: op, Key: key, Name: rest[:i], Reason: msg}, true
		}
		return nil, false
	}
	// No converter available for 'foo' on 'lounge/ceiling': (1)
	if rest, ok := strings.CutPrefix(msg, "No converter available for '"); ok {
		key, rest, ok1 := strings.Cut(rest, "' on '")
		i := strings.LastIndex(rest, "':")
		if ok1 && i >= 0 {
			return &LogError{Op: "set", Key: key, Name: rest[:i], Reason: msg}, true
		}
		return nil, false
	}
	for _, p := range []struct{ prefix, suffix string }{
		{"Cannot publish to unsupported device '", "'"},
		{"Entity '", "' is unknown"},
		{"Device '", "' has no endpoint"},
	} {
		if rest, ok := strings.CutPrefix(msg, p.prefix); ok {
			if i := strings.LastIndex(rest, p.suffix); i >= 0 {
				return &LogError{Name: rest[:i], Reason: msg}, true
			}
		}
	}
	return nil, false
}

// stripNamespace removes the logger namespace ("z2m: ", "z2m:mqtt: ").
func stripNamespace(msg string) string {
	i := strings.Index(msg, ": ")
	if i <= 0 || i > 24 {
		return msg
	}
	for _, c := range msg[:i] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ':' || c == '-' || c == '_') {
			return msg
		}
	}
	return msg[i+2:]
}

// Watcher receives the events of one entity from the moment it is created,
// so a caller can start watching, publish a command and then never miss the
// answer. It buffers without bound by kind: at most the newest maxQueued
// events are kept.
type Watcher struct {
	m      *Model
	key    string
	mu     sync.Mutex
	q      []Event
	notify chan struct{}
	closed bool
}

const maxQueued = 256

// Watch starts watching the device with that IEEE address or the group key
// (GroupKey). Close the watcher when done.
func (m *Model) Watch(key string) *Watcher {
	w := &Watcher{m: m, key: key, notify: make(chan struct{}, 1)}
	m.mu.Lock()
	set := m.watchers[key]
	if set == nil {
		set = map[*Watcher]struct{}{}
		m.watchers[key] = set
	}
	set[w] = struct{}{}
	m.allWatchers[w] = struct{}{}
	m.mu.Unlock()
	return w
}

func (m *Model) watchersLocked(key string) []*Watcher {
	set := m.watchers[key]
	if len(set) == 0 {
		return nil
	}
	out := make([]*Watcher, 0, len(set))
	for w := range set {
		out = append(out, w)
	}
	return out
}

func (m *Model) allWatchersLocked() []*Watcher {
	out := make([]*Watcher, 0, len(m.allWatchers))
	for w := range m.allWatchers {
		out = append(out, w)
	}
	return out
}

func (w *Watcher) push(ev Event) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if len(w.q) >= maxQueued {
		copy(w.q, w.q[1:])
		w.q = w.q[:len(w.q)-1]
	}
	w.q = append(w.q, ev)
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// Next returns the next event, waiting until one arrives or ctx ends.
func (w *Watcher) Next(ctx context.Context) (Event, error) {
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return Event{}, ErrWatcherClosed
		}
		if len(w.q) > 0 {
			ev := w.q[0]
			w.q = w.q[1:]
			w.mu.Unlock()
			return ev, nil
		}
		w.mu.Unlock()
		select {
		case <-w.notify:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close stops the watcher; it is safe to call more than once.
func (w *Watcher) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.q = nil
	w.mu.Unlock()
	w.m.mu.Lock()
	if set := w.m.watchers[w.key]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(w.m.watchers, w.key)
		}
	}
	delete(w.m.allWatchers, w)
	w.m.mu.Unlock()
}

// WaitState waits for the next state message of the entity (key as in Watch)
// that satisfies pred. Messages that arrived before the call do not count.
func (m *Model) WaitState(ctx context.Context, key string, pred func(*State) bool) (*State, error) {
	w := m.Watch(key)
	defer w.Close()
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			return nil, err
		}
		switch ev.Kind {
		case EventState:
			if pred == nil || pred(ev.State) {
				return ev.State, nil
			}
		case EventRemoved:
			return nil, ErrRemoved
		}
	}
}

// WaitError waits for the next bridge/logging error naming the entity.
func (m *Model) WaitError(ctx context.Context, key string) (*LogError, error) {
	w := m.Watch(key)
	defer w.Close()
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			return nil, err
		}
		if ev.Kind == EventError {
			return ev.Error, nil
		}
	}
}

// WaitAvailability waits until the entity's availability is want. It returns
// at once when it already is.
func (m *Model) WaitAvailability(ctx context.Context, key string, want Availability) error {
	w := m.Watch(key)
	defer w.Close()
	if m.Availability(key) == want {
		return nil
	}
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			return err
		}
		if ev.Kind == EventAvailability && ev.Availability == want {
			return nil
		}
	}
}

// WaitSnapshot waits until pred holds for the inventory (checked now and
// after every inventory or bridge change).
func (m *Model) WaitSnapshot(ctx context.Context, pred func(*Snapshot) bool) (*Snapshot, error) {
	changed := make(chan struct{}, 1)
	cancel := m.Subscribe(func(c Change) {
		if c.Kind == ChangeInventory || c.Kind == ChangeBridge {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	})
	defer cancel()
	for {
		if s := m.Snapshot(); pred(s) {
			return s, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return m.Snapshot(), ctx.Err()
		}
	}
}
