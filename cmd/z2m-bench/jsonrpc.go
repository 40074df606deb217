package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// jsonrpcClient is a minimal Streamable HTTP client: one POST per call, no
// SDK. It separates the server's cost from the SDK client's when the
// confirmed call over HTTP is measured.
type jsonrpcClient struct {
	url     string
	session string
	hc      *http.Client
	id      atomic.Int64
}

const jsonrpcProtocol = "2025-11-25"

func newJSONRPCClient(ctx context.Context, url string) (*jsonrpcClient, error) {
	c := &jsonrpcClient{url: url, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	if _, err := c.post(ctx, "initialize", map[string]any{
		"protocolVersion": jsonrpcProtocol, "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "z2m-bench-jsonrpc", "version": "1"},
	}, true); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	if _, err := c.post(ctx, "notifications/initialized", nil, false); err != nil {
		return nil, fmt.Errorf("initialized: %w", err)
	}
	return c, nil
}

// post sends one JSON-RPC message and returns the result of a request
// (application/json or a one-event text/event-stream).
func (c *jsonrpcClient) post(ctx context.Context, method string, params any, request bool) (json.RawMessage, error) {
	msg := map[string]any{"jsonrpc": "2.0", "method": method}
	if params != nil {
		msg["params"] = params
	}
	if request {
		msg["id"] = c.id.Add(1)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", jsonrpcProtocol)
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
		c.session = s
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	if !request {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, nil
	}
	raw, err := readJSONRPCBody(resp)
	if err != nil {
		return nil, err
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	if out.Error != nil {
		return nil, errors.New(out.Error.Message)
	}
	return out.Result, nil
}

func readJSONRPCBody(resp *http.Response) ([]byte, error) {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return io.ReadAll(resp.Body)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			return []byte(data), nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("event stream ended without data")
}

// setLights calls set_lights and checks every target ended confirmed.
func (c *jsonrpcClient) setLights(ctx context.Context, target string, pct int) error {
	res, err := c.post(ctx, "tools/call", map[string]any{
		"name": "set_lights", "arguments": map[string]any{"targets": target, "brightness": pct, "timeout_ms": 3000},
	}, true)
	if err != nil {
		return err
	}
	var out struct {
		IsError           bool `json:"isError"`
		StructuredContent struct {
			Results []struct {
				Status string `json:"status"`
			} `json:"results"`
		} `json:"structuredContent"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return err
	}
	if out.IsError || len(out.StructuredContent.Results) == 0 || out.StructuredContent.Results[0].Status != "confirmed" {
		return fmt.Errorf("set_lights %s: not confirmed: %s", target, res)
	}
	return nil
}
