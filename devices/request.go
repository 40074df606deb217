package devices

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tidwall/gjson"
)

// Response is a bridge/response/<name> message.
type Response struct {
	Status      string          `json:"status"`
	Data        json.RawMessage `json:"data,omitempty"`
	Error       string          `json:"error,omitempty"`
	Transaction string          `json:"transaction,omitempty"`
}

// BridgeError is a bridge response with status "error".
type BridgeError struct {
	Request string
	Message string
}

func (e *BridgeError) Error() string {
	return fmt.Sprintf("bridge request %s failed: %s", e.Request, e.Message)
}

// Request publishes a bridge request (bridge/request/<name>) with a fresh
// transaction id and waits for its response. A status "error" response is
// returned as *BridgeError. Unknown requests get no response from
// Zigbee2MQTT, so ctx must carry a deadline.
func (m *Model) Request(ctx context.Context, pub Publisher, name string, payload map[string]any) (*Response, error) {
	m.mu.Lock()
	m.reqSeq++
	tx := "z2m-mcp-" + strconv.FormatUint(m.reqSeq, 10)
	ch := make(chan Response, 1)
	m.requests[tx] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.requests, tx)
		m.mu.Unlock()
	}()
	body := map[string]any{}
	for k, v := range payload {
		body[k] = v
	}
	body["transaction"] = tx
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("bridge request %s: %w", name, err)
	}
	if err := pub.Publish(ctx, m.prefix+"bridge/request/"+name, b); err != nil {
		return nil, fmt.Errorf("bridge request %s: %w", name, err)
	}
	select {
	case r := <-ch:
		if r.Status != "ok" {
			return &r, &BridgeError{Request: name, Message: r.Error}
		}
		return &r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("bridge request %s: %w", name, ctx.Err())
	}
}

func (m *Model) handleResponse(_ string, payload []byte) {
	r := gjson.ParseBytes(payload)
	if !r.IsObject() {
		return
	}
	tx := r.Get("transaction").String()
	if tx == "" {
		return
	}
	m.mu.Lock()
	ch := m.requests[tx]
	m.mu.Unlock()
	if ch == nil {
		return
	}
	resp := Response{
		Status:      r.Get("status").String(),
		Error:       r.Get("error").String(),
		Transaction: tx,
	}
	if d := r.Get("data"); d.Exists() {
		resp.Data = json.RawMessage(d.Raw)
	}
	select {
	case ch <- resp:
	default:
	}
}
