package mcp

import (
	"fmt"
	"sort"
	"strings"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

// target is one device a tool call addresses, with the name it was asked by.
type target struct {
	asked string
	dev   *devices.Device
}

// resolution is the outcome of resolving a call's target names.
type resolution struct {
	targets []target
	// group is set when the call named exactly one Zigbee2MQTT group.
	group *devices.Group
}

// resolveTargets maps names to devices in design.md's order: exact device
// name or IEEE address, group name, room, "all"; then a unique
// case-insensitive match. Rooms and "all" expand to the devices of the
// tool's kinds; groups and explicit names are taken as they are (a device
// that lacks the capability is then reported "unsupported"). Fuzzy matches
// are never acted on: they are errors that list the closest names.
func (s *Server) resolveTargets(snap *devices.Snapshot, names []string, kinds ...string) (*resolution, error) {
	res := &resolution{}
	seen := map[string]bool{}
	add := func(asked string, d *devices.Device) {
		if d == nil || seen[d.IEEEAddress] || d.Type == "Coordinator" {
			return
		}
		seen[d.IEEEAddress] = true
		res.targets = append(res.targets, target{asked: asked, dev: d})
	}
	ofKind := func(d *devices.Device) bool {
		if len(kinds) == 0 {
			return true
		}
		return contains(kinds, d.Kind())
	}
	var groups []*devices.Group
	partial := false
	for _, name := range names {
		kind, found := s.lookup(snap, name)
		switch found := found.(type) {
		case *devices.Device:
			if !s.policy.visible(found.FriendlyName) {
				return nil, fmt.Errorf("%q is not allowed by this server's device policy (--allow/--deny)", name)
			}
			add(name, found)
		case *devices.Group:
			// A member the policy hides is left out, and then the group is
			// not commanded as a whole: the others are addressed one by one.
			whole := true
			for _, d := range snap.Members(found) {
				if !s.policy.visible(d.FriendlyName) {
					whole = false
					continue
				}
				add(name, d)
			}
			if whole {
				groups = append(groups, found)
			} else {
				partial = true
			}
		case string: // a room, or "all"
			for _, d := range snap.Devices() {
				if (kind == "all" || d.Room == found) && ofKind(d) && s.policy.visible(d.FriendlyName) {
					add(name, d)
				}
			}
		default:
			return nil, s.unknownName(snap, name)
		}
	}
	if len(names) == 1 && len(groups) == 1 && !partial {
		res.group = groups[0]
	}
	if len(res.targets) == 0 {
		what := "devices"
		if len(kinds) > 0 {
			what = strings.Join(kinds, " or ") + " devices"
		}
		return nil, fmt.Errorf("%s contains no %s this tool can drive", quoteList(names), what)
	}
	return res, nil
}

// lookup finds one name. It returns ("device", *Device), ("group", *Group),
// ("room"|"all", room string) or ("", nil).
func (s *Server) lookup(snap *devices.Snapshot, name string) (string, any) {
	if d := snap.Device(name); d != nil {
		return "device", d
	}
	if g := snap.Group(name); g != nil && g.FriendlyName == name {
		return "group", g
	}
	rooms := snap.Rooms()
	if _, ok := rooms[name]; ok {
		return "room", name
	}
	if strings.EqualFold(name, "all") {
		return "all", ""
	}
	// A unique case-insensitive match is accepted.
	var hits []any
	var kind string
	for _, d := range snap.Devices() {
		if strings.EqualFold(d.FriendlyName, name) {
			hits, kind = append(hits, d), "device"
		}
	}
	for _, g := range snap.Groups() {
		if strings.EqualFold(g.FriendlyName, name) {
			hits, kind = append(hits, g), "group"
		}
	}
	for r := range rooms {
		if strings.EqualFold(r, name) {
			hits, kind = append(hits, r), "room"
		}
	}
	if len(hits) == 1 {
		return kind, hits[0]
	}
	return "", nil
}

// typeWords maps words a model may use for a kind of device to the type.
var typeWords = map[string]string{
	"light": "light", "lights": "light", "lamp": "light", "lamps": "light", "bulb": "light", "bulbs": "light",
	"switch": "switch", "switches": "switch", "plug": "switch", "plugs": "switch", "socket": "switch", "sockets": "switch",
	"thermostat": "climate", "thermostats": "climate", "radiator": "climate", "radiators": "climate", "trv": "climate", "heating": "climate",
	"blind": "cover", "blinds": "cover", "cover": "cover", "covers": "cover", "shade": "cover", "shades": "cover", "curtain": "cover", "curtains": "cover",
	"lock": "lock", "locks": "lock", "sensor": "sensor", "sensors": "sensor",
}

// unknownName builds the error for a name that matched nothing, listing the
// closest valid names.
func (s *Server) unknownName(snap *devices.Snapshot, name string) error {
	cands := s.candidates(snap)
	best := closest(name, cands, 3)
	msg := fmt.Sprintf("%q is not a device, group or room", clip(name, 60))
	if typ, ok := typeWords[strings.ToLower(strings.TrimSpace(name))]; ok {
		msg += fmt.Sprintf(" (it is a kind of device: list_devices with type=%q shows them; name devices, a room, or \"all\")", typ)
	}
	if len(best) > 0 {
		msg += "; did you mean " + quoteList(best) + "?"
	}
	return fmt.Errorf("%s (list_devices shows every name)", msg)
}

func (s *Server) candidates(snap *devices.Snapshot) []string {
	var out []string
	for _, d := range snap.Devices() {
		if d.Type != "Coordinator" && s.policy.visible(d.FriendlyName) {
			out = append(out, d.FriendlyName)
		}
	}
	for _, g := range snap.Groups() {
		out = append(out, g.FriendlyName)
	}
	for r := range snap.Rooms() {
		out = append(out, r)
	}
	return out
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// closest returns up to n candidates near name: likely typos first (a small
// edit distance to the whole name or its last segment), then names that
// contain it, then names it contains.
func closest(name string, cands []string, n int) []string {
	type scored struct {
		s     string
		score int
	}
	lname := strings.ToLower(strings.TrimSpace(name))
	if lname == "" {
		return nil
	}
	var list []scored
	for _, c := range cands {
		lc := strings.ToLower(c)
		ed := devices.EditDistance(lname, lc)
		if seg := lc[strings.LastIndex(lc, "/")+1:]; seg != lc {
			ed = min(ed, devices.EditDistance(lname, seg))
		}
		var d int
		switch {
		case ed <= max(1, len([]rune(lname))/4):
			d = -300 + ed // a typo
		case strings.Contains(lc, lname):
			d = -100 + len(lc) - len(lname) // contains it: less extra text first
		case strings.Contains(lname, lc) && len(lc) >= 3:
			d = -50 + len(lname) - len(lc)
		default:
			continue
		}
		list = append(list, scored{c, d})
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].score != list[j].score {
			return list[i].score < list[j].score
		}
		return list[i].s < list[j].s
	})
	var out []string
	seen := map[string]bool{}
	for _, x := range list {
		if len(out) == n {
			break
		}
		if !seen[x.s] {
			seen[x.s] = true
			out = append(out, x.s)
		}
	}
	return out
}
