package devices

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
)

// Availability of a device or group as Zigbee2MQTT reports it.
type Availability int

// Availability values. Unknown until an availability message arrives
// (Zigbee2MQTT's availability feature is off by default).
const (
	AvailabilityUnknown Availability = iota
	AvailabilityOnline
	AvailabilityOffline
)

func (a Availability) String() string {
	switch a {
	case AvailabilityOnline:
		return "online"
	case AvailabilityOffline:
		return "offline"
	}
	return "unknown"
}

// State is the merged state of a device or group. A State is never mutated
// once published: every message makes a new one, so it can be shared.
type State struct {
	// Values is the merged state (nested objects such as color merged by key).
	Values map[string]any
	// Message holds only the keys of the message that produced this State.
	Message map[string]any
	// Updated is when the message arrived.
	Updated time.Time
	// Seq increases with every state message of the entity.
	Seq uint64
	// Retained is set when the message came from the broker's retained
	// store (delivered on (re)subscribe), not live from Zigbee2MQTT.
	Retained bool
}

// Options configure a Model. The zero value works (base topic zigbee2mqtt).
type Options struct {
	BaseTopic string
	Logger    zerolog.Logger
	// Rooms maps friendly names to rooms, overriding the first path segment.
	Rooms map[string]string
	// Now is the clock (tests inject one).
	Now func() time.Time
	// MaxPending bounds messages kept for names not yet in bridge/devices.
	MaxPending int
}

// Model is the live model of a Zigbee2MQTT installation, fed by MQTT
// messages through HandleMessage. It is safe for concurrent use.
type Model struct {
	base   string
	prefix string
	log    zerolog.Logger
	now    func() time.Time
	maxPen int

	snap atomic.Pointer[Snapshot]
	// invMu serialises inventory rebuilds (parsing happens outside mu).
	invMu sync.Mutex

	mu           sync.Mutex
	states       map[string]*State
	avail        map[string]Availability
	pendingAvail map[string]Availability // by name, for names not yet known
	pendingState map[string][]byte       // by name, retained states of unknown names
	watchers     map[string]map[*Watcher]struct{}
	allWatchers  map[*Watcher]struct{}
	subs         map[int]func(Change)
	subList      atomic.Pointer[[]func(Change)]
	subSeq       int
	logs         []LogEntry
	events       []BridgeEvent
	requests     map[string]chan Response
	reqSeq       uint64
	connected    bool
	seq          uint64
	msgCount     atomic.Uint64
}

// LogEntry is one bridge/logging message.
type LogEntry struct {
	Level   string    `json:"level"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// BridgeEvent is one bridge/event message.
type BridgeEvent struct {
	Type         string    `json:"type"`
	FriendlyName string    `json:"friendly_name,omitempty"`
	IEEEAddress  string    `json:"ieee_address,omitempty"`
	Status       string    `json:"status,omitempty"`
	At           time.Time `json:"at"`
}

const (
	keepLogs   = 100
	keepEvents = 50
)

// New returns an empty Model.
func New(opts Options) *Model {
	if opts.BaseTopic == "" {
		opts.BaseTopic = "zigbee2mqtt"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 10000
	}
	m := &Model{
		base:         opts.BaseTopic,
		prefix:       opts.BaseTopic + "/",
		log:          opts.Logger.With().Str("component", "devices").Logger(),
		now:          opts.Now,
		maxPen:       opts.MaxPending,
		states:       map[string]*State{},
		avail:        map[string]Availability{},
		pendingAvail: map[string]Availability{},
		pendingState: map[string][]byte{},
		watchers:     map[string]map[*Watcher]struct{}{},
		allWatchers:  map[*Watcher]struct{}{},
		subs:         map[int]func(Change){},
		requests:     map[string]chan Response{},
	}
	s := emptySnapshot()
	s.rooms = opts.Rooms
	m.snap.Store(s)
	return m
}

// BaseTopic returns the Zigbee2MQTT base topic.
func (m *Model) BaseTopic() string { return m.base }

// SubscriptionFilter is the MQTT filter the model needs ("<base>/#").
func (m *Model) SubscriptionFilter() string { return m.base + "/#" }

// Snapshot returns the current immutable inventory.
func (m *Model) Snapshot() *Snapshot { return m.snap.Load() }

// Messages returns how many messages the model has handled.
func (m *Model) Messages() uint64 { return m.msgCount.Load() }

// SetRooms replaces the friendly name → room mapping.
func (m *Model) SetRooms(rooms map[string]string) {
	m.invMu.Lock()
	defer m.invMu.Unlock()
	m.snap.Store(m.snap.Load().withRooms(rooms))
	m.notify(Change{Kind: ChangeInventory})
}

// State returns the last known state of a device (by IEEE address) or group
// (GroupKey), or nil.
func (m *Model) State(key string) *State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.states[key]
}

// Availability returns what Zigbee2MQTT last said of the entity's availability.
func (m *Model) Availability(key string) Availability {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.avail[key]
}

// Connected reports whether the MQTT link is up (as told by SetConnected).
func (m *Model) Connected() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.connected
}

// SetConnected records the MQTT link state and tells every watcher, so a
// command in flight when the link drops can end.
func (m *Model) SetConnected(up bool) {
	m.mu.Lock()
	changed := m.connected != up
	m.connected = up
	var ws []*Watcher
	if changed {
		ws = m.allWatchersLocked()
	}
	m.mu.Unlock()
	ev := Event{Kind: EventLink, Connected: up, At: m.now()}
	for _, w := range ws {
		w.push(ev)
	}
	if changed {
		m.notify(Change{Kind: ChangeBridge})
	}
}

// RecentLogs returns up to the last 100 bridge/logging entries at warning
// level and above, oldest first.
func (m *Model) RecentLogs() []LogEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]LogEntry(nil), m.logs...)
}

// RecentEvents returns up to the last 50 bridge/event messages, oldest first.
func (m *Model) RecentEvents() []BridgeEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]BridgeEvent(nil), m.events...)
}

// HandleMessage ingests one MQTT message received on the base topic. It never
// blocks on I/O and ignores anything it does not understand.
func (m *Model) HandleMessage(topic string, payload []byte) {
	m.Handle(topic, payload, false)
}

// Handle is HandleMessage with the MQTT retained flag: a retained state
// message is what the broker kept from earlier (a device with retain: true,
// or a previous run), so it updates the model but never confirms a command.
func (m *Model) Handle(topic string, payload []byte, retained bool) {
	rest, ok := strings.CutPrefix(topic, m.prefix)
	if !ok {
		return
	}
	m.msgCount.Add(1)
	if sub, ok := strings.CutPrefix(rest, "bridge/"); ok {
		m.handleBridge(sub, payload)
		return
	}
	s := m.snap.Load()
	name, kind, known := s.resolveTopic(rest)
	if !known {
		m.keepPending(rest, payload)
		return
	}
	key := s.entityKey(name)
	switch kind {
	case "state":
		m.handleState(key, name, payload, retained)
	case "availability":
		if a, ok := parseAvailability(payload); ok {
			m.setAvailability(key, name, a)
		}
	}
}

// keepPending remembers availability and retained states for names that are
// not known yet: the broker may deliver them before bridge/devices.
func (m *Model) keepPending(rest string, payload []byte) {
	if strings.HasSuffix(rest, "/set") || strings.HasSuffix(rest, "/get") ||
		strings.Contains(rest, "/set/") || strings.Contains(rest, "/get/") {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := strings.CutSuffix(rest, "/availability"); ok {
		if a, ok := parseAvailability(payload); ok && (len(m.pendingAvail) < m.maxPen || m.pendingAvail[n] != 0) {
			m.pendingAvail[n] = a
		}
		return
	}
	if len(payload) == 0 || payload[0] != '{' || len(payload) > 64<<10 {
		return
	}
	if _, ok := m.pendingState[rest]; ok || len(m.pendingState) < m.maxPen {
		m.pendingState[rest] = bytes.Clone(payload)
	}
}

func parseAvailability(p []byte) (Availability, bool) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 {
		return 0, false
	}
	s := string(p)
	if p[0] == '{' {
		s = gjson.GetBytes(p, "state").String()
	}
	switch strings.ToLower(s) {
	case "online":
		return AvailabilityOnline, true
	case "offline":
		return AvailabilityOffline, true
	}
	return 0, false
}

func (m *Model) setAvailability(key, name string, a Availability) {
	m.mu.Lock()
	old := m.avail[key]
	m.avail[key] = a
	ws := m.watchersLocked(key)
	m.mu.Unlock()
	if old == a {
		return
	}
	ev := Event{Kind: EventAvailability, Availability: a, At: m.now()}
	for _, w := range ws {
		w.push(ev)
	}
	m.notify(Change{Kind: ChangeAvailability, Key: key, Name: name})
}

// parseState turns a state payload into a map; ok false unless it is a
// non-empty JSON object.
func parseState(payload []byte) (map[string]any, bool) {
	if len(payload) == 0 {
		return nil, false
	}
	r := gjson.ParseBytes(payload)
	if !r.IsObject() {
		return nil, false
	}
	out := make(map[string]any, 8)
	r.ForEach(func(k, v gjson.Result) bool {
		out[k.Str] = v.Value()
		return true
	})
	return out, true
}

// mergeState returns old deep-merged with msg (nested objects merged by key),
// as Zigbee2MQTT's state cache does. Neither input is modified. When msg
// already carries every key of old (Zigbee2MQTT's default, cache_state on,
// publishes the full state) and no nested object needs merging, msg itself
// is the merged state: no copy.
func mergeState(old, msg map[string]any) map[string]any {
	if len(msg) >= len(old) && covers(msg, old) {
		return msg
	}
	out := make(map[string]any, max(len(old), len(msg)))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range msg {
		if nv, ok := v.(map[string]any); ok {
			if ov, ok := out[k].(map[string]any); ok {
				out[k] = mergeState(ov, nv)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// covers reports whether msg has every key of old, with nested objects
// covering theirs too.
func covers(msg, old map[string]any) bool {
	for k, ov := range old {
		nv, ok := msg[k]
		if !ok {
			return false
		}
		if om, ok := ov.(map[string]any); ok {
			nm, ok := nv.(map[string]any)
			if ok && !covers(nm, om) {
				return false
			}
		}
	}
	return true
}

func (m *Model) handleState(key, name string, payload []byte, retained bool) {
	msg, ok := parseState(payload)
	if !ok {
		return
	}
	now := m.now()
	m.mu.Lock()
	m.seq++
	st := &State{Message: msg, Updated: now, Seq: m.seq, Retained: retained}
	if old := m.states[key]; old != nil {
		st.Values = mergeState(old.Values, msg)
	} else {
		st.Values = msg
	}
	m.states[key] = st
	ws := m.watchersLocked(key)
	m.mu.Unlock()
	ev := Event{Kind: EventState, State: st, At: now}
	for _, w := range ws {
		w.push(ev)
	}
	m.notify(Change{Kind: ChangeState, Key: key, Name: name})
}

func (m *Model) handleBridge(sub string, payload []byte) {
	switch sub {
	case "state":
		m.handleBridgeState(payload)
	case "info":
		m.handleInfo(payload)
	case "devices":
		m.handleDevices(payload)
	case "groups":
		m.handleGroups(payload)
	case "logging":
		m.handleLogging(payload)
	case "event":
		m.handleEvent(payload)
	default:
		if name, ok := strings.CutPrefix(sub, "response/"); ok {
			m.handleResponse(name, payload)
		}
	}
}

func (m *Model) handleBridgeState(payload []byte) {
	a, ok := parseAvailability(payload)
	if !ok {
		return
	}
	state := a.String()
	m.invMu.Lock()
	s := m.snap.Load()
	changed := s.Bridge.State != state
	if changed {
		n := *s
		n.Bridge.State = state
		n.Bridge.StateChangedAt = m.now()
		n.Bridge.legacyStatePayload = len(payload) > 0 && payload[0] != '{'
		m.snap.Store(&n)
	}
	m.invMu.Unlock()
	if !changed {
		return
	}
	m.log.Info().Str("bridge", state).Msg("bridge state")
	m.mu.Lock()
	ws := m.allWatchersLocked()
	m.mu.Unlock()
	ev := Event{Kind: EventBridge, BridgeOnline: state == "online", At: m.now()}
	for _, w := range ws {
		w.push(ev)
	}
	m.notify(Change{Kind: ChangeBridge})
}

func (m *Model) handleInfo(payload []byte) {
	r := gjson.ParseBytes(payload)
	if !r.IsObject() {
		return
	}
	m.invMu.Lock()
	n := *m.snap.Load()
	b := &n.Bridge
	b.InfoReceived = true
	b.Version = r.Get("version").String()
	b.Commit = r.Get("commit").String()
	b.Coordinator = r.Get("coordinator.type").String()
	b.CoordinatorIEEE = r.Get("coordinator.ieee_address").String()
	b.Channel = int(r.Get("network.channel").Int())
	b.PanID = int(r.Get("network.pan_id").Int())
	b.LogLevel = r.Get("log_level").String()
	b.PermitJoin = r.Get("permit_join").Bool()
	b.PermitJoinEnd = time.Time{}
	if end := r.Get("permit_join_end"); end.Type == gjson.Number {
		b.PermitJoinEnd = time.UnixMilli(end.Int())
	}
	b.RestartRequired = r.Get("restart_required").Bool()
	b.AvailabilityOn = availabilityEnabled(r.Get("config.availability"))
	b.CacheState = !r.Get("config.advanced.cache_state").Exists() || r.Get("config.advanced.cache_state").Bool()
	b.LastSeen = r.Get("config.advanced.last_seen").String()
	b.HerdsmanVersion = r.Get("zigbee_herdsman.version").String()
	b.ConvertersVersion = r.Get("zigbee_herdsman_converters.version").String()
	m.snap.Store(&n)
	m.invMu.Unlock()
	m.notify(Change{Kind: ChangeBridge})
}

// availabilityEnabled reads 2.x's object form and 1.x's boolean form.
func availabilityEnabled(r gjson.Result) bool {
	if r.IsObject() {
		return r.Get("enabled").Bool()
	}
	return r.Bool()
}

func (m *Model) handleDevices(payload []byte) {
	r := gjson.ParseBytes(payload)
	if !r.IsArray() {
		return
	}
	defs := map[string]*Definition{}
	list := make([]Device, 0, 64)
	r.ForEach(func(_, v gjson.Result) bool {
		if v.IsObject() {
			if d, ok := parseDevice(v, defs); ok {
				list = append(list, d)
			}
		}
		return true
	})
	m.invMu.Lock()
	old := m.snap.Load()
	n := old.withDevices(list)
	n.Bridge.DevicesReceived = true
	n.Bridge.DevicesReceivedAt = m.now()
	m.snap.Store(n)
	m.invMu.Unlock()
	m.afterInventory(old, n)
}

func (m *Model) handleGroups(payload []byte) {
	r := gjson.ParseBytes(payload)
	if !r.IsArray() {
		return
	}
	var list []Group
	r.ForEach(func(_, v gjson.Result) bool {
		if v.IsObject() {
			if g, ok := parseGroup(v); ok {
				list = append(list, g)
			}
		}
		return true
	})
	m.invMu.Lock()
	old := m.snap.Load()
	n := old.withGroups(list)
	n.Bridge.GroupsReceived = true
	m.snap.Store(n)
	m.invMu.Unlock()
	m.afterInventory(old, n)
}

// knownKey reports whether a state key (IEEE address or group key) is in
// the inventory.
func knownKey(n *Snapshot, key string) bool {
	if id, ok := strings.CutPrefix(key, "group:"); ok {
		return n.groupBy[id] != nil
	}
	return n.byIEEE[key] != nil
}

// afterInventory drops state of removed entities, applies pending messages
// for names that became known and tells watchers of renames and removals.
func (m *Model) afterInventory(old, n *Snapshot) {
	type pending struct {
		key, name string
		avail     Availability
		state     []byte
	}
	var apply []pending
	var removed, renamed []string
	m.mu.Lock()
	// Removed: every entity the old inventory had and the new one lacks,
	// whether or not a state or availability was ever seen for it (a
	// command to a device that never reported waits on it too), plus any
	// leftover state or availability of unknown entities.
	gone := map[string]bool{}
	for ieee := range old.byIEEE {
		if !knownKey(n, ieee) {
			gone[ieee] = true
		}
	}
	for _, g := range old.groups {
		if key := groupKey(g.ID); !knownKey(n, key) {
			gone[key] = true
		}
	}
	for key := range m.avail {
		if !knownKey(n, key) {
			gone[key] = true
		}
	}
	for key := range m.states {
		if !knownKey(n, key) {
			gone[key] = true
		}
	}
	for key := range gone {
		removed = append(removed, key)
	}
	for _, key := range removed {
		delete(m.states, key)
		delete(m.avail, key)
	}
	for _, d := range n.devices {
		if od := old.byIEEE[d.IEEEAddress]; od != nil && od.FriendlyName != d.FriendlyName {
			renamed = append(renamed, d.IEEEAddress)
		}
	}
	for name, a := range m.pendingAvail {
		if n.IsKnownName(name) {
			apply = append(apply, pending{key: n.entityKey(name), name: name, avail: a})
			delete(m.pendingAvail, name)
		}
	}
	for name, p := range m.pendingState {
		if n.IsKnownName(name) {
			apply = append(apply, pending{key: n.entityKey(name), name: name, state: p})
			delete(m.pendingState, name)
		}
	}
	var evs []struct {
		w  *Watcher
		ev Event
	}
	for _, key := range removed {
		for w := range m.watchers[key] {
			evs = append(evs, struct {
				w  *Watcher
				ev Event
			}{w, Event{Kind: EventRemoved, At: m.now()}})
		}
	}
	for _, key := range renamed {
		for w := range m.watchers[key] {
			evs = append(evs, struct {
				w  *Watcher
				ev Event
			}{w, Event{Kind: EventRenamed, Name: n.byIEEE[key].FriendlyName, At: m.now()}})
		}
	}
	m.mu.Unlock()
	for _, e := range evs {
		e.w.push(e.ev)
	}
	for _, p := range apply {
		if p.state != nil {
			m.handleState(p.key, p.name, p.state, true)
		} else {
			m.setAvailability(p.key, p.name, p.avail)
		}
	}
	m.notify(Change{Kind: ChangeInventory})
}

func (m *Model) handleEvent(payload []byte) {
	r := gjson.ParseBytes(payload)
	if !r.IsObject() {
		return
	}
	ev := BridgeEvent{
		Type:         r.Get("type").String(),
		FriendlyName: r.Get("data.friendly_name").String(),
		IEEEAddress:  r.Get("data.ieee_address").String(),
		Status:       r.Get("data.status").String(),
		At:           m.now(),
	}
	m.mu.Lock()
	m.events = appendRing(m.events, ev, keepEvents)
	m.mu.Unlock()
}

func appendRing[T any](s []T, v T, keep int) []T {
	if len(s) >= keep {
		copy(s, s[1:])
		s = s[:len(s)-1]
	}
	return append(s, v)
}

func (m *Model) handleLogging(payload []byte) {
	r := gjson.ParseBytes(payload)
	if !r.IsObject() {
		return
	}
	level := r.Get("level").String()
	msg := r.Get("message").String()
	if level != "error" && level != "warning" && level != "warn" {
		return
	}
	entry := LogEntry{Level: level, Message: msg, At: m.now()}
	m.mu.Lock()
	m.logs = appendRing(m.logs, entry, keepLogs)
	m.mu.Unlock()
	if level != "error" {
		return
	}
	le, ok := ParseLogError(msg)
	if !ok {
		return
	}
	s := m.snap.Load()
	key := s.entityKey(le.Name)
	if key == "" {
		return
	}
	m.mu.Lock()
	ws := m.watchersLocked(key)
	m.mu.Unlock()
	ev := Event{Kind: EventError, Error: le, At: entry.At}
	for _, w := range ws {
		w.push(ev)
	}
}

// Change tells a subscriber what changed in the model.
type Change struct {
	Kind ChangeKind
	// Key and Name identify the entity for state and availability changes.
	Key, Name string
}

// ChangeKind says what part of the model changed.
type ChangeKind int

// Change kinds.
const (
	ChangeState ChangeKind = iota + 1
	ChangeAvailability
	ChangeInventory
	ChangeBridge
)

// Subscribe registers f to be called after every change. f runs on the
// ingest path: it must return quickly and never block. Call cancel to stop.
func (m *Model) Subscribe(f func(Change)) (cancel func()) {
	m.mu.Lock()
	m.subSeq++
	id := m.subSeq
	m.subs[id] = f
	m.publishSubsLocked()
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.subs, id)
		m.publishSubsLocked()
		m.mu.Unlock()
	}
}

// publishSubsLocked rebuilds the copy of the subscribers that notify reads
// without a lock or an allocation per message.
func (m *Model) publishSubsLocked() {
	fs := make([]func(Change), 0, len(m.subs))
	for _, f := range m.subs {
		fs = append(fs, f)
	}
	m.subList.Store(&fs)
}

func (m *Model) notify(c Change) {
	fs := m.subList.Load()
	if fs == nil {
		return
	}
	for _, f := range *fs {
		f(c)
	}
}

// Publisher is what the model needs from the MQTT link.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(ctx context.Context, topic string, payload []byte) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, topic string, payload []byte) error {
	return f(ctx, topic, payload)
}
