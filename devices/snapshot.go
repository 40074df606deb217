package devices

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// BridgeInfo is what z2m-mcp keeps of bridge/state and bridge/info.
type BridgeInfo struct {
	// State is "online", "offline" or "" (never seen).
	State              string    `json:"state"`
	Version            string    `json:"version,omitempty"`
	Commit             string    `json:"commit,omitempty"`
	Coordinator        string    `json:"coordinator_type,omitempty"`
	CoordinatorIEEE    string    `json:"coordinator_ieee,omitempty"`
	Channel            int       `json:"channel,omitempty"`
	PanID              int       `json:"pan_id,omitempty"`
	LogLevel           string    `json:"log_level,omitempty"`
	PermitJoin         bool      `json:"permit_join"`
	PermitJoinEnd      time.Time `json:"permit_join_end,omitempty"`
	RestartRequired    bool      `json:"restart_required"`
	AvailabilityOn     bool      `json:"availability_enabled"`
	CacheState         bool      `json:"cache_state"`
	LastSeen           string    `json:"last_seen,omitempty"`
	HerdsmanVersion    string    `json:"zigbee_herdsman,omitempty"`
	ConvertersVersion  string    `json:"zigbee_herdsman_converters,omitempty"`
	InfoReceived       bool      `json:"info_received"`
	DevicesReceived    bool      `json:"devices_received"`
	GroupsReceived     bool      `json:"groups_received"`
	StateChangedAt     time.Time `json:"state_changed_at,omitempty"`
	DevicesReceivedAt  time.Time `json:"devices_received_at,omitempty"`
	legacyStatePayload bool
}

// Online reports whether the bridge said it is online.
func (b BridgeInfo) Online() bool { return b.State == "online" }

// Snapshot is an immutable view of the inventory: bridge, devices and groups.
// A new Snapshot replaces the old one whenever a bridge/* message changes the
// inventory, so readers can keep and share one without locks.
type Snapshot struct {
	Bridge BridgeInfo
	// Generation increases with every bridge/devices and bridge/groups
	// message, so a caller can wait for the inventory republished after a
	// command.
	Generation uint64
	devices    []*Device // sorted by friendly name
	groups     []*Group  // sorted by friendly name
	byIEEE     map[string]*Device
	byName     map[string]*Device
	groupBy    map[string]*Group // by friendly name and by numeric ID string
	// memberOf maps an IEEE address to the groups it belongs to.
	memberOf map[string][]*Group
	rooms    map[string]string // optional friendly name → room mapping
	// roomIndex maps each room to its devices' names (built with devices).
	roomIndex map[string][]string
}

func emptySnapshot() *Snapshot {
	return &Snapshot{
		byIEEE:   map[string]*Device{},
		byName:   map[string]*Device{},
		groupBy:  map[string]*Group{},
		memberOf: map[string][]*Group{},
	}
}

// Devices returns all devices sorted by friendly name (including the coordinator).
func (s *Snapshot) Devices() []*Device { return s.devices }

// Groups returns all groups sorted by friendly name.
func (s *Snapshot) Groups() []*Group { return s.groups }

// Device returns the device with that friendly name or IEEE address.
func (s *Snapshot) Device(nameOrIEEE string) *Device {
	if d := s.byName[nameOrIEEE]; d != nil {
		return d
	}
	return s.byIEEE[nameOrIEEE]
}

// DeviceByIEEE returns the device with that IEEE address.
func (s *Snapshot) DeviceByIEEE(ieee string) *Device { return s.byIEEE[ieee] }

// Group returns the group with that friendly name or numeric ID.
func (s *Snapshot) Group(nameOrID string) *Group { return s.groupBy[nameOrID] }

// GroupsOf returns the groups a device is a member of.
func (s *Snapshot) GroupsOf(ieee string) []*Group { return s.memberOf[ieee] }

// IsKnownName reports whether name is exactly a device or group friendly name.
func (s *Snapshot) IsKnownName(name string) bool {
	if _, ok := s.byName[name]; ok {
		return true
	}
	g, ok := s.groupBy[name]
	return ok && g.FriendlyName == name
}

// Rooms returns every room with its devices' friendly names, sorted. The
// map is shared: do not modify it.
func (s *Snapshot) Rooms() map[string][]string {
	if s.roomIndex == nil {
		return map[string][]string{}
	}
	return s.roomIndex
}

// Members returns a group's member devices (unknown IEEE addresses skipped).
func (s *Snapshot) Members(g *Group) []*Device {
	var out []*Device
	seen := map[string]bool{}
	for _, m := range g.Members {
		if d := s.byIEEE[m.IEEEAddress]; d != nil && !seen[d.IEEEAddress] {
			seen[d.IEEEAddress] = true
			out = append(out, d)
		}
	}
	return out
}

// roomFor applies the optional mapping, then the first path segment.
func roomFor(name string, rooms map[string]string) string {
	if r, ok := rooms[name]; ok {
		return r
	}
	return RoomOf(name)
}

// withDevices returns a copy of s with a new device list.
func (s *Snapshot) withDevices(list []Device) *Snapshot {
	n := *s
	n.Generation++
	n.devices = make([]*Device, 0, len(list))
	n.byIEEE = make(map[string]*Device, len(list))
	n.byName = make(map[string]*Device, len(list))
	for i := range list {
		d := &list[i]
		if _, dup := n.byIEEE[d.IEEEAddress]; dup {
			continue
		}
		d.Room = roomFor(d.FriendlyName, s.rooms)
		n.devices = append(n.devices, d)
		n.byIEEE[d.IEEEAddress] = d
		n.byName[d.FriendlyName] = d
	}
	sort.Slice(n.devices, func(i, j int) bool { return n.devices[i].FriendlyName < n.devices[j].FriendlyName })
	n.roomIndex = map[string][]string{}
	for _, d := range n.devices {
		if d.Room != "" {
			n.roomIndex[d.Room] = append(n.roomIndex[d.Room], d.FriendlyName)
		}
	}
	n.reindexMembers()
	return &n
}

// withGroups returns a copy of s with a new group list.
func (s *Snapshot) withGroups(list []Group) *Snapshot {
	n := *s
	n.Generation++
	n.groups = make([]*Group, 0, len(list))
	n.groupBy = make(map[string]*Group, 2*len(list))
	for i := range list {
		g := &list[i]
		n.groups = append(n.groups, g)
		n.groupBy[g.FriendlyName] = g
		n.groupBy[strconv.Itoa(g.ID)] = g
	}
	sort.Slice(n.groups, func(i, j int) bool { return n.groups[i].FriendlyName < n.groups[j].FriendlyName })
	n.reindexMembers()
	return &n
}

func (s *Snapshot) withRooms(rooms map[string]string) *Snapshot {
	n := *s
	n.rooms = rooms
	list := make([]Device, len(s.devices))
	for i, d := range s.devices {
		list[i] = *d
	}
	return n.withDevices(list)
}

func (s *Snapshot) reindexMembers() {
	s.memberOf = map[string][]*Group{}
	for _, g := range s.groups {
		seen := map[string]bool{}
		for _, m := range g.Members {
			if !seen[m.IEEEAddress] {
				seen[m.IEEEAddress] = true
				s.memberOf[m.IEEEAddress] = append(s.memberOf[m.IEEEAddress], g)
			}
		}
	}
}

// resolveTopic maps the part of a topic after "<base>/" to an entity. It
// matches against known names only (names may contain '/' and '.'), never by
// splitting: kind is "state" or "availability", ok false when unknown.
func (s *Snapshot) resolveTopic(rest string) (name string, kind string, ok bool) {
	if s.IsKnownName(rest) {
		return rest, "state", true
	}
	if n, found := strings.CutSuffix(rest, "/availability"); found && s.IsKnownName(n) {
		return n, "availability", true
	}
	return "", "", false
}

// entityKey is the key of per-entity state: the IEEE address for devices and
// "group:<id>" for groups.
func (s *Snapshot) entityKey(name string) string {
	if d := s.byName[name]; d != nil {
		return d.IEEEAddress
	}
	if g := s.groupBy[name]; g != nil {
		return groupKey(g.ID)
	}
	return ""
}

func groupKey(id int) string { return "group:" + strconv.Itoa(id) }

// GroupKey is the key under which a group's state and availability are kept.
func GroupKey(g *Group) string { return groupKey(g.ID) }
