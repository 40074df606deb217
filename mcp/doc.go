// Package mcp is z2m-mcp's MCP surface on mcp-go: the tools of design.md
// (list_devices, set_lights, recall_scene, ...), their schemas and results,
// resources with subscriptions, the policy (read-only, allow/deny, locks,
// raw payloads, rate limit) and the HTTP transport's security (bearer token,
// Origin check, body limit).
package mcp
