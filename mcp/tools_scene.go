package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

type sceneEntry struct {
	Target string `json:"target"`
	Kind   string `json:"kind"` // group or device
	ID     int    `json:"id"`
	Name   string `json:"name"`
}

type scenesOutput struct {
	Scenes []sceneEntry `json:"scenes"`
}

// sceneHolder is a group or device that scenes are stored on.
type sceneHolder struct {
	group *devices.Group
	dev   *devices.Device
}

func (h sceneHolder) name() string {
	if h.group != nil {
		return h.group.FriendlyName
	}
	return h.dev.FriendlyName
}

func (h sceneHolder) scenes(snap *devices.Snapshot) []devices.Scene {
	if h.group != nil {
		if g := snap.Group(strconv.Itoa(h.group.ID)); g != nil {
			return g.Scenes
		}
		return nil
	}
	if d := snap.DeviceByIEEE(h.dev.IEEEAddress); d != nil {
		return d.Scenes()
	}
	return nil
}

func (s *Server) holder(snap *devices.Snapshot, name string) (sceneHolder, error) {
	if err := checkName(name); err != nil {
		return sceneHolder{}, err
	}
	kind, found := s.lookup(snap, name)
	switch x := found.(type) {
	case *devices.Group:
		for _, d := range snap.Members(x) {
			if !s.policy.visible(d.FriendlyName) {
				return sceneHolder{}, fmt.Errorf("group %q contains %q, which this server's device policy does not allow", x.FriendlyName, d.FriendlyName)
			}
		}
		return sceneHolder{group: x}, nil
	case *devices.Device:
		if !s.policy.visible(x.FriendlyName) {
			return sceneHolder{}, fmt.Errorf("%q is not allowed by this server's device policy (--allow/--deny)", name)
		}
		return sceneHolder{dev: x}, nil
	case string:
		return sceneHolder{}, fmt.Errorf("%q is a %s; scenes live on a group or a device", name, kind)
	}
	return sceneHolder{}, s.unknownName(snap, name)
}

func (s *Server) handleListScenes(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	a, err := newArgs("list_scenes", argsOf(req), "target")
	if err != nil {
		return toolError("%v", err), nil
	}
	target, err := a.str("target")
	if err != nil {
		return toolError("list_scenes: %v", err), nil
	}
	snap := s.snapshot(ctx)
	out := scenesOutput{Scenes: []sceneEntry{}}
	add := func(h sceneHolder) {
		kind := "device"
		if h.group != nil {
			kind = "group"
		}
		for _, sc := range h.scenes(snap) {
			out.Scenes = append(out.Scenes, sceneEntry{Target: h.name(), Kind: kind, ID: sc.ID, Name: sc.Name})
		}
	}
	if target != "" {
		h, err := s.holder(snap, target)
		if err != nil {
			return toolError("list_scenes: %v", err), nil
		}
		add(h)
	} else {
		for _, g := range snap.Groups() {
			add(sceneHolder{group: g})
		}
		for _, d := range snap.Devices() {
			if s.policy.visible(d.FriendlyName) {
				add(sceneHolder{dev: d})
			}
		}
	}
	var text strings.Builder
	fmt.Fprintf(&text, "%d scenes", len(out.Scenes))
	for _, e := range out.Scenes {
		fmt.Fprintf(&text, "\n%s %s: %d %q", e.Kind, e.Target, e.ID, e.Name)
	}
	return structured(out, text.String()), nil
}

// sceneID resolves a scene argument (id or name) against a holder's scenes.
func sceneID(a *args, snap *devices.Snapshot, h sceneHolder) (int, string, error) {
	v := a.m["scene"]
	known := h.scenes(snap)
	list := func() string {
		if len(known) == 0 {
			return h.name() + " has no scenes"
		}
		parts := make([]string, len(known))
		for i, sc := range known {
			parts[i] = fmt.Sprintf("%d %q", sc.ID, sc.Name)
		}
		return h.name() + " has: " + strings.Join(parts, ", ")
	}
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || x < 0 || x > 255 {
			return 0, "", fmt.Errorf("scene id must be a whole number 0–255, got %s", fmtNum(x))
		}
		for _, sc := range known {
			if sc.ID == int(x) {
				return sc.ID, sc.Name, nil
			}
		}
		return 0, "", fmt.Errorf("no scene %d on %s; %s", int(x), h.name(), list())
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			a.m["scene"] = float64(n)
			return sceneID(a, snap, h)
		}
		for _, sc := range known {
			if strings.EqualFold(sc.Name, strings.TrimSpace(x)) {
				return sc.ID, sc.Name, nil
			}
		}
		return 0, "", fmt.Errorf("no scene named %q on %s; %s", clip(x, 60), h.name(), list())
	}
	return 0, "", fmt.Errorf("scene must be a scene id (integer) or name (string), got %s", typeName(v))
}

// sceneTarget reads the target argument and resolves it to a group or
// device; bad is the tool error to return when that fails.
func (s *Server) sceneTarget(ctx context.Context, tool string, a *args) (target string, snap *devices.Snapshot, h sceneHolder, bad *mcpgo.CallToolResult) {
	target, err := a.str("target")
	if err == nil && target == "" {
		err = fmt.Errorf("target is required: a group or device")
	}
	if err == nil {
		snap = s.snapshot(ctx)
		h, err = s.holder(snap, target)
	}
	if err != nil {
		return "", nil, h, toolError("%s: %v; nothing was sent", tool, err)
	}
	return target, snap, h, nil
}

func (s *Server) handleRecallScene(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	const tool = "recall_scene"
	if r := s.setterGate(ctx, tool); r != nil {
		return r, nil
	}
	a, err := newArgs(tool, argsOf(req), withConfirmArgs("scene", "target")...)
	if err != nil {
		return toolError("%v", err), nil
	}
	opts, err := execOptions(a)
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	target, snap, h, bad := s.sceneTarget(ctx, tool, a)
	if bad != nil {
		return bad, nil
	}
	id, _, err := sceneID(a, snap, h)
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	payload := map[string]any{"scene_recall": float64(id)}
	cmd := func(d *devices.Device) devices.Command {
		return devices.Command{Device: d, Payload: payload, AnyReport: true, Idempotent: false}
	}
	var targets []devices.Target
	if h.group != nil {
		members := snap.Members(h.group)
		if len(members) == 0 {
			return toolError("%s: group %s has no members; nothing was sent", tool, h.name()), nil
		}
		for _, d := range members {
			targets = append(targets, devices.Target{Asked: target, Command: cmd(d)})
		}
		opts.Group = h.group
	} else {
		targets = []devices.Target{{Asked: target, Command: cmd(h.dev)}}
	}
	return s.execute(ctx, tool, targets, opts), nil
}

// freeSceneID returns the first scene id ≥ 1 not used on the holder.
func freeSceneID(known []devices.Scene) int {
	used := map[int]bool{}
	for _, sc := range known {
		used[sc.ID] = true
	}
	for id := 1; id <= 255; id++ {
		if !used[id] {
			return id
		}
	}
	return -1
}

func (s *Server) handleStoreScene(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	const tool = "store_scene"
	if r := s.setterGate(ctx, tool); r != nil {
		return r, nil
	}
	a, err := newArgs(tool, argsOf(req), "scene", "target", "id", "timeout_ms")
	if err != nil {
		return toolError("%v", err), nil
	}
	name, err := a.str("scene")
	if err == nil && strings.TrimSpace(name) == "" {
		err = fmt.Errorf("scene must be a scene name")
	}
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	name = strings.TrimSpace(name)
	idArg, err := a.integer("id", 1, 255)
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	timeout, err := a.integer("timeout_ms", 100, 120000)
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	target, snap, h, bad := s.sceneTarget(ctx, tool, a)
	if bad != nil {
		return bad, nil
	}
	known := h.scenes(snap)
	id := freeSceneID(known)
	if idArg != nil {
		id = *idArg
	} else {
		for _, sc := range known { // storing under an existing name overwrites it
			if strings.EqualFold(sc.Name, name) {
				id = sc.ID
			}
		}
	}
	if id < 0 {
		return toolError("%s: %s has no free scene id (1–255); remove one first; nothing was sent", tool, h.name()), nil
	}
	payload := map[string]any{"scene_store": map[string]any{"ID": float64(id), "name": name}}
	listed := func(sn *devices.Snapshot) bool {
		for _, sc := range h.scenes(sn) {
			if sc.ID == id && sc.Name == name {
				return true
			}
		}
		return false
	}
	return s.sceneChange(ctx, tool, target, h, payload, timeout, listed, fmt.Sprintf("scene %d %q is listed on %s", id, name, h.name())), nil
}

func (s *Server) handleRemoveScene(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	const tool = "remove_scene"
	if r := s.setterGate(ctx, tool); r != nil {
		return r, nil
	}
	a, err := newArgs(tool, argsOf(req), "scene", "target", "timeout_ms")
	if err != nil {
		return toolError("%v", err), nil
	}
	timeout, err := a.integer("timeout_ms", 100, 120000)
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	target, snap, h, bad := s.sceneTarget(ctx, tool, a)
	if bad != nil {
		return bad, nil
	}
	id, name, err := sceneID(a, snap, h)
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	payload := map[string]any{"scene_remove": float64(id)}
	gone := func(sn *devices.Snapshot) bool {
		for _, sc := range h.scenes(sn) {
			if sc.ID == id {
				return false
			}
		}
		return true
	}
	return s.sceneChange(ctx, tool, target, h, payload, timeout, gone, fmt.Sprintf("scene %d %q is no longer listed on %s", id, name, h.name())), nil
}

// sceneChange publishes a scene store/remove and waits until the inventory
// shows it (Zigbee2MQTT republishes bridge/devices and bridge/groups), or a
// bridge/logging error names the target, or the timeout.
func (s *Server) sceneChange(ctx context.Context, tool, asked string, h sceneHolder, payload map[string]any, timeoutMS *int, done func(*devices.Snapshot) bool, what string) *mcpgo.CallToolResult {
	start := time.Now()
	limit := 5 * time.Second
	if s.exec.Timeout > 0 {
		limit = s.exec.Timeout
	}
	if timeoutMS != nil {
		limit = time.Duration(*timeoutMS) * time.Millisecond
	}
	r := devices.Result{Target: asked, Device: h.name(), Sent: payload, Attempts: 1}
	finish := func(st devices.Status, reason string) *mcpgo.CallToolResult {
		r.Status, r.Reason = st, reason
		r.LatencyMS = time.Since(start).Milliseconds()
		return s.setterResult(ctx, tool, start, []devices.Result{r})
	}
	snap := s.snapshot(ctx)
	switch {
	case snap.Bridge.State != "" && !snap.Bridge.Online():
		return finish(devices.StatusFailed, "bridge offline: Zigbee2MQTT's bridge/state is offline, so nothing was sent")
	case !s.model.Connected():
		return finish(devices.StatusFailed, "MQTT link down: not connected to the broker, so nothing was sent")
	}
	key := devices.GroupKey(h.group)
	if h.group == nil {
		key = h.dev.IEEEAddress
	}
	// Errors may name the group or, for group scenes, a member.
	keys := []string{key}
	if h.group != nil {
		for _, d := range snap.Members(h.group) {
			keys = append(keys, d.IEEEAddress)
		}
	}
	var watchers []*devices.Watcher
	errs := make(chan *devices.LogError, 1)
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for _, k := range keys {
		w := s.model.Watch(k)
		watchers = append(watchers, w)
		go func() {
			for {
				ev, err := w.Next(wctx)
				if err != nil {
					return
				}
				if ev.Kind == devices.EventError {
					select {
					case errs <- ev.Error:
					default:
					}
					return
				}
			}
		}()
	}
	defer func() {
		for _, w := range watchers {
			w.Close()
		}
	}()
	base := s.model.Snapshot().Generation
	body, _ := json.Marshal(payload)
	if err := s.pub.Publish(ctx, s.model.BaseTopic()+"/"+h.name()+"/set", body); err != nil {
		return finish(devices.StatusFailed, "publish failed: "+err.Error())
	}
	listed := make(chan error, 1)
	go func() {
		// Only an inventory republished after the command counts.
		_, err := s.model.WaitSnapshot(wctx, func(sn *devices.Snapshot) bool { return sn.Generation > base && done(sn) })
		listed <- err
	}()
	select {
	case le := <-errs:
		return finish(devices.StatusFailed, "Zigbee2MQTT: "+le.Reason)
	case err := <-listed:
		if err == nil {
			// An error may race the republish; prefer it when both came.
			select {
			case le := <-errs:
				return finish(devices.StatusFailed, "Zigbee2MQTT: "+le.Reason)
			default:
			}
			return finish(devices.StatusConfirmed, "")
		}
		return finish(devices.StatusTimeout, fmt.Sprintf("not confirmed within %s: waited until %s in bridge/devices and bridge/groups", limit, what))
	}
}
