package mcp

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

// deviceSummary is one list_devices entry.
type deviceSummary struct {
	Name      string         `json:"name"`
	Type      string         `json:"type"`
	Room      string         `json:"room,omitempty"`
	Model     string         `json:"model,omitempty"`
	Available string         `json:"available"`
	State     map[string]any `json:"state,omitempty"`
	Note      string         `json:"note,omitempty"`
}

type listDevicesOutput struct {
	Count   int             `json:"count"`
	Devices []deviceSummary `json:"devices"`
}

// keyStateProps are the state keys list_devices shows per type.
var keyStateProps = map[string][]string{
	devices.TypeLight:   {"state", "brightness", "color_temp"},
	devices.TypeSwitch:  {"state"},
	devices.TypeClimate: {"local_temperature", "occupied_heating_setpoint", "current_heating_setpoint", "system_mode"},
	devices.TypeCover:   {"position", "state"},
	devices.TypeLock:    {"state", "lock_state"},
	devices.TypeFan:     {"state", "fan_mode"},
	devices.TypeSensor:  {"temperature", "humidity", "occupancy", "contact", "illuminance", "battery"},
}

// keyState picks a compact state for a device: brightness as percent, the
// per-endpoint switch states, at most four values.
func keyState(d *devices.Device, st *devices.State) map[string]any {
	if st == nil {
		return nil
	}
	out := map[string]any{}
	kind := d.Kind()
	if kind == devices.TypeSwitch || kind == devices.TypeLight {
		for _, typ := range []string{devices.TypeSwitch, devices.TypeLight} {
			for _, e := range d.Specific(typ) {
				if f := e.Feature("state"); f != nil {
					if v, ok := st.Values[f.Property]; ok {
						out[f.Property] = v
					}
				}
			}
		}
	}
	for _, p := range keyStateProps[kind] {
		if len(out) >= 4 {
			break
		}
		v, ok := st.Values[p]
		if !ok {
			continue
		}
		switch p {
		case "brightness":
			if n, ok := v.(float64); ok {
				out["brightness_pct"] = int(n*100/254 + 0.5)
				continue
			}
		case "color_temp":
			if n, ok := v.(float64); ok && n > 0 {
				out["color_temp_kelvin"] = int(1e6/n/10+0.5) * 10
				continue
			}
		}
		out[p] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (s *Server) availability(key string, bridge devices.BridgeInfo) string {
	a := s.model.Availability(key)
	if a == devices.AvailabilityUnknown && !bridge.AvailabilityOn && bridge.InfoReceived {
		return "unknown (availability off in Zigbee2MQTT)"
	}
	return a.String()
}

func deviceNote(d *devices.Device) string {
	switch {
	case devices.RoutableName(d.FriendlyName) != "":
		return devices.RoutableName(d.FriendlyName)
	case d.Disabled:
		return "disabled in Zigbee2MQTT"
	case !d.Supported || d.Definition == nil:
		return "not supported by Zigbee2MQTT (no definition)"
	case d.InterviewState != "" && d.InterviewState != "SUCCESSFUL":
		return "interview " + strings.ToLower(d.InterviewState)
	}
	return ""
}

func (s *Server) handleListDevices(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	a, err := newArgs("list_devices", argsOf(req), "type", "room", "query", "include_state")
	if err != nil {
		return toolError("%v", err), nil
	}
	typ, err := a.enum("type", devices.DeviceTypes...)
	if err != nil {
		return toolError("list_devices: %v", err), nil
	}
	room, err := a.str("room")
	if err != nil {
		return toolError("list_devices: %v", err), nil
	}
	query, err := a.str("query")
	if err != nil {
		return toolError("list_devices: %v", err), nil
	}
	withState, err := a.boolean("include_state", true)
	if err != nil {
		return toolError("list_devices: %v", err), nil
	}
	snap := s.snapshot(ctx)
	if room != "" {
		rooms := snap.Rooms()
		if _, ok := rooms[room]; !ok {
			var names []string
			for r := range rooms {
				names = append(names, r)
			}
			sort.Strings(names)
			return toolError("list_devices: no room %q; rooms: %s", clip(room, 60), strings.Join(names, ", ")), nil
		}
	}
	if withState {
		s.primeUnknown(ctx, snap, func(d *devices.Device) bool {
			return (typ == "" || d.Kind() == typ) && (room == "" || d.Room == room)
		})
	}
	out := s.summaries(snap, typ, room, query, withState)
	var text strings.Builder
	fmt.Fprintf(&text, "%d devices (name | type | model | availability | state)", out.Count)
	for _, d := range out.Devices {
		fmt.Fprintf(&text, "\n%s | %s | %s | %s", d.Name, d.Type, d.Model, d.Available)
		if len(d.State) > 0 {
			text.WriteString(" | ")
			text.WriteString(stateWords(d.Type, d.State))
		}
		if d.Note != "" {
			text.WriteString(" | ")
			text.WriteString(d.Note)
		}
	}
	if !snap.Bridge.DevicesReceived {
		text.WriteString("\n(no bridge/devices received from Zigbee2MQTT yet)")
	}
	return structured(out, text.String()), nil
}

func (s *Server) summaries(snap *devices.Snapshot, typ, room, query string, withState bool) listDevicesOutput {
	out := listDevicesOutput{Devices: make([]deviceSummary, 0, len(snap.Devices()))}
	q := strings.ToLower(query)
	for _, d := range snap.Devices() {
		if d.Type == "Coordinator" || !s.policy.visible(d.FriendlyName) {
			continue
		}
		if typ != "" && d.Kind() != typ || room != "" && d.Room != room {
			continue
		}
		sum := deviceSummary{Name: d.FriendlyName, Type: d.Kind(), Room: d.Room, Available: s.availability(d.IEEEAddress, snap.Bridge), Note: deviceNote(d)}
		if d.Definition != nil {
			sum.Model = d.Definition.Model
		}
		if q != "" {
			hay := strings.ToLower(d.FriendlyName + " " + sum.Model + " " + d.Description)
			if d.Definition != nil {
				hay += " " + strings.ToLower(d.Definition.Vendor+" "+d.Definition.Description)
			}
			if !strings.Contains(hay, q) {
				continue
			}
		}
		if withState {
			st := s.model.State(d.IEEEAddress)
			sum.State = keyState(d, st)
			if st == nil && sum.Note == "" {
				sum.Note = "state unknown: not reported since z2m-mcp started"
				if d.Sleepy() {
					sum.Note = "state unknown: a battery device reports when it wakes"
				}
			}
		}
		out.Devices = append(out.Devices, sum)
	}
	out.Count = len(out.Devices)
	return out
}

// stateWords renders a key state in few tokens for the text form:
// "ON 50% 2700K", "left=ON right=OFF", "21.3°C → 20°C heat", "40% OPEN".
func stateWords(typ string, m map[string]any) string {
	var parts []string
	pick := func(k string) (any, bool) {
		v, ok := m[k]
		return v, ok
	}
	switch typ {
	case devices.TypeLight:
		if v, ok := pick("state"); ok {
			parts = append(parts, fmt.Sprint(v))
		}
		if v, ok := pick("brightness_pct"); ok {
			parts = append(parts, fmt.Sprintf("%v%%", v))
		}
		if v, ok := pick("color_temp_kelvin"); ok {
			parts = append(parts, fmt.Sprintf("%vK", v))
		}
	case devices.TypeClimate:
		if v, ok := pick("local_temperature"); ok {
			parts = append(parts, fmt.Sprintf("%v°C", v))
		}
		for _, k := range []string{"occupied_heating_setpoint", "current_heating_setpoint"} {
			if v, ok := pick(k); ok {
				parts = append(parts, fmt.Sprintf("→ %v°C", v))
				break
			}
		}
		if v, ok := pick("system_mode"); ok {
			parts = append(parts, fmt.Sprint(v))
		}
	case devices.TypeSwitch:
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "state" {
				parts = append(parts, fmt.Sprint(m[k]))
			} else if ep, ok := strings.CutPrefix(k, "state_"); ok {
				parts = append(parts, fmt.Sprintf("%s=%v", ep, m[k]))
			}
		}
	case devices.TypeCover:
		if v, ok := pick("position"); ok {
			parts = append(parts, fmt.Sprintf("%v%%", v))
		}
		if v, ok := pick("state"); ok {
			parts = append(parts, fmt.Sprint(v))
		}
	case devices.TypeLock:
		if v, ok := pick("lock_state"); ok {
			parts = append(parts, fmt.Sprint(v))
		} else if v, ok := pick("state"); ok {
			parts = append(parts, fmt.Sprint(v))
		}
	}
	if len(parts) == 0 {
		return compactState(m)
	}
	return strings.Join(parts, " ")
}

func compactState(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// capability is one expose as get_device shows it.
type capability struct {
	Property string   `json:"property"`
	Type     string   `json:"type"`
	Access   string   `json:"access"` // r: in state, w: settable, g: readable via /get
	Kind     string   `json:"kind,omitempty"`
	Endpoint string   `json:"endpoint,omitempty"`
	Unit     string   `json:"unit,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	Step     *float64 `json:"step,omitempty"`
	Values   []any    `json:"values,omitempty"`
	Presets  []string `json:"presets,omitempty"`
	Features []string `json:"features,omitempty"`
	Category string   `json:"category,omitempty"`
}

func accessString(a int) string {
	var b strings.Builder
	if a&devices.AccessState != 0 {
		b.WriteByte('r')
	}
	if a&devices.AccessSet != 0 {
		b.WriteByte('w')
	}
	if a&devices.AccessGet != 0 {
		b.WriteByte('g')
	}
	return b.String()
}

func capabilities(d *devices.Device) []capability {
	var out []capability
	var walk func(ex []devices.Expose, kind string)
	walk = func(ex []devices.Expose, kind string) {
		for i := range ex {
			e := &ex[i]
			if e.IsSpecific() {
				walk(e.Features, e.Type)
				continue
			}
			c := capability{Property: e.Property, Type: e.Type, Access: accessString(e.Access), Kind: kind,
				Endpoint: e.Endpoint, Unit: e.Unit, Min: e.ValueMin, Max: e.ValueMax, Step: e.ValueStep, Values: e.Values, Category: e.Category}
			if e.Type == "binary" {
				c.Values = []any{e.ValueOn, e.ValueOff}
				if e.ValueToggle != nil {
					c.Values = append(c.Values, e.ValueToggle)
				}
			}
			for _, p := range e.Presets {
				c.Presets = append(c.Presets, p.Name)
			}
			for _, f := range e.Features {
				c.Features = append(c.Features, f.Property)
			}
			out = append(out, c)
		}
	}
	walk(d.Exposes(), "")
	if out == nil {
		out = []capability{}
	}
	return out
}

type deviceDetail struct {
	Name           string           `json:"name"`
	IEEEAddress    string           `json:"ieee_address"`
	Type           string           `json:"type"`
	Room           string           `json:"room,omitempty"`
	Model          string           `json:"model,omitempty"`
	Vendor         string           `json:"vendor,omitempty"`
	Description    string           `json:"description,omitempty"`
	PowerSource    string           `json:"power_source,omitempty"`
	NetworkRole    string           `json:"network_role"`
	Available      string           `json:"available"`
	LastSeen       any              `json:"last_seen,omitempty"`
	StateUpdated   string           `json:"state_updated,omitempty"`
	Note           string           `json:"note,omitempty"`
	Capabilities   []capability     `json:"capabilities"`
	State          map[string]any   `json:"state"`
	Groups         []string         `json:"groups"`
	Scenes         []devices.Scene  `json:"scenes"`
	Endpoints      []map[string]any `json:"endpoints,omitempty"`
	InterviewState string           `json:"interview_state,omitempty"`
}

func (s *Server) deviceDetail(snap *devices.Snapshot, d *devices.Device) deviceDetail {
	det := deviceDetail{
		Name: d.FriendlyName, IEEEAddress: d.IEEEAddress, Type: d.Kind(), Room: d.Room,
		Description: d.Description, PowerSource: d.PowerSource, NetworkRole: d.Type,
		Available: s.availability(d.IEEEAddress, snap.Bridge), Note: deviceNote(d),
		Capabilities: capabilities(d), State: map[string]any{}, Groups: []string{}, Scenes: d.Scenes(),
		InterviewState: d.InterviewState,
	}
	if d.Definition != nil {
		det.Model, det.Vendor = d.Definition.Model, d.Definition.Vendor
	}
	if st := s.model.State(d.IEEEAddress); st != nil {
		det.State = st.Values
		det.LastSeen = st.Values["last_seen"]
		det.StateUpdated = st.Updated.UTC().Format(time.RFC3339)
	}
	for _, g := range snap.GroupsOf(d.IEEEAddress) {
		det.Groups = append(det.Groups, g.FriendlyName)
	}
	if det.Scenes == nil {
		det.Scenes = []devices.Scene{}
	}
	for _, ep := range d.Endpoints {
		if ep.Name != "" {
			det.Endpoints = append(det.Endpoints, map[string]any{"id": ep.ID, "name": ep.Name})
		}
	}
	return det
}

type groupDetail struct {
	Name      string          `json:"name"`
	ID        int             `json:"id"`
	Kind      string          `json:"kind"`
	Members   []string        `json:"members"`
	Scenes    []devices.Scene `json:"scenes"`
	State     map[string]any  `json:"state,omitempty"`
	Available string          `json:"available"`
}

func (s *Server) groupDetail(snap *devices.Snapshot, g *devices.Group) groupDetail {
	det := groupDetail{Name: g.FriendlyName, ID: g.ID, Kind: "group", Members: []string{}, Scenes: g.Scenes,
		Available: s.model.Availability(devices.GroupKey(g)).String()}
	for _, d := range snap.Members(g) {
		det.Members = append(det.Members, d.FriendlyName)
	}
	if st := s.model.State(devices.GroupKey(g)); st != nil {
		det.State = st.Values
	}
	return det
}

func (s *Server) handleGetDevice(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	a, err := newArgs("get_device", argsOf(req), "name")
	if err != nil {
		return toolError("%v", err), nil
	}
	names, err := a.names("name", true)
	if err == nil && len(names) != 1 {
		err = fmt.Errorf("name must be one device name")
	}
	if err != nil {
		return toolError("get_device: %v", err), nil
	}
	snap := s.snapshot(ctx)
	_, found := s.lookup(snap, names[0])
	switch x := found.(type) {
	case *devices.Device:
		if !s.policy.visible(x.FriendlyName) {
			return toolError("get_device: %v", s.unknownName(snap, names[0])), nil
		}
		s.primeStates(ctx, []*devices.Device{x})
		det := s.deviceDetail(snap, x)
		return structured(det, detailText(det)), nil
	case *devices.Group:
		det := s.groupDetail(snap, x)
		return structured(det, fmt.Sprintf("group %s (id %d): members %s; scenes %d", det.Name, det.ID, strings.Join(det.Members, ", "), len(det.Scenes))), nil
	case string:
		return toolError("get_device: %q is a room; list_devices with room=%q lists its devices", names[0], x), nil
	}
	return toolError("get_device: %v", s.unknownName(snap, names[0])), nil
}

func detailText(d deviceDetail) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s %s, %s) %s", d.Name, d.Vendor, d.Model, d.Type, d.Available)
	if d.Note != "" {
		fmt.Fprintf(&b, " — %s", d.Note)
	}
	b.WriteString("\ncapabilities:")
	for _, c := range d.Capabilities {
		if c.Category == "diagnostic" && c.Property != "battery" {
			continue
		}
		fmt.Fprintf(&b, "\n- %s (%s, %s)", c.Property, c.Type, c.Access)
		if c.Min != nil && c.Max != nil {
			fmt.Fprintf(&b, " %s–%s", fmtNum(*c.Min), fmtNum(*c.Max))
		}
		if c.Unit != "" {
			fmt.Fprintf(&b, " %s", c.Unit)
		}
		if len(c.Values) > 0 && c.Type == "enum" {
			vals := make([]string, 0, len(c.Values))
			for _, v := range c.Values {
				vals = append(vals, fmt.Sprint(v))
			}
			fmt.Fprintf(&b, " [%s]", strings.Join(vals, ", "))
		}
	}
	if len(d.State) > 0 {
		fmt.Fprintf(&b, "\nstate: %s", compactState(d.State))
	}
	return b.String()
}

type bridgeStatus struct {
	Online           bool                  `json:"online"`
	State            string                `json:"state"`
	MQTTConnected    bool                  `json:"mqtt_connected"`
	Version          string                `json:"version,omitempty"`
	Coordinator      string                `json:"coordinator,omitempty"`
	PermitJoin       bool                  `json:"permit_join"`
	PermitJoinEnd    string                `json:"permit_join_end,omitempty"`
	AvailabilityOn   bool                  `json:"availability_enabled"`
	Devices          int                   `json:"devices"`
	Groups           int                   `json:"groups"`
	Offline          []string              `json:"offline_devices"`
	Unsupported      []string              `json:"unsupported_devices"`
	Unroutable       []string              `json:"unroutable_names,omitempty"`
	RecentErrors     []devices.LogEntry    `json:"recent_errors,omitempty"`
	RecentEvents     []devices.BridgeEvent `json:"recent_events,omitempty"`
	DevicesReceived  bool                  `json:"devices_received"`
	RestartRequired  bool                  `json:"restart_required,omitempty"`
	MessagesReceived uint64                `json:"messages_received"`
}

// BridgeStatus returns what bridge_status reports (also used by `check`).
func (s *Server) BridgeStatus() bridgeStatus {
	snap := s.model.Snapshot()
	b := snap.Bridge
	st := bridgeStatus{
		Online: b.Online(), State: b.State, MQTTConnected: s.model.Connected(), Version: b.Version,
		Coordinator: b.Coordinator, PermitJoin: b.PermitJoin, AvailabilityOn: b.AvailabilityOn,
		Groups: len(snap.Groups()), Offline: []string{}, Unsupported: []string{},
		DevicesReceived: b.DevicesReceived, RestartRequired: b.RestartRequired, MessagesReceived: s.model.Messages(),
	}
	if st.State == "" {
		st.State = "unknown"
	}
	if !b.PermitJoinEnd.IsZero() {
		st.PermitJoinEnd = b.PermitJoinEnd.UTC().Format(time.RFC3339)
	}
	for _, d := range snap.Devices() {
		if d.Type == "Coordinator" || !s.policy.visible(d.FriendlyName) {
			continue
		}
		st.Devices++
		if s.model.Availability(d.IEEEAddress) == devices.AvailabilityOffline {
			st.Offline = append(st.Offline, d.FriendlyName)
		}
		if !d.Supported || d.Definition == nil {
			st.Unsupported = append(st.Unsupported, d.FriendlyName)
		}
		if devices.RoutableName(d.FriendlyName) != "" {
			st.Unroutable = append(st.Unroutable, d.FriendlyName)
		}
	}
	logs := s.model.RecentLogs()
	if len(logs) > 5 {
		logs = logs[len(logs)-5:]
	}
	st.RecentErrors = logs
	ev := s.model.RecentEvents()
	if len(ev) > 5 {
		ev = ev[len(ev)-5:]
	}
	st.RecentEvents = ev
	return st
}

func (s *Server) handleBridgeStatus(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	if _, err := newArgs("bridge_status", argsOf(req)); err != nil {
		return toolError("%v", err), nil
	}
	st := s.BridgeStatus()
	text := fmt.Sprintf("bridge %s (Zigbee2MQTT %s), MQTT connected %v, permit_join %v; %d devices, %d groups; offline: %s; unsupported: %s",
		st.State, orDash(st.Version), st.MQTTConnected, st.PermitJoin, st.Devices, st.Groups, listOrNone(st.Offline), listOrNone(st.Unsupported))
	if !st.AvailabilityOn {
		text += "; availability is off in Zigbee2MQTT, so offline devices are not known"
	}
	if len(st.RecentErrors) > 0 {
		text += "; last error: " + st.RecentErrors[len(st.RecentErrors)-1].Message
	}
	return structured(st, text), nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}
