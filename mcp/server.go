package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"github.com/rs/zerolog"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

// Config configures a Server. The zero value works.
type Config struct {
	Policy Policy
	// ConfirmTimeout is the default confirmation timeout (5 s);
	// SleepyTimeout the one for battery devices (30 s).
	ConfirmTimeout, SleepyTimeout time.Duration
	Logger                        zerolog.Logger
	// Version is reported in serverInfo.
	Version string
	// Observer, when set, is told about every tool call and target outcome
	// (metrics).
	Observer Observer
}

// Observer receives tool-call outcomes, e.g. for Prometheus metrics.
type Observer interface {
	ToolCall(tool string, isError bool, d time.Duration)
	TargetResult(tool string, r devices.Result)
}

// Server is the z2m-mcp MCP server: tools and resources over the model.
type Server struct {
	model   *devices.Model
	pub     devices.Publisher
	exec    *devices.Executor
	policy  *Policy
	limiter *limiter
	log     zerolog.Logger
	obs     Observer
	prime   primer
	srv     *mcpserver.MCPServer
	subs    *subscriptions
}

// NewServer builds the MCP server on a model and the publisher commands go
// out through.
func NewServer(model *devices.Model, pub devices.Publisher, cfg Config) *Server {
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	log := cfg.Logger.With().Str("component", "mcp").Logger()
	s := &Server{
		model:   model,
		pub:     pub,
		policy:  &cfg.Policy,
		limiter: newLimiter(cfg.Policy.Rate, cfg.Policy.RateBurst),
		log:     log,
		obs:     cfg.Observer,
		exec: &devices.Executor{
			Model:         model,
			Pub:           pub,
			Log:           log,
			Timeout:       cfg.ConfirmTimeout,
			SleepyTimeout: cfg.SleepyTimeout,
		},
	}
	hooks := &mcpserver.Hooks{}
	opts := []mcpserver.ServerOption{
		mcpserver.WithToolCapabilities(false),
		mcpserver.WithResourceCapabilities(true, false), // the resource list is fixed; contents change (resources/updated)
		mcpserver.WithInstructions(instructions),
		mcpserver.WithRecovery(),
		mcpserver.WithResourceRecovery(),
		mcpserver.WithHooks(hooks),
	}
	if s.obs != nil {
		opts = append(opts, mcpserver.WithToolHandlerMiddleware(s.observe))
	}
	s.srv = mcpserver.NewMCPServer("z2m-mcp", cfg.Version, opts...)
	s.srv.AddTools(s.tools()...)
	s.subs = newSubscriptions(s, hooks)
	s.addResources()
	return s
}

// observe reports every tool call to the Observer.
func (s *Server) observe(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		start := time.Now()
		res, err := next(ctx, req)
		s.obs.ToolCall(req.Params.Name, err != nil || res == nil || res.IsError, time.Since(start))
		return res, err
	}
}

// MCPServer returns the underlying mcp-go server (for transports and tests).
func (s *Server) MCPServer() *mcpserver.MCPServer { return s.srv }

// Close stops resource notifications.
func (s *Server) Close() { s.subs.close() }

func (s *Server) tools() []mcpserver.ServerTool {
	cp := confirmProps
	return []mcpserver.ServerTool{
		{Tool: newTool("list_devices", "List devices",
			"Inventory: name, type, room, model, availability, key state.",
			obj(`"type":{"type":"string","enum":["light","switch","climate","cover","lock","fan","sensor","other"]},`+
				`"room":{"type":"string"},"query":{"type":"string","description":"Text in name, model or vendor."},`+
				`"include_state":{"type":"boolean","description":"Default true."}`),
			listDevicesSchema, true, false, true), Handler: s.handleListDevices},
		{Tool: newTool("get_device", "Get device",
			"One device (or group) in full: capabilities with ranges and values, state, availability, groups, scenes.",
			obj(`"name":{"type":"string","description":"Device name, IEEE address or group."}`, "name"),
			anyObjectSchema, true, false, true), Handler: s.handleGetDevice},
		{Tool: newTool("set_lights", "Set lights",
			"Switch, dim or colour lights.",
			obj(`"targets":`+targetsSchema+`,"state":`+stateEnum+`,`+
				`"brightness":{"type":"number","minimum":0,"maximum":100,"description":"Percent."},`+
				`"brightness_step":{"type":"number","minimum":-100,"maximum":100,"description":"Relative percent."},`+
				`"color_temp_kelvin":{"type":"number","minimum":1000,"maximum":10000,"description":"Clamped to each light's range."},`+
				`"color":{"type":"string","description":"A name like \"warm white\", \"red\", \"teal\", or \"#rrggbb\"."},`+
				`"transition":{"type":"number","minimum":0,"maximum":3600,"description":"Seconds."},`+
				`"effect":{"type":"string","description":"See get_device."},`+cp, "targets"),
			resultSchema, false, false, false), Handler: s.handleSetLights},
		{Tool: newTool("set_climate", "Set climate",
			"Thermostats and radiator valves: setpoint, mode, preset.",
			obj(`"targets":`+targetsSchema+`,"temperature":{"type":"number","description":"Setpoint."},`+
				`"unit":{"type":"string","enum":["C","F"],"description":"Default C."},`+
				`"mode":{"type":"string","description":"A system_mode value, e.g. heat, auto, off."},`+
				`"preset":{"type":"string","description":"See get_device."},`+cp, "targets"),
			resultSchema, false, false, true), Handler: s.handleSetClimate},
		{Tool: newTool("set_switches", "Set switches",
			"Plugs, relays and multi-gang switches.",
			obj(`"targets":`+targetsSchema+`,"state":`+stateEnum+`,`+
				`"endpoint":{"type":"string","description":"Channel: l1, l2, left, right..."},`+cp, "targets", "state"),
			resultSchema, false, false, false), Handler: s.handleSetSwitches},
		{Tool: newTool("set_covers", "Set covers",
			"Blinds and shades: position (0 closed, 100 open) or open/close/stop.",
			obj(`"targets":`+targetsSchema+`,"position":{"type":"number","minimum":0,"maximum":100},`+
				`"action":{"type":"string","enum":["open","close","stop"]},`+cp, "targets"),
			resultSchema, false, false, true), Handler: s.handleSetCovers},
		{Tool: newTool("set_locks", "Set locks",
			"Lock or unlock door locks (if the server allows).",
			obj(`"targets":`+targetsSchema+`,"action":{"type":"string","enum":["lock","unlock"]},`+cp, "targets", "action"),
			resultSchema, false, true, true), Handler: s.handleSetLocks},
		{Tool: newTool("list_scenes", "List scenes",
			"Scenes per group and device.",
			obj(`"target":{"type":"string","description":"A group or device; all when omitted."}`),
			anyObjectSchema, true, false, true), Handler: s.handleListScenes},
		{Tool: newTool("recall_scene", "Recall scene",
			"Recall a stored scene on a group or device.",
			obj(`"scene":{"description":"Scene id or name.","anyOf":[{"type":"integer","minimum":0,"maximum":255},{"type":"string"}]},`+
				`"target":{"type":"string","description":"Group or device."},`+cp, "scene", "target"),
			resultSchema, false, false, true), Handler: s.handleRecallScene},
		{Tool: newTool("store_scene", "Store scene",
			"Store the current state of a group or device as a scene.",
			obj(`"scene":{"type":"string","description":"Scene name."},"target":{"type":"string","description":"Group or device."},`+
				`"id":{"type":"integer","minimum":1,"maximum":255,"description":"Scene id (default: the first free one)."},`+
				`"timeout_ms":{"type":"integer","minimum":100,"maximum":120000}`, "scene", "target"),
			resultSchema, false, true, true), Handler: s.handleStoreScene},
		{Tool: newTool("remove_scene", "Remove scene",
			"Remove a stored scene from a group or device.",
			obj(`"scene":{"description":"Scene id or name.","anyOf":[{"type":"integer","minimum":0,"maximum":255},{"type":"string"}]},`+
				`"target":{"type":"string","description":"Group or device."},`+
				`"timeout_ms":{"type":"integer","minimum":100,"maximum":120000}`, "scene", "target"),
			resultSchema, false, true, true), Handler: s.handleRemoveScene},
		{Tool: newTool("set_device", "Set device (advanced)",
			"Advanced: any writable property of one device, validated (if the server allows).",
			obj(`"name":{"type":"string"},"payload":{"type":"object","description":"Property → value."},`+cp, "name", "payload"),
			resultSchema, false, true, false), Handler: s.handleSetDevice},
		{Tool: newTool("bridge_status", "Bridge status",
			"Bridge online, version, counts, offline and unsupported devices, recent errors.",
			obj(``), anyObjectSchema, true, false, true), Handler: s.handleBridgeStatus},
	}
}

// toolError is a tool-level failure the model sees (isError, nil Go error).
func toolError(format string, a ...any) *mcpgo.CallToolResult {
	return mcpgo.NewToolResultError(fmt.Sprintf(format, a...))
}

// structured returns structured content with a short text form.
func structured(v any, text string) *mcpgo.CallToolResult {
	return mcpgo.NewToolResultStructured(v, text)
}

// sessionID returns the MCP session of a request ("" in-process without one).
func sessionID(ctx context.Context) string {
	if cs := mcpserver.ClientSessionFromContext(ctx); cs != nil {
		return cs.SessionID()
	}
	return ""
}

// setterGate applies read-only mode and the rate limit.
func (s *Server) setterGate(ctx context.Context, tool string) *mcpgo.CallToolResult {
	if s.policy.ReadOnly {
		return toolError("%s refused: this server is read-only (--read-only); nothing was sent", tool)
	}
	if ok, wait := s.limiter.allow(sessionID(ctx)); !ok {
		return toolError("%s refused: rate limit of %s commands/s exceeded for this session; retry in %s; nothing was sent",
			tool, fmtNum(s.limiter.rate), wait.Round(10*time.Millisecond))
	}
	return nil
}

// execOptions reads confirm, verify, timeout_ms and retries.
func execOptions(a *args) (devices.ExecOptions, error) {
	var o devices.ExecOptions
	confirm, err := a.boolean("confirm", true)
	if err != nil {
		return o, err
	}
	o.NoConfirm = !confirm
	if o.Verify, err = a.enum("verify", devices.VerifyEcho, devices.VerifyReadback); err != nil {
		return o, err
	}
	t, err := a.integer("timeout_ms", 100, 120000)
	if err != nil {
		return o, err
	}
	if t != nil {
		o.Timeout = time.Duration(*t) * time.Millisecond
	}
	r, err := a.integer("retries", 0, 3)
	if err != nil {
		return o, err
	}
	o.Retries = 1
	if r != nil {
		o.Retries = *r
	}
	return o, nil
}

var confirmArgs = []string{"confirm", "verify", "timeout_ms", "retries"}

func withConfirmArgs(names ...string) []string { return append(names, confirmArgs...) }

// builder makes one device's command.
type builder func(d *devices.Device, cur *devices.State) (devices.Command, error)

// runSetter resolves targets, builds every command (any error aborts before
// anything is published), executes and formats the result.
// needsState marks intents relative to the current state (toggle, step):
// for devices whose state was never seen, the server first asks for it.
func (s *Server) runSetter(ctx context.Context, tool string, a *args, names []string, kinds []string, needsState bool, build builder) (*mcpgo.CallToolResult, error) {
	opts, err := execOptions(a)
	if err != nil {
		return toolError("%s: %v", tool, err), nil
	}
	snap := s.snapshot(ctx)
	res, err := s.resolveTargets(snap, names, kinds...)
	if err != nil {
		return toolError("%s: %v; nothing was sent", tool, err), nil
	}
	buildAll := func() ([]devices.Target, *mcpgo.CallToolResult) {
		targets := make([]devices.Target, 0, len(res.targets))
		for _, t := range res.targets {
			cmd, err := build(t.dev, s.model.State(t.dev.IEEEAddress))
			if err != nil {
				return nil, toolError("%s: %s: %v; nothing was sent", tool, t.dev.FriendlyName, err)
			}
			cmd.Device = t.dev
			targets = append(targets, devices.Target{Asked: t.asked, Command: cmd})
		}
		return targets, nil
	}
	targets, bad := buildAll()
	if bad != nil {
		return bad, nil
	}
	// A command relative to a state never seen first asks the device for
	// it (validation passed: nothing is published for bad input), then is
	// built again.
	var unknown []*devices.Device
	for _, t := range targets {
		if needsState && s.model.State(t.Command.Device.IEEEAddress) == nil {
			unknown = append(unknown, t.Command.Device)
		}
	}
	if len(unknown) > 0 {
		s.primeStates(ctx, unknown)
		if targets, bad = buildAll(); bad != nil {
			return bad, nil
		}
	}
	opts.Group = res.group
	return s.execute(ctx, tool, targets, opts), nil
}

// execute runs the targets and builds the tool result; it also writes the
// audit line and feeds the observer.
func (s *Server) execute(ctx context.Context, tool string, targets []devices.Target, opts devices.ExecOptions) *mcpgo.CallToolResult {
	start := time.Now()
	results := s.exec.Execute(ctx, targets, opts)
	return s.setterResult(ctx, tool, start, results)
}

type setterOutput struct {
	Results []devices.Result `json:"results"`
	Summary string           `json:"summary"`
}

func (s *Server) setterResult(ctx context.Context, tool string, start time.Time, results []devices.Result) *mcpgo.CallToolResult {
	if results == nil {
		results = []devices.Result{}
	}
	ok := false
	for _, r := range results {
		ok = ok || r.Status.Succeeded()
	}
	out := setterOutput{Results: results, Summary: devices.Summarize(results)}
	var text strings.Builder
	text.WriteString(out.Summary)
	for _, r := range results {
		fmt.Fprintf(&text, "\n- %s: %s", r.Device, r.Status)
		if r.Reason != "" {
			fmt.Fprintf(&text, " — %s", r.Reason)
		}
	}
	res := structured(out, text.String())
	res.IsError = !ok
	s.audit(ctx, tool, start, results)
	return res
}

func (s *Server) audit(ctx context.Context, tool string, start time.Time, results []devices.Result) {
	if s.obs != nil {
		for _, r := range results {
			s.obs.TargetResult(tool, r)
		}
	}
	ev := s.log.Info()
	if !ev.Enabled() {
		return
	}
	ev = ev.Str("tool", tool).Str("session", sessionID(ctx)).Dur("latency", time.Since(start))
	arr := zerolog.Arr()
	for _, r := range results {
		sent, _ := json.Marshal(r.Sent)
		arr.Dict(zerolog.Dict().Str("device", r.Device).Str("status", string(r.Status)).
			RawJSON("sent", nonEmptyJSON(sent)).Int("attempts", r.Attempts).Int64("latency_ms", r.LatencyMS))
	}
	ev.Array("targets", arr).Msg("command")
}

func nonEmptyJSON(b []byte) []byte {
	if len(b) == 0 || string(b) == "null" {
		return []byte("{}")
	}
	return b
}

// startupWait bounds how long a call made right after start waits for
// Zigbee2MQTT's retained inventory.
const startupWait = 3 * time.Second

// snapshot returns the inventory; right after start, while connected but
// before bridge/devices has arrived, it waits (bounded) for it, so the first
// call of a freshly started server does not answer "unknown device".
func (s *Server) snapshot(ctx context.Context) *devices.Snapshot {
	snap := s.model.Snapshot()
	if snap.Bridge.DevicesReceived {
		return snap
	}
	ctx, cancel := context.WithTimeout(ctx, startupWait)
	defer cancel()
	snap, _ = s.model.WaitSnapshot(ctx, func(sn *devices.Snapshot) bool { return sn.Bridge.DevicesReceived })
	return snap
}
