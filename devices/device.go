package devices

import (
	"sort"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Device types as design.md derives them from exposes.
const (
	TypeLight   = "light"
	TypeClimate = "climate"
	TypeCover   = "cover"
	TypeLock    = "lock"
	TypeFan     = "fan"
	TypeSwitch  = "switch"
	TypeSensor  = "sensor"
	TypeOther   = "other"
)

// DeviceTypes lists every device type, in the order tools document them.
var DeviceTypes = []string{TypeLight, TypeSwitch, TypeClimate, TypeCover, TypeLock, TypeFan, TypeSensor, TypeOther}

// Scene is a scene stored on a device endpoint (group 0) or on a group.
type Scene struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Binding is one binding of an endpoint's cluster to another endpoint or group.
type Binding struct {
	Cluster    string `json:"cluster"`
	TargetType string `json:"target_type"`
	TargetIEEE string `json:"target_ieee,omitempty"`
	TargetEP   int    `json:"target_endpoint,omitempty"`
	TargetID   int    `json:"target_group,omitempty"`
}

// Endpoint is one endpoint of a device from bridge/devices.
type Endpoint struct {
	ID             int       `json:"id"`
	Name           string    `json:"name,omitempty"`
	InputClusters  []string  `json:"input_clusters,omitempty"`
	OutputClusters []string  `json:"output_clusters,omitempty"`
	Bindings       []Binding `json:"bindings,omitempty"`
	Scenes         []Scene   `json:"scenes,omitempty"`
}

// Definition is what zigbee-herdsman-converters knows of a device model.
// Definitions are shared between devices of the same model and never mutated.
type Definition struct {
	Model       string   `json:"model"`
	Vendor      string   `json:"vendor"`
	Description string   `json:"description"`
	Exposes     []Expose `json:"exposes"`
	Options     []Expose `json:"options,omitempty"`
	SupportsOTA bool     `json:"supports_ota"`
	Source      string   `json:"source,omitempty"`

	typ string // derived device type
}

// Device is one entry of bridge/devices. Devices are immutable once published
// in a Snapshot; the IEEE address is the stable identity.
type Device struct {
	IEEEAddress     string      `json:"ieee_address"`
	FriendlyName    string      `json:"friendly_name"`
	Type            string      `json:"type"` // Coordinator, Router, EndDevice, ...
	NetworkAddress  int         `json:"network_address"`
	Supported       bool        `json:"supported"`
	Disabled        bool        `json:"disabled"`
	Description     string      `json:"description,omitempty"`
	Definition      *Definition `json:"definition,omitempty"`
	PowerSource     string      `json:"power_source,omitempty"`
	ModelID         string      `json:"model_id,omitempty"`
	Manufacturer    string      `json:"manufacturer,omitempty"`
	SoftwareBuildID string      `json:"software_build_id,omitempty"`
	DateCode        string      `json:"date_code,omitempty"`
	InterviewState  string      `json:"interview_state,omitempty"`
	Endpoints       []Endpoint  `json:"endpoints,omitempty"` // sorted by ID
	Room            string      `json:"room,omitempty"`
}

// Exposes returns the device's exposes (nil without a definition).
func (d *Device) Exposes() []Expose {
	if d.Definition == nil {
		return nil
	}
	return d.Definition.Exposes
}

// Kind returns the device's type: its first specific expose in the order light,
// climate, cover, lock, fan, switch; otherwise sensor (publishes readable
// numeric or binary values) or other.
func (d *Device) Kind() string {
	if d.Type == "Coordinator" || d.Definition == nil {
		return TypeOther
	}
	return d.Definition.typ
}

// Sleepy reports whether the device is battery powered (it wakes to poll, so
// commands may take long to reach it).
func (d *Device) Sleepy() bool { return d.PowerSource == "Battery" }

// Specific returns the device's specific exposes of type typ (several where the
// device has endpoints, e.g. a 2-gang switch).
func (d *Device) Specific(typ string) []*Expose {
	var out []*Expose
	ex := d.Exposes()
	for i := range ex {
		if ex[i].Type == typ {
			out = append(out, &ex[i])
		}
	}
	return out
}

// FindProperty returns the generic expose whose state key is property,
// searching top-level exposes and the features of specific and composite ones.
func (d *Device) FindProperty(property string) *Expose {
	return findProperty(d.Exposes(), property)
}

func findProperty(ex []Expose, property string) *Expose {
	for i := range ex {
		e := &ex[i]
		if e.Property == property {
			return e
		}
		if e.IsSpecific() {
			if f := findProperty(e.Features, property); f != nil {
				return f
			}
		}
	}
	return nil
}

// EndpointByName returns the endpoint named name (e.g. "l1", "left") or with
// that number, or nil.
func (d *Device) EndpointByName(name string) *Endpoint {
	for i := range d.Endpoints {
		if d.Endpoints[i].Name == name || strconv.Itoa(d.Endpoints[i].ID) == name {
			return &d.Endpoints[i]
		}
	}
	return nil
}

// Scenes returns the device scenes of all endpoints (group 0 scenes).
func (d *Device) Scenes() []Scene {
	var out []Scene
	for _, ep := range d.Endpoints {
		out = append(out, ep.Scenes...)
	}
	return out
}

// GroupMember is one member endpoint of a group.
type GroupMember struct {
	IEEEAddress string `json:"ieee_address"`
	Endpoint    int    `json:"endpoint"`
}

// Group is one entry of bridge/groups.
type Group struct {
	ID           int           `json:"id"`
	FriendlyName string        `json:"friendly_name"`
	Description  string        `json:"description,omitempty"`
	Members      []GroupMember `json:"members"`
	Scenes       []Scene       `json:"scenes"`
}

func parseDevice(v gjson.Result, defs map[string]*Definition) (Device, bool) {
	var d Device
	var def, eps gjson.Result
	var interviewCompleted, interviewing bool
	// One pass over the object: a device entry is ~5 KB and Get would rescan it per field.
	v.ForEach(func(k, f gjson.Result) bool {
		switch k.Str {
		case "ieee_address":
			d.IEEEAddress = f.String()
		case "friendly_name":
			d.FriendlyName = f.String()
		case "type":
			d.Type = f.String()
		case "network_address":
			d.NetworkAddress = int(f.Int())
		case "supported":
			d.Supported = f.Bool()
		case "disabled":
			d.Disabled = f.Bool()
		case "description":
			d.Description = f.String()
		case "power_source":
			d.PowerSource = f.String()
		case "model_id":
			d.ModelID = f.String()
		case "manufacturer":
			d.Manufacturer = f.String()
		case "software_build_id":
			d.SoftwareBuildID = f.String()
		case "date_code":
			d.DateCode = f.String()
		case "interview_state":
			d.InterviewState = f.String()
		case "interview_completed":
			interviewCompleted = f.Bool()
		case "interviewing":
			interviewing = f.Bool()
		case "definition":
			def = f
		case "endpoints":
			eps = f
		}
		return true
	})
	if d.IEEEAddress == "" || d.FriendlyName == "" {
		return d, false
	}
	if d.InterviewState == "" { // before 2.3
		switch {
		case interviewCompleted:
			d.InterviewState = "SUCCESSFUL"
		case interviewing:
			d.InterviewState = "IN_PROGRESS"
		}
	}
	if def.IsObject() {
		// Devices of one model share one parsed definition.
		if cached, ok := defs[def.Raw]; ok {
			d.Definition = cached
		} else {
			pd := &Definition{
				Model:       def.Get("model").String(),
				Vendor:      def.Get("vendor").String(),
				Description: def.Get("description").String(),
				Exposes:     parseExposes(def.Get("exposes"), 0),
				Options:     parseExposes(def.Get("options"), 0),
				SupportsOTA: def.Get("supports_ota").Bool(),
				Source:      def.Get("source").String(),
			}
			pd.typ = deriveType(pd.Exposes)
			defs[def.Raw] = pd
			d.Definition = pd
		}
	}
	if eps.IsObject() {
		eps.ForEach(func(k, ep gjson.Result) bool {
			id, err := strconv.Atoi(k.Str)
			if err != nil || !ep.IsObject() {
				return true
			}
			e := Endpoint{ID: id}
			ep.ForEach(func(k, f gjson.Result) bool {
				switch k.Str {
				case "name":
					e.Name = f.String()
				case "clusters":
					f.Get("input").ForEach(func(_, c gjson.Result) bool {
						e.InputClusters = append(e.InputClusters, c.String())
						return true
					})
					f.Get("output").ForEach(func(_, c gjson.Result) bool {
						e.OutputClusters = append(e.OutputClusters, c.String())
						return true
					})
				case "bindings":
					f.ForEach(func(_, b gjson.Result) bool {
						t := b.Get("target")
						e.Bindings = append(e.Bindings, Binding{
							Cluster:    b.Get("cluster").String(),
							TargetType: t.Get("type").String(),
							TargetIEEE: t.Get("ieee_address").String(),
							TargetEP:   int(t.Get("endpoint").Int()),
							TargetID:   int(t.Get("id").Int()),
						})
						return true
					})
				case "scenes":
					e.Scenes = parseScenes(f)
				}
				return true
			})
			d.Endpoints = append(d.Endpoints, e)
			return true
		})
		sort.Slice(d.Endpoints, func(i, j int) bool { return d.Endpoints[i].ID < d.Endpoints[j].ID })
	}
	return d, true
}

func parseScenes(r gjson.Result) []Scene {
	var out []Scene
	r.ForEach(func(_, s gjson.Result) bool {
		if s.IsObject() {
			sc := Scene{ID: int(s.Get("id").Int()), Name: s.Get("name").String()}
			if sc.Name == "" {
				sc.Name = "Scene " + strconv.Itoa(sc.ID)
			}
			out = append(out, sc)
		}
		return true
	})
	return out
}

func parseGroup(v gjson.Result) (Group, bool) {
	g := Group{
		ID:           int(v.Get("id").Int()),
		FriendlyName: v.Get("friendly_name").String(),
		Description:  v.Get("description").String(),
		Members:      []GroupMember{},
		Scenes:       parseScenes(v.Get("scenes")),
	}
	if g.FriendlyName == "" {
		if !v.Get("id").Exists() {
			return g, false
		}
		g.FriendlyName = strconv.Itoa(g.ID)
	}
	v.Get("members").ForEach(func(_, m gjson.Result) bool {
		if m.IsObject() {
			g.Members = append(g.Members, GroupMember{
				IEEEAddress: m.Get("ieee_address").String(),
				Endpoint:    int(m.Get("endpoint").Int()),
			})
		}
		return true
	})
	if g.Scenes == nil {
		g.Scenes = []Scene{}
	}
	return g, true
}

func deriveType(ex []Expose) string {
	for _, t := range specificTypes {
		for i := range ex {
			if ex[i].Type == t {
				return t
			}
		}
	}
	for i := range ex {
		e := &ex[i]
		if (e.Type == "numeric" || e.Type == "binary") && e.Can(AccessState) && e.Property != "linkquality" {
			return TypeSensor
		}
	}
	return TypeOther
}

// RoomOf derives a room from a friendly name's first path segment
// ("living_room/ceiling" → "living_room"); a name without '/' has no room.
func RoomOf(name string) string {
	if i := strings.IndexByte(name, '/'); i > 0 {
		return name[:i]
	}
	return ""
}

// RoutableName reports why Zigbee2MQTT cannot route commands to name, or ""
// when it can: names starting with "bridge" never match its command topic, and
// a "set" or "get" path segment splits the topic in the wrong place.
func RoutableName(name string) string {
	if strings.HasPrefix(name, "bridge") {
		return "Zigbee2MQTT cannot address names starting with 'bridge'"
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "set" || seg == "get" {
			return "Zigbee2MQTT cannot address names with a '" + seg + "' path segment"
		}
	}
	return ""
}
