package simulator

import (
	"container/heap"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Publisher receives everything the engine publishes. It is called on the
// engine goroutine, in publish order.
type Publisher interface {
	Publish(topic string, qos byte, retained bool, payload []byte)
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(topic string, qos byte, retained bool, payload []byte)

// Publish calls f.
func (f PublisherFunc) Publish(topic string, qos byte, retained bool, payload []byte) {
	f(topic, qos, retained, payload)
}

// engineConfig is the engine's share of Config, defaults applied.
type engineConfig struct {
	baseTopic        string
	mqttServer       string
	latency          time.Duration
	unreachableDelay time.Duration
	coverStep        time.Duration
	coverSpeed       float64
	lockDelay        time.Duration
	log              zerolog.Logger
}

type device struct {
	ieee        string
	name        string
	nwk         int
	supported   bool
	coordinator bool
	raw         map[string]any
	props       map[string]*prop
	lights      map[string]*lightCaps
	epNames     map[string]int
	epNums      []int
	state       map[string]any
	offline     bool
	drop        bool
	scenes      map[sceneKey]*storedScene
	motionGen   int
	zclSeq      int
	lastDue     time.Time
}

type member struct {
	ieee string
	ep   int
}

type group struct {
	id             int
	name           string
	raw            map[string]any
	members        []member
	state          map[string]any
	lastOptimistic map[string]any
	availability   string
	lastDue        time.Time
}

type task struct {
	due time.Time
	seq uint64
	fn  func()
}

type taskHeap []*task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(*task)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// engine is the simulated bridge. Every field below mu is owned by the
// engine goroutine; other goroutines talk to it through do and call.
type engine struct {
	cfg engineConfig
	out Publisher

	mu      sync.Mutex
	inbox   []func()
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once

	devices        []*device
	groups         []*group
	info           map[string]any
	permitJoinEnd  int64
	permitJoinGen  int
	tasks          taskHeap
	seq            uint64
	started        bool
	lastLogMessage string
}

func newEngine(cfg engineConfig, home *Home, out Publisher) (*engine, error) {
	e := &engine{
		cfg:     cfg,
		out:     out,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := e.load(home.clone()); err != nil {
		return nil, err
	}
	go e.run()
	return e, nil
}

func (e *engine) load(h *Home) error {
	hasCoordinator := false
	for _, raw := range h.Devices {
		if raw["type"] == "Coordinator" {
			hasCoordinator = true
		}
	}
	if !hasCoordinator {
		h.Devices = append([]map[string]any{{
			"disabled": false, "endpoints": map[string]any{"1": map[string]any{"bindings": []any{}, "clusters": map[string]any{"input": []any{}, "output": []any{}}, "configured_reportings": []any{}, "scenes": []any{}}},
			"friendly_name": "Coordinator", "ieee_address": "0x00124b00fefe0001", "interview_completed": true, "interview_state": "SUCCESSFUL",
			"interviewing": false, "network_address": 0, "supported": true, "type": "Coordinator",
		}}, h.Devices...)
	}
	for _, raw := range h.Devices {
		d := &device{raw: raw, scenes: map[sceneKey]*storedScene{}, state: map[string]any{}}
		d.ieee, _ = raw["ieee_address"].(string)
		d.name, _ = raw["friendly_name"].(string)
		if n, ok := num(raw["network_address"]); ok {
			d.nwk = int(n)
		}
		d.coordinator = raw["type"] == "Coordinator"
		def, hasDef := raw["definition"].(map[string]any)
		sup, _ := raw["supported"].(bool)
		d.supported = sup && hasDef && !d.coordinator
		if hasDef {
			d.props, d.lights = parseExposes(def["exposes"])
		} else {
			d.props, d.lights = map[string]*prop{}, map[string]*lightCaps{}
		}
		d.epNames, d.epNums = endpointInfo(raw)
		if eps, ok := raw["endpoints"].(map[string]any); ok {
			for epKey, v := range eps {
				epNum, _ := strconv.Atoi(epKey)
				m, _ := v.(map[string]any)
				list, _ := m["scenes"].([]any)
				for _, s := range list {
					sm, _ := s.(map[string]any)
					id, _ := num(sm["id"])
					name, _ := sm["name"].(string)
					d.scenes[sceneKey{ep: epNum, group: 0, id: int(id)}] = &storedScene{name: name, state: map[string]any{}}
				}
			}
		}
		e.devices = append(e.devices, d)
	}
	for _, raw := range h.Groups {
		g := &group{raw: raw, state: map[string]any{}}
		id, _ := num(raw["id"])
		g.id = int(id)
		g.name, _ = raw["friendly_name"].(string)
		if g.name == "" {
			g.name = strconv.Itoa(g.id)
		}
		ms, _ := raw["members"].([]any)
		for _, m := range ms {
			mm, _ := m.(map[string]any)
			ieee, _ := mm["ieee_address"].(string)
			ep, _ := num(mm["endpoint"])
			if e.deviceByIEEE(ieee) == nil {
				return fmt.Errorf("group %q: member %s is not a device", g.name, ieee)
			}
			g.members = append(g.members, member{ieee: ieee, ep: int(ep)})
		}
		scenes, _ := raw["scenes"].([]any)
		for _, s := range scenes {
			sm, _ := s.(map[string]any)
			sid, _ := num(sm["id"])
			name, _ := sm["name"].(string)
			for _, m := range g.members {
				d := e.deviceByIEEE(m.ieee)
				d.scenes[sceneKey{ep: m.ep, group: g.id, id: int(sid)}] = &storedScene{name: name, state: map[string]any{}}
			}
		}
		e.groups = append(e.groups, g)
	}
	for _, sd := range h.Scenes {
		d := e.deviceByName(sd.Device)
		if d == nil {
			return fmt.Errorf("scene %d: unknown device %q", sd.ID, sd.Device)
		}
		ep := sd.Endpoint
		if ep == 0 {
			ep = d.defaultEndpoint()
		}
		d.scenes[sceneKey{ep: ep, group: sd.GroupID, id: sd.ID}] = &storedScene{name: sd.Name, state: cloneMap(sd.State)}
	}
	for _, d := range e.devices {
		if st, ok := h.States[d.name]; ok {
			d.state = cloneMap(st)
		} else if !d.coordinator {
			d.state = initialState(d)
		}
	}
	for _, g := range e.groups {
		if st, ok := h.States[g.name]; ok {
			g.state = cloneMap(st)
		}
	}
	e.info = h.Info
	if e.info == nil {
		e.info = defaultBridgeInfo()
	}
	return nil
}

// ---- goroutine plumbing ----

func (e *engine) run() {
	defer close(e.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		e.mu.Lock()
		fns := e.inbox
		e.inbox = nil
		e.mu.Unlock()
		for _, f := range fns {
			f()
		}
		now := time.Now()
		for len(e.tasks) > 0 && !e.tasks[0].due.After(now) {
			t := heap.Pop(&e.tasks).(*task)
			t.fn()
		}
		if len(e.tasks) > 0 {
			timer.Reset(time.Until(e.tasks[0].due))
		}
		select {
		case <-e.wake:
		case <-timer.C:
		case <-e.stop:
			timer.Stop()
			return
		}
		timer.Stop()
	}
}

// do queues f to run on the engine goroutine; it never blocks.
func (e *engine) do(f func()) {
	e.mu.Lock()
	e.inbox = append(e.inbox, f)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// call runs f on the engine goroutine and waits for it.
func (e *engine) call(f func()) {
	done := make(chan struct{})
	e.do(func() { f(); close(done) })
	select {
	case <-done:
	case <-e.stopped:
	}
}

func (e *engine) close() {
	e.once.Do(func() { close(e.stop) })
	<-e.stopped
}

// after schedules fn on the engine goroutine after d.
func (e *engine) after(d time.Duration, fn func()) {
	e.at(time.Now().Add(d), fn)
}

func (e *engine) at(due time.Time, fn func()) {
	e.seq++
	heap.Push(&e.tasks, &task{due: due, seq: e.seq, fn: fn})
}

// afterDevice schedules fn after d but never before work already scheduled
// for the same device, so a device's output stays in command order.
func (e *engine) afterDevice(d *device, delay time.Duration, fn func()) {
	due := time.Now().Add(delay)
	if due.Before(d.lastDue) {
		due = d.lastDue
	}
	d.lastDue = due
	e.at(due, fn)
}

func (e *engine) afterGroup(g *group, delay time.Duration, fn func()) {
	due := time.Now().Add(delay)
	if due.Before(g.lastDue) {
		due = g.lastDue
	}
	g.lastDue = due
	e.at(due, fn)
}

// ---- lookups ----

func (e *engine) deviceByIEEE(ieee string) *device {
	for _, d := range e.devices {
		if d.ieee == ieee {
			return d
		}
	}
	return nil
}

func (e *engine) deviceByName(name string) *device {
	for _, d := range e.devices {
		if d.name == name || d.ieee == name {
			return d
		}
	}
	if strings.EqualFold(name, "coordinator") {
		for _, d := range e.devices {
			if d.coordinator {
				return d
			}
		}
	}
	return nil
}

func (e *engine) groupByName(name string) *group {
	for _, g := range e.groups {
		if g.name == name || strconv.Itoa(g.id) == name {
			return g
		}
	}
	return nil
}

func (e *engine) nameInUse(name string, except any) bool {
	for _, d := range e.devices {
		if d.name == name && any(d) != except {
			return true
		}
	}
	for _, g := range e.groups {
		if g.name == name && any(g) != except {
			return true
		}
	}
	return false
}

func (d *device) defaultEndpoint() int {
	if len(d.epNums) == 0 {
		return 1
	}
	return d.epNums[0]
}

// endpointName returns the name of endpoint n, "" when unnamed.
func (d *device) endpointName(n int) string {
	for name, num := range d.epNames {
		if num == n {
			return name
		}
	}
	return ""
}

// resolveEndpoint maps a topic endpoint (name or number) to its number.
func (d *device) resolveEndpoint(ep string) (int, bool) {
	if n, ok := d.epNames[ep]; ok {
		return n, true
	}
	n, err := strconv.Atoi(ep)
	if err != nil {
		return 0, false
	}
	for _, x := range d.epNums {
		if x == n {
			return n, true
		}
	}
	return 0, false
}

func (g *group) hasMember(ieee string, ep int) bool {
	for _, m := range g.members {
		if m.ieee == ieee && m.ep == ep {
			return true
		}
	}
	return false
}

func (g *group) hasDevice(ieee string) bool {
	for _, m := range g.members {
		if m.ieee == ieee {
			return true
		}
	}
	return false
}

// ---- publishing ----

func (e *engine) topic(suffix string) string { return e.cfg.baseTopic + "/" + suffix }

func (e *engine) publish(suffix string, qos byte, retained bool, payload []byte) {
	e.cfg.log.Debug().Str("topic", e.topic(suffix)).Bool("retained", retained).Bytes("payload", truncate(payload)).Msg("publish")
	e.out.Publish(e.topic(suffix), qos, retained, payload)
}

func truncate(p []byte) []byte {
	if len(p) > 300 {
		return append(append([]byte{}, p[:300]...), "..."...)
	}
	return p
}

func (e *engine) logMessage(level, message string) {
	// Zigbee2MQTT suppresses a line identical to the previous one.
	key := level + "\x00" + message
	if key == e.lastLogMessage {
		return
	}
	e.lastLogMessage = key
	e.publish("bridge/logging", 0, false, marshal(map[string]any{"level": level, "message": message}))
}

func (e *engine) logError(msg string) { e.logMessage("error", "z2m: "+msg) }

func (e *engine) publishBridgeState(online bool) {
	state := "offline"
	if online {
		state = "online"
	}
	e.publish("bridge/state", 1, true, marshal(map[string]any{"state": state}))
}

func (e *engine) publishInfo() { e.publish("bridge/info", 0, true, marshal(e.buildInfo())) }

func (e *engine) publishDevices() { e.publish("bridge/devices", 0, true, marshal(e.buildDevices())) }

func (e *engine) publishGroups() { e.publish("bridge/groups", 0, true, marshal(e.buildGroups())) }

func (e *engine) publishDeviceState(d *device) {
	e.publish(d.name, 0, false, marshal(d.state))
}

func (e *engine) publishGroupState(g *group) {
	e.publish(g.name, 0, false, marshal(g.state))
}

func availabilityPayload(online bool) []byte {
	if online {
		return []byte(`{"state":"online"}`)
	}
	return []byte(`{"state":"offline"}`)
}

func (e *engine) publishDeviceAvailability(d *device) {
	e.publish(d.name+"/availability", 1, true, availabilityPayload(!d.offline))
}

func (e *engine) groupOnline(g *group) bool {
	for _, m := range g.members {
		if d := e.deviceByIEEE(m.ieee); d != nil && !d.offline {
			return true
		}
	}
	return false
}

func (e *engine) publishGroupAvailability(g *group, force bool) {
	online := e.groupOnline(g)
	s := "offline"
	if online {
		s = "online"
	}
	if !force && s == g.availability {
		return
	}
	g.availability = s
	e.publish(g.name+"/availability", 1, true, availabilityPayload(online))
}

// startup publishes the start-up sequence of z2m-protocol.md §9.1.
func (e *engine) startup() {
	e.started = true
	e.logMessage("info", "z2m: Connected to MQTT server")
	e.publishInventory()
	for _, d := range e.devices {
		if !d.coordinator && len(d.state) > 0 {
			e.publishDeviceState(d)
		}
	}
	for _, g := range e.groups {
		if len(g.state) > 0 {
			e.publishGroupState(g)
		}
	}
	e.logMessage("info", "z2m: Zigbee2MQTT started!")
}

// reconnected republishes what a client needs to rebuild after the broker
// restarted (Zigbee2MQTT republishes bridge/state; the rest helps brokers
// without persistence).
func (e *engine) reconnected() {
	if !e.started {
		return
	}
	e.publishInventory()
}

// publishInventory publishes bridge/state online, the retained bridge topics
// and every availability, in Zigbee2MQTT's start-up order.
func (e *engine) publishInventory() {
	e.publishBridgeState(true)
	e.publishInfo()
	e.publishDevices()
	e.publishGroups()
	for _, d := range e.devices {
		if !d.coordinator {
			e.publishDeviceAvailability(d)
		}
	}
	for _, g := range e.groups {
		e.publishGroupAvailability(g, true)
	}
}

// ---- bridge payloads ----

func (e *engine) buildDevices() []any {
	out := make([]any, 0, len(e.devices))
	for _, d := range e.devices {
		m := cloneMap(d.raw)
		m["friendly_name"] = d.name
		if eps, ok := m["endpoints"].(map[string]any); ok {
			for epKey, v := range eps {
				epm, ok := v.(map[string]any)
				if !ok {
					continue
				}
				n, _ := strconv.Atoi(epKey)
				epm["scenes"] = d.sceneList(func(k sceneKey) bool { return k.ep == n && k.group == 0 })
			}
		}
		out = append(out, m)
	}
	return out
}

func (e *engine) buildGroups() []any {
	out := make([]any, 0, len(e.groups))
	for _, g := range e.groups {
		m := cloneMap(g.raw)
		m["id"] = g.id
		m["friendly_name"] = g.name
		members := make([]any, 0, len(g.members))
		byID := map[int]string{}
		for _, mb := range g.members {
			members = append(members, map[string]any{"ieee_address": mb.ieee, "endpoint": mb.ep})
			d := e.deviceByIEEE(mb.ieee)
			for k, s := range d.scenes {
				if k.group == g.id && k.ep == mb.ep {
					if _, seen := byID[k.id]; !seen || byID[k.id] == "" {
						byID[k.id] = s.name
					}
				}
			}
		}
		m["members"] = members
		m["scenes"] = sceneEntries(byID)
		out = append(out, m)
	}
	return out
}

func sceneEntries(byID map[int]string) []any {
	ids := make([]int, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		name := byID[id]
		if name == "" {
			name = "Scene " + strconv.Itoa(id)
		}
		out = append(out, map[string]any{"id": id, "name": name})
	}
	return out
}

func (d *device) sceneList(match func(sceneKey) bool) []any {
	byID := map[int]string{}
	for k, s := range d.scenes {
		if match(k) {
			byID[k.id] = s.name
		}
	}
	return sceneEntries(byID)
}

func (e *engine) buildInfo() map[string]any {
	info := cloneMap(e.info)
	cfg, _ := info["config"].(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
		info["config"] = cfg
	}
	mq, _ := cfg["mqtt"].(map[string]any)
	if mq == nil {
		mq = map[string]any{}
		cfg["mqtt"] = mq
	}
	mq["base_topic"] = e.cfg.baseTopic
	if e.cfg.mqttServer != "" {
		mq["server"] = e.cfg.mqttServer
		if m, ok := info["mqtt"].(map[string]any); ok {
			m["server"] = e.cfg.mqttServer
		}
	}
	devs := map[string]any{}
	for _, d := range e.devices {
		if !d.coordinator {
			devs[d.ieee] = map[string]any{"friendly_name": d.name}
		}
		if d.coordinator {
			if c, ok := info["coordinator"].(map[string]any); ok {
				c["ieee_address"] = d.ieee
			}
		}
	}
	cfg["devices"] = devs
	groups := map[string]any{}
	for _, g := range e.groups {
		groups[strconv.Itoa(g.id)] = map[string]any{"friendly_name": g.name}
	}
	cfg["groups"] = groups
	info["permit_join"] = e.permitJoinEnd != 0
	if e.permitJoinEnd != 0 {
		info["permit_join_end"] = e.permitJoinEnd
	} else {
		delete(info, "permit_join_end")
	}
	return info
}
