package mcp

import (
	"context"
	"fmt"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// unlockInput is the id of the elicitation that asks the user to confirm an
// unlock.
const unlockInput = "confirm_unlock"

// clientElicits reports whether the calling client declared elicitation.
func clientElicits(ctx context.Context) bool {
	cs, ok := mcpserver.ClientSessionFromContext(ctx).(mcpserver.SessionWithClientInfo)
	return ok && cs.GetClientCapabilities().Elicitation != nil
}

// unlockConsent decides whether an unlock may go ahead. With --allow-unlock
// it may. Otherwise the user is asked through MCP elicitation when the client
// supports it: ask is then the input-required result to return; on the
// retry carrying the answer, ok says whether the user accepted. A client
// without elicitation is refused with what to do instead.
func (s *Server) unlockConsent(ctx context.Context, req mcpgo.CallToolRequest, targets []string) (ok bool, ask *mcpgo.CallToolResult, refusal string) {
	if s.policy.AllowUnlock {
		return true, nil, ""
	}
	if resp, answered := req.Params.InputResponses[unlockInput]; answered {
		if err := resp.DecodeFor(mcpgo.MethodElicitationCreate); err != nil || resp.Elicitation == nil {
			return false, nil, "set_locks: the unlock confirmation could not be read; nothing was sent"
		}
		content, _ := resp.Elicitation.Content.(map[string]any)
		if resp.Elicitation.Action == mcpgo.ElicitationResponseActionAccept && content["confirm"] == true {
			return true, nil, ""
		}
		return false, nil, "set_locks: the user did not confirm the unlock; nothing was sent"
	}
	if clientElicits(ctx) {
		msg := fmt.Sprintf("Unlock %s?", strings.Join(targets, ", "))
		res := mcpserver.NewInputRequestBuilder("").Elicit(unlockInput, mcpgo.ElicitationParams{
			Message: msg,
			RequestedSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"confirm": map[string]any{"type": "boolean", "title": "Unlock", "description": msg},
				},
				"required": []string{"confirm"},
			},
		}).ToolResult()
		return false, res, ""
	}
	return false, nil, "set_locks: unlocking needs the user's consent, and this client cannot ask (no MCP elicitation): start the server with --allow-unlock to allow it; nothing was sent"
}
