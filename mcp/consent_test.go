package mcp_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mcp"
)

// elicitor answers unlock confirmations like a user would.
type elicitor struct {
	accept bool
	asked  atomic.Int32
	msg    atomic.Value
}

func (e *elicitor) Elicit(_ context.Context, req mcpgo.ElicitationRequest) (*mcpgo.ElicitationResult, error) {
	e.asked.Add(1)
	e.msg.Store(req.Params.Message)
	if !e.accept {
		return &mcpgo.ElicitationResult{ElicitationResponse: mcpgo.ElicitationResponse{Action: mcpgo.ElicitationResponseActionDecline}}, nil
	}
	return &mcpgo.ElicitationResult{ElicitationResponse: mcpgo.ElicitationResponse{
		Action: mcpgo.ElicitationResponseActionAccept, Content: map[string]any{"confirm": true},
	}}, nil
}

// TestUnlockAsksTheUser: without --allow-unlock, a client that supports
// elicitation is asked; accepting unlocks (confirmed), declining publishes
// nothing. Both protocol generations.
func TestUnlockAsksTheUser(t *testing.T) {
	e := newEnv(t, envOptions{MCP: mcp.Config{Policy: mcp.Policy{AllowLocks: true}}})
	for _, proto := range []struct {
		name string
		opts []client.ClientOption
	}{{"default protocol", nil}, {"2025-11-25", []client.ClientOption{pinned()}}} {
		t.Run(proto.name, func(t *testing.T) {
			yes := &elicitor{accept: true}
			c := e.client(t, append(proto.opts, client.WithElicitationHandler(yes))...)
			e.cmds.sync()
			res, out := setter(t, c, "set_locks", map[string]any{"targets": "front_door/lock", "action": "unlock"})
			require.False(t, res.IsError, text(res))
			require.Equal(t, "confirmed", out.Results[0].Status, out.Results[0].Reason)
			require.EqualValues(t, 1, yes.asked.Load())
			require.Contains(t, yes.msg.Load(), "front_door/lock")
			e.cmds.requireSent(t, "front_door/lock/set")

			no := &elicitor{accept: false}
			c2 := e.client(t, append(proto.opts, client.WithElicitationHandler(no))...)
			e.cmds.sync()
			res = call(t, c2, "set_locks", map[string]any{"targets": "front_door/lock", "action": "unlock"})
			requireToolError(t, res, "did not confirm")
			require.EqualValues(t, 1, no.asked.Load())
			e.cmds.requireNothingPublished(t)
		})
	}
}
