package mcp

import (
	"encoding/json"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// Shared schema fragments. Every token of tools/list costs an LLM's user, so
// descriptions are short and say only what a model needs.
const (
	targetsSchema = `{"description":"Device, group or room names, or \"all\".","anyOf":[{"type":"string"},{"type":"array","items":{"type":"string"},"maxItems":200}]}`
	confirmProps  = `"confirm":{"type":"boolean","description":"Wait for state reports (default true)."},` +
		`"verify":{"type":"string","enum":["echo","readback"]},` +
		`"timeout_ms":{"type":"integer","minimum":100,"maximum":120000,"description":"Whole call (default 5000)."},` +
		`"retries":{"type":"integer","minimum":0,"maximum":3,"description":"Default 1."}`
	stateEnum = `{"type":"string","enum":["on","off","toggle"]}`
)

func obj(props string, required ...string) json.RawMessage {
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	b.WriteString(props)
	b.WriteString(`},"additionalProperties":false`)
	if len(required) > 0 {
		b.WriteString(`,"required":["`)
		b.WriteString(strings.Join(required, `","`))
		b.WriteString(`"]`)
	}
	b.WriteString(`}`)
	return json.RawMessage(b.String())
}

// resultSchema is the output schema every setter shares (the per-target
// fields are explained in the server instructions, to keep tools/list small).
var resultSchema = json.RawMessage(`{"type":"object","properties":{"results":{"type":"array","items":{"type":"object"}},"summary":{"type":"string"}},"required":["results","summary"]}`)

var anyObjectSchema = json.RawMessage(`{"type":"object"}`)

var listDevicesSchema = json.RawMessage(`{"type":"object","properties":{"count":{"type":"integer"},"devices":{"type":"array","items":{"type":"object","properties":{` +
	`"name":{"type":"string"},"type":{"type":"string"},"room":{"type":"string"},"model":{"type":"string"},"available":{"type":"string"},"state":{"type":"object"},"note":{"type":"string"}},"required":["name","type"]}}},"required":["count","devices"]}`)

func boolPtr(b bool) *bool { return &b }

// newTool builds a tool from raw schemas with deliberate annotations
// (mcp-go's NewTool defaults would call every tool destructive).
func newTool(name, title, desc string, in, out json.RawMessage, readOnly, destructive, idempotent bool) mcpgo.Tool {
	t := mcpgo.NewToolWithRawSchema(name, desc, in)
	t.Title = title
	t.RawOutputSchema = out
	t.Annotations = mcpgo.ToolAnnotation{
		ReadOnlyHint:    boolPtr(readOnly),
		DestructiveHint: boolPtr(destructive),
		IdempotentHint:  boolPtr(idempotent),
		OpenWorldHint:   boolPtr(false),
	}
	return t
}

// instructions tell the model how targets resolve and what statuses mean.
const instructions = `Controls a Zigbee home through Zigbee2MQTT. Targets: exact device name (or IEEE address), group name, room (first path segment of device names, e.g. "kitchen"), or "all"; a unique case-insensitive match is accepted; anything else is an error listing close names (never guessed). Rooms and "all" expand to the devices the tool drives.
Setters wait until each device reports the new state. Per-target status: confirmed (device reported it), assumed (no failure but only an optimistic echo, e.g. group members, scene recall, effects), sent (confirm=false), failed (Zigbee2MQTT's reason quoted), offline, unsupported (device lacks the capability; nothing sent), timeout (state shows what was last seen). Each result: {target, device, status, reason, sent, state, attempts, latency_ms}; isError only when no target succeeded. verify=readback also reads values back. Use list_devices first, get_device for ranges and values.`
