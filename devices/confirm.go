package devices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/rs/zerolog"
)

// Status is the outcome of a command for one target (design.md: the only ones).
type Status string

// Statuses.
const (
	StatusConfirmed   Status = "confirmed"
	StatusAssumed     Status = "assumed"
	StatusSent        Status = "sent"
	StatusFailed      Status = "failed"
	StatusOffline     Status = "offline"
	StatusUnsupported Status = "unsupported"
	StatusTimeout     Status = "timeout"
)

// Succeeded reports whether the status counts as success for isError.
func (s Status) Succeeded() bool {
	return s == StatusConfirmed || s == StatusAssumed || s == StatusSent
}

// Result is the per-target outcome of a setter.
type Result struct {
	Target    string         `json:"target"`
	Device    string         `json:"device"`
	Status    Status         `json:"status"`
	Reason    string         `json:"reason,omitempty"`
	Sent      map[string]any `json:"sent,omitempty"`
	State     map[string]any `json:"state,omitempty"`
	Attempts  int            `json:"attempts"`
	LatencyMS int64          `json:"latency_ms"`
}

// Target is one device to command: the name as the caller asked for it and
// the command built for the device.
type Target struct {
	Asked   string
	Command Command
}

// Verify modes.
const (
	VerifyEcho     = "echo"
	VerifyReadback = "readback"
)

// ExecOptions are a setter's confirmation options.
type ExecOptions struct {
	// NoConfirm publishes and returns "sent" without waiting.
	NoConfirm bool
	// Verify is VerifyEcho (default) or VerifyReadback.
	Verify string
	// Timeout bounds the whole call, retries included; 0 means the
	// executor's per-device defaults (sleepy devices get longer).
	Timeout time.Duration
	// Retries re-sends an idempotent command that timed out (default 1 is
	// applied by callers; 0 means none).
	Retries int
	// Group, when set, means the caller asked for exactly this group: the
	// targets are its members and one group publish is used when every
	// member gets the same payload.
	Group *Group
}

// Executor publishes commands and confirms them against the model.
type Executor struct {
	Model *Model
	Pub   Publisher
	Log   zerolog.Logger
	// Timeout is the default confirmation timeout (5 s).
	Timeout time.Duration
	// SleepyTimeout is the default for battery devices (30 s).
	SleepyTimeout time.Duration
	// Settle is how long a command with nothing to echo waits for an error
	// before it ends "assumed" (250 ms).
	Settle time.Duration
}

// z2mGiveUp is how long Zigbee2MQTT waits for an unreachable device.
const z2mGiveUp = 10 * time.Second

func (e *Executor) timeouts() (normal, sleepy, settle time.Duration) {
	normal, sleepy, settle = e.Timeout, e.SleepyTimeout, e.Settle
	if normal <= 0 {
		normal = 5 * time.Second
	}
	if sleepy <= 0 {
		sleepy = 30 * time.Second
	}
	if settle <= 0 {
		settle = 250 * time.Millisecond
	}
	return
}

// Execute sends every target's command and waits, concurrently, for each to
// be confirmed, to fail or to time out. Results keep the targets' order.
func (e *Executor) Execute(ctx context.Context, targets []Target, opts ExecOptions) []Result {
	start := time.Now()
	results := make([]Result, len(targets))
	if opts.Verify == "" {
		opts.Verify = VerifyEcho
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	snap := e.Model.Snapshot()
	pending := make([]int, 0, len(targets))
	for i, t := range targets {
		r := &results[i]
		r.Target = t.Asked
		if t.Command.Device != nil {
			r.Device = t.Command.Device.FriendlyName
		}
		switch {
		case t.Command.Unsupported != "":
			r.Status, r.Reason = StatusUnsupported, t.Command.Unsupported
		case t.Command.Device == nil:
			r.Status, r.Reason = StatusFailed, "no device"
		case !snap.Bridge.Online() && snap.Bridge.State != "":
			r.Status, r.Reason = StatusFailed, "bridge offline: Zigbee2MQTT's bridge/state is offline, so nothing was sent"
		case !e.Model.Connected():
			r.Status, r.Reason = StatusFailed, "MQTT link down: not connected to the broker, so nothing was sent"
		default:
			if why := RoutableName(r.Device); why != "" {
				r.Status, r.Reason = StatusFailed, why
			} else if err := CheckTopicName(r.Device); err != nil {
				r.Status, r.Reason = StatusFailed, err.Error()
			} else {
				pending = append(pending, i)
			}
		}
	}
	if len(pending) == 0 {
		return results
	}
	if g := e.groupcast(snap, targets, pending, opts.Group); g != nil {
		e.runGroup(ctx, start, g, targets, pending, results, opts)
		return results
	}
	if len(pending) == 1 { // the common single-target call needs no goroutine
		e.runTarget(ctx, start, &targets[pending[0]], &results[pending[0]], opts)
		return results
	}
	var wg sync.WaitGroup
	for _, i := range pending {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e.runTarget(ctx, start, &targets[i], &results[i], opts)
		}(i)
	}
	wg.Wait()
	return results
}

// groupcast returns the group to publish to once, or nil: the pending targets
// must be exactly the group's member devices, every target pending (nothing
// unsupported), and every payload the same.
func (e *Executor) groupcast(snap *Snapshot, targets []Target, pending []int, asked *Group) *Group {
	if len(pending) != len(targets) || len(pending) == 0 {
		return nil // some target is not commanded: address the others one by one
	}
	if len(pending) < 2 && asked == nil {
		return nil // one device named on its own
	}
	first, err := json.Marshal(targets[pending[0]].Command.Payload)
	if err != nil {
		return nil
	}
	ieees := map[string]bool{}
	for _, i := range pending {
		p, err := json.Marshal(targets[i].Command.Payload)
		if err != nil || string(p) != string(first) {
			return nil
		}
		ieees[targets[i].Command.Device.IEEEAddress] = true
	}
	same := func(g *Group) bool {
		members := snap.Members(g)
		if len(members) != len(ieees) || len(members) == 0 {
			return false
		}
		for _, d := range members {
			if !ieees[d.IEEEAddress] {
				return false
			}
		}
		return RoutableName(g.FriendlyName) == "" && CheckTopicName(g.FriendlyName) == nil
	}
	if asked != nil {
		if same(asked) {
			return asked
		}
		return nil
	}
	for _, g := range snap.Groups() {
		if same(g) {
			return g
		}
	}
	return nil
}

func (e *Executor) publishSet(ctx context.Context, name string, payload map[string]any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	return e.Pub.Publish(ctx, e.Model.prefix+name+"/set", b)
}

func (e *Executor) publishGet(ctx context.Context, name string, props []string) error {
	body := make(map[string]any, len(props))
	for _, p := range props {
		body[p] = ""
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return e.Pub.Publish(ctx, e.Model.prefix+name+"/get", b)
}

// deadline returns when the target's wait ends.
func (e *Executor) deadline(ctx context.Context, start time.Time, d *Device, opts ExecOptions) (time.Time, time.Duration) {
	normal, sleepy, _ := e.timeouts()
	limit := normal
	if d.Sleepy() {
		limit = sleepy
	}
	if opts.Timeout > 0 {
		limit = opts.Timeout
	}
	end := start.Add(limit)
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	return end, limit
}

// relevantState returns the state keys a result shows: the commanded and
// expected properties.
func relevantState(c *Command, st *State) map[string]any {
	if st == nil {
		return nil
	}
	out := map[string]any{}
	for k := range c.Payload {
		if v, ok := st.Values[k]; ok {
			out[k] = v
		}
	}
	for _, x := range c.Expect {
		if v, ok := st.Values[x.Property]; ok {
			out[x.Property] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// errorConcerns reports whether a logging error is about this command: its
// key must be one the command sent (with or without an endpoint suffix).
func errorConcerns(le *LogError, c *Command) bool {
	if le.Key == "" {
		return true
	}
	for k := range c.Payload {
		if k == le.Key || strings.HasPrefix(k, le.Key+"_") || strings.HasPrefix(le.Key, k+"_") {
			return true
		}
	}
	return false
}

// publishFailure is the outcome of a publish that returned err: the call's
// own deadline passing while the broker had not acknowledged yet is a
// timeout (the command may still reach the device); anything else (link
// down, broker gone) is a failure.
func publishFailure(what string, err error) (Status, string) {
	if errors.Is(err, context.DeadlineExceeded) {
		return StatusTimeout, what + " not acknowledged by the broker before the call's deadline (it may still reach the device): " + err.Error()
	}
	return StatusFailed, what + " failed: " + err.Error()
}

func (e *Executor) runTarget(ctx context.Context, start time.Time, t *Target, r *Result, opts ExecOptions) {
	c := &t.Command
	d := c.Device
	r.Sent = c.Payload
	key := d.IEEEAddress
	w := e.Model.Watch(key)
	defer w.Close()
	defer func() { r.LatencyMS = time.Since(start).Milliseconds() }()

	wasOffline := e.Model.Availability(key) == AvailabilityOffline
	notes := append([]string(nil), c.Notes...)
	if wasOffline {
		notes = append(notes, "the device was already marked offline before the command")
	}
	finish := func(s Status, why string) {
		r.Status = s
		parts := append([]string(nil), notes...)
		if why != "" {
			parts = append([]string{why}, parts...)
		}
		if s != StatusConfirmed || len(c.Notes) > 0 {
			r.Reason = strings.Join(parts, "; ")
		}
		if r.State == nil {
			r.State = relevantState(c, e.Model.State(key))
		}
		e.Log.Debug().Str("device", d.FriendlyName).Str("ieee", d.IEEEAddress).Str("status", string(s)).
			Int("attempts", r.Attempts).Str("reason", r.Reason).Msg("target done")
	}

	end, limit := e.deadline(ctx, start, d, opts)
	attempts := 1
	if opts.Retries > 0 && c.Idempotent {
		attempts += opts.Retries
	}
	send := func() error {
		r.Attempts++
		return e.publishSet(ctx, d.FriendlyName, c.Payload)
	}
	if err := send(); err != nil {
		finish(publishFailure("publish", err))
		return
	}
	if opts.NoConfirm {
		finish(StatusSent, "published; not waiting for confirmation (confirm=false)")
		return
	}

	expectNothing := len(c.Expect) == 0 && !c.AnyReport
	if expectNothing {
		_, _, settle := e.timeouts()
		if s := time.Now().Add(settle); s.Before(end) {
			end = s
		}
	}
	// Each attempt gets an equal share of the time left.
	attemptEnd := func() time.Time {
		left := time.Until(end)
		share := left / time.Duration(attempts-r.Attempts+1)
		return time.Now().Add(share)
	}
	stepEnd := attemptEnd()
	offline := wasOffline
	readingBack := false
	var last *State

	for {
		wctx, cancel := context.WithDeadline(ctx, stepEnd)
		ev, err := w.Next(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil && time.Now().Before(end) {
				finish(StatusTimeout, "the call was cancelled before confirmation")
				return
			}
			if expectNothing {
				finish(StatusAssumed, "nothing to confirm: the command has no state to report, and no error came")
				return
			}
			if r.Attempts < attempts && time.Now().Before(end) && !readingBack {
				if err := send(); err != nil {
					finish(publishFailure("publish on retry", err))
					return
				}
				stepEnd = attemptEnd()
				continue
			}
			r.State = relevantState(c, last)
			if r.State == nil {
				r.State = relevantState(c, e.Model.State(key))
			}
			why := fmt.Sprintf("no matching state report within %s", limit.Round(time.Millisecond))
			if readingBack {
				why = fmt.Sprintf("the echo matched but the readback (/get) did not within %s", limit.Round(time.Millisecond))
			}
			if limit < z2mGiveUp {
				why += " (Zigbee2MQTT itself waits about 10 s for an unreachable device)"
			}
			if offline {
				finish(StatusOffline, "device is offline according to Zigbee2MQTT and no confirmation came; "+why)
				return
			}
			finish(StatusTimeout, why)
			return
		}
		switch ev.Kind {
		case EventState:
			last = ev.State
			if ev.State.Retained {
				continue // the broker's memory of an earlier state proves nothing
			}
			if c.AnyReport {
				r.State = ev.State.Values
				finish(StatusAssumed, "the device reported its state after the command; what it should be is not known in advance")
				return
			}
			if expectNothing || !c.Satisfied(ev.State.Values) {
				continue
			}
			if opts.Verify == VerifyReadback && !readingBack && len(c.Readback) > 0 {
				readingBack = true
				if err := e.publishGet(ctx, d.FriendlyName, c.Readback); err != nil {
					finish(publishFailure("readback publish", err))
					return
				}
				stepEnd = end
				continue
			}
			r.State = relevantState(c, ev.State)
			finish(StatusConfirmed, "")
			return
		case EventError:
			if !errorConcerns(ev.Error, c) {
				continue
			}
			finish(StatusFailed, "Zigbee2MQTT: "+ev.Error.Reason)
			return
		case EventAvailability:
			offline = ev.Availability == AvailabilityOffline
		case EventBridge:
			if !ev.BridgeOnline {
				finish(StatusFailed, "bridge offline: Zigbee2MQTT went offline before the device answered")
				return
			}
		case EventLink:
			if !ev.Connected {
				finish(StatusFailed, "MQTT link dropped before an answer")
				return
			}
		case EventRemoved:
			finish(StatusFailed, "the device was removed from Zigbee2MQTT while waiting")
			return
		}
	}
}

// runGroup publishes once to the group and reports each member: "assumed" on
// the optimistic echo (a groupcast has no per-member acknowledgement), or
// "confirmed" on a matching readback with verify=readback.
func (e *Executor) runGroup(ctx context.Context, start time.Time, g *Group, targets []Target, pending []int, results []Result, opts ExecOptions) {
	payload := targets[pending[0]].Command.Payload
	watchers := make([]*Watcher, len(pending))
	for j, i := range pending {
		watchers[j] = e.Model.Watch(targets[i].Command.Device.IEEEAddress)
	}
	defer func() {
		for _, w := range watchers {
			w.Close()
		}
	}()
	err := e.publishSet(ctx, g.FriendlyName, payload)
	var wg sync.WaitGroup
	for j, i := range pending {
		t, r, w := &targets[i], &results[i], watchers[j]
		r.Sent = payload
		r.Attempts = 1
		if err != nil {
			r.Status, r.Reason = publishFailure("publish to group "+g.FriendlyName, err)
			continue
		}
		if opts.NoConfirm {
			r.Status, r.Reason = StatusSent, "published to group "+g.FriendlyName+"; not waiting (confirm=false)"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.waitMember(ctx, start, g, t, r, w, opts)
		}()
	}
	wg.Wait()
	for _, i := range pending {
		results[i].LatencyMS = time.Since(start).Milliseconds()
	}
}

func (e *Executor) waitMember(ctx context.Context, start time.Time, g *Group, t *Target, r *Result, w *Watcher, opts ExecOptions) {
	c := &t.Command
	d := c.Device
	key := d.IEEEAddress
	end, limit := e.deadline(ctx, start, d, opts)
	offline := e.Model.Availability(key) == AvailabilityOffline
	via := "sent as one groupcast to " + g.FriendlyName
	readingBack := false
	var last *State
	for {
		wctx, cancel := context.WithDeadline(ctx, end)
		ev, err := w.Next(wctx)
		cancel()
		if err != nil {
			r.State = relevantState(c, last)
			switch {
			case readingBack:
				r.Status, r.Reason = StatusTimeout, via+"; the optimistic echo matched but the readback (/get) did not within "+limit.String()
			case offline:
				r.Status, r.Reason = StatusOffline, via+"; the device is offline according to Zigbee2MQTT and no state came"
			default:
				r.Status, r.Reason = StatusTimeout, via+"; no state for this member within "+limit.String()
			}
			return
		}
		switch ev.Kind {
		case EventState:
			last = ev.State
			if ev.State.Retained {
				continue
			}
			if c.AnyReport {
				r.State = ev.State.Values
				r.Status, r.Reason = StatusAssumed, via+"; the member reported its state (a groupcast has no per-member acknowledgement)"
				return
			}
			if !c.Satisfied(ev.State.Values) {
				continue
			}
			if readingBack {
				r.State = relevantState(c, ev.State)
				r.Status, r.Reason = StatusConfirmed, via+"; confirmed by readback"
				return
			}
			if opts.Verify == VerifyReadback && len(c.Readback) > 0 {
				readingBack = true
				if err := e.publishGet(ctx, d.FriendlyName, c.Readback); err != nil {
					r.Status, r.Reason = publishFailure("readback publish", err)
					return
				}
				continue
			}
			r.State = relevantState(c, ev.State)
			r.Status = StatusAssumed
			r.Reason = via + "; only Zigbee2MQTT's optimistic echo (a groupcast has no per-member acknowledgement; verify=readback reads it back)"
			if offline {
				r.Status, r.Reason = StatusOffline, via+"; the device is offline according to Zigbee2MQTT, so the optimistic echo proves nothing"
			}
			return
		case EventError:
			if errorConcerns(ev.Error, c) {
				r.Status, r.Reason = StatusFailed, "Zigbee2MQTT: "+ev.Error.Reason
				return
			}
		case EventAvailability:
			offline = ev.Availability == AvailabilityOffline
		case EventBridge:
			if !ev.BridgeOnline {
				r.Status, r.Reason = StatusFailed, "bridge offline: Zigbee2MQTT went offline before the group answered"
				return
			}
		case EventLink:
			if !ev.Connected {
				r.Status, r.Reason = StatusFailed, "MQTT link dropped before an answer"
				return
			}
		case EventRemoved:
			r.Status, r.Reason = StatusFailed, "the device was removed from Zigbee2MQTT while waiting"
			return
		}
	}
}

// Summarize returns one line counting the statuses, e.g.
// "3 targets: 2 confirmed, 1 timeout".
func Summarize(results []Result) string {
	counts := map[Status]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	order := []Status{StatusConfirmed, StatusAssumed, StatusSent, StatusFailed, StatusOffline, StatusUnsupported, StatusTimeout}
	var parts []string
	for _, s := range order {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	noun := "targets"
	if len(results) == 1 {
		noun = "target"
	}
	return fmt.Sprintf("%d %s: %s", len(results), noun, strings.Join(parts, ", "))
}

// ErrBadName is returned for names that cannot be used in an MQTT topic.
var ErrBadName = errors.New("invalid name")

// CheckTopicName rejects names that must never reach a topic: empty, MQTT
// wildcards (+, #), control characters, or a leading/trailing '/'.
func CheckTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrBadName)
	case strings.ContainsAny(name, "+#"):
		return fmt.Errorf("%w: %q contains an MQTT wildcard (+ or #)", ErrBadName, name)
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return fmt.Errorf("%w: %q starts or ends with '/'", ErrBadName, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\uFFFD' || (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE {
			return fmt.Errorf("%w: %q contains a control character", ErrBadName, name)
		}
	}
	return nil
}
