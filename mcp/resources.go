package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

// Resource URIs.
const (
	uriBridge   = "z2m://bridge"
	uriDevices  = "z2m://devices"
	uriGroups   = "z2m://groups"
	uriDevicePf = "z2m://devices/"
)

// notifyEvery bounds notifications per resource per session, so a chatty
// sensor cannot flood a client.
const notifyEvery = 250 * time.Millisecond

// notifyFirst delays even the first notification a little (see schedule).
const notifyFirst = 20 * time.Millisecond

func (s *Server) addResources() {
	jsonRes := func(uri string, v any) ([]mcpgo.ResourceContents, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: uri, MIMEType: "application/json", Text: string(b)}}, nil
	}
	s.srv.AddResource(mcpgo.NewResource(uriBridge, "bridge",
		mcpgo.WithResourceDescription("Zigbee2MQTT bridge status (as bridge_status)."), mcpgo.WithMIMEType("application/json")),
		func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
			return jsonRes(uriBridge, s.BridgeStatus())
		})
	s.srv.AddResource(mcpgo.NewResource(uriDevices, "devices",
		mcpgo.WithResourceDescription("All devices with type, room, availability and key state (as list_devices)."), mcpgo.WithMIMEType("application/json")),
		func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
			return jsonRes(uriDevices, s.summaries(s.snapshot(ctx), "", "", "", true))
		})
	s.srv.AddResource(mcpgo.NewResource(uriGroups, "groups",
		mcpgo.WithResourceDescription("Zigbee2MQTT groups with members and scenes."), mcpgo.WithMIMEType("application/json")),
		func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
			snap := s.snapshot(ctx)
			out := []groupDetail{}
			for _, g := range snap.Groups() {
				out = append(out, s.groupDetail(snap, g))
			}
			return jsonRes(uriGroups, out)
		})
	s.srv.AddResourceTemplate(mcpgo.NewResourceTemplate("z2m://devices/{+name}", "device",
		mcpgo.WithTemplateDescription("One device in full (as get_device); names with '/' as they are, e.g. z2m://devices/kitchen/plug."),
		mcpgo.WithTemplateMIMEType("application/json")),
		func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
			name, err := deviceFromURI(req.Params.URI)
			if err != nil {
				return nil, err
			}
			snap := s.snapshot(ctx)
			d := snap.Device(name)
			if d == nil || !s.policy.visible(d.FriendlyName) {
				return nil, fmt.Errorf("%w", s.unknownName(snap, name))
			}
			return jsonRes(req.Params.URI, s.deviceDetail(snap, d))
		})
}

// deviceFromURI takes z2m://devices/office/plug or z2m://devices/office%2Fplug.
func deviceFromURI(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, uriDevicePf)
	if !ok || rest == "" {
		return "", fmt.Errorf("not a device resource: %q (use z2m://devices/<name>)", clip(uri, 80))
	}
	name, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("bad escape in %q", clip(uri, 80))
	}
	if err := checkName(name); err != nil {
		return "", err
	}
	return name, nil
}

// subscriptions tracks resources/subscribe per session (mcp-go acknowledges
// but does not track them) and sends notifications/resources/updated.
type subscriptions struct {
	s      *Server
	mu     sync.Mutex
	bySess map[string]map[string]bool // session → URIs
	// listens are 2026-07-28 subscriptions/listen streams: their sessions
	// are ephemeral and unregistered, so notifications go straight to the
	// stream, tagged with the listen request's id.
	listens map[string]listen
	last    map[string]time.Time   // session+uri → last sent
	timers  map[string]*time.Timer // session+uri → pending send
	cancel  func()
	closed  bool
}

func newSubscriptions(s *Server, hooks *mcpserver.Hooks) *subscriptions {
	sub := &subscriptions{s: s, bySess: map[string]map[string]bool{}, listens: map[string]listen{}, last: map[string]time.Time{}, timers: map[string]*time.Timer{}}
	hooks.AddBeforeSubscriptionsListen(sub.addListen)
	hooks.AddAfterSubscribe(func(ctx context.Context, id any, req *mcpgo.SubscribeRequest, _ *mcpgo.EmptyResult) {
		sub.add(sessionID(ctx), req.Params.URI)
	})
	hooks.AddAfterUnsubscribe(func(ctx context.Context, id any, req *mcpgo.UnsubscribeRequest, _ *mcpgo.EmptyResult) {
		sub.remove(sessionID(ctx), req.Params.URI)
	})
	hooks.AddOnUnregisterSession(func(ctx context.Context, cs mcpserver.ClientSession) {
		sub.drop(cs.SessionID())
	})
	sub.cancel = s.model.Subscribe(sub.onChange)
	return sub
}

func (sub *subscriptions) add(session, uri string) {
	if session == "" {
		return
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	set := sub.bySess[session]
	if set == nil {
		set = map[string]bool{}
		sub.bySess[session] = set
	}
	if len(set) < 1000 {
		set[normalizeURI(uri)] = true
	}
}

func (sub *subscriptions) remove(session, uri string) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	delete(sub.bySess[session], normalizeURI(uri))
}

func (sub *subscriptions) drop(session string) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	delete(sub.bySess, session)
	for k, t := range sub.timers {
		if strings.HasPrefix(k, session+"\x00") {
			t.Stop()
			delete(sub.timers, k)
			delete(sub.last, k)
		}
	}
}

type listen struct {
	cs mcpserver.ClientSession
	id any
}

// addListen tracks a subscriptions/listen stream until its request ends.
func (sub *subscriptions) addListen(ctx context.Context, id any, req *mcpgo.SubscriptionsListenRequest) {
	cs := mcpserver.ClientSessionFromContext(ctx)
	uris := req.Params.Notifications.ResourceSubscriptions
	if cs == nil || len(uris) == 0 {
		return
	}
	key := fmt.Sprintf("listen:%p:%v", cs, id)
	sub.mu.Lock()
	sub.listens[key] = listen{cs: cs, id: id}
	sub.mu.Unlock()
	for _, u := range uris {
		sub.add(key, u)
	}
	go func() {
		<-ctx.Done()
		sub.drop(key)
		sub.mu.Lock()
		delete(sub.listens, key)
		sub.mu.Unlock()
	}()
}

// send delivers one notifications/resources/updated.
func (sub *subscriptions) send(session, uri string) {
	sub.mu.Lock()
	l, isListen := sub.listens[session]
	sub.mu.Unlock()
	if !isListen {
		_ = sub.s.srv.SendNotificationToSpecificClient(session, "notifications/resources/updated", map[string]any{"uri": uri})
		return
	}
	n := mcpgo.JSONRPCNotification{
		JSONRPC: mcpgo.JSONRPC_VERSION,
		Notification: mcpgo.Notification{
			Method: string(mcpgo.MethodNotificationResourceUpdated),
			Params: mcpgo.NotificationParams{
				Meta:             map[string]any{mcpgo.MetaKeySubscriptionID: l.id},
				AdditionalFields: map[string]any{"uri": uri},
			},
		},
	}
	select {
	case l.cs.NotificationChannel() <- n:
	default: // a stalled client loses this update; the next one carries it
	}
}

// normalizeURI turns z2m://devices/office%2Fplug into z2m://devices/office/plug.
func normalizeURI(uri string) string {
	if rest, ok := strings.CutPrefix(uri, uriDevicePf); ok {
		if n, err := url.PathUnescape(rest); err == nil {
			return uriDevicePf + n
		}
	}
	return uri
}

// onChange runs on the model's ingest path: it only decides which URIs
// changed and schedules sends; it never blocks.
func (sub *subscriptions) onChange(c devices.Change) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed || len(sub.bySess) == 0 {
		return
	}
	for session, uris := range sub.bySess {
		for uri := range uris {
			if affects(c, uri) {
				sub.schedule(session, uri)
			}
		}
	}
}

func affects(c devices.Change, uri string) bool {
	switch c.Kind {
	case devices.ChangeBridge:
		return uri == uriBridge
	case devices.ChangeInventory:
		return true
	case devices.ChangeState, devices.ChangeAvailability:
		if uri == uriDevices {
			return !strings.HasPrefix(c.Key, "group:")
		}
		if uri == uriGroups {
			return strings.HasPrefix(c.Key, "group:")
		}
		if uri == uriBridge {
			return c.Kind == devices.ChangeAvailability
		}
		return uri == uriDevicePf+c.Name
	}
	return false
}

// schedule sends now, or once the per-resource interval has passed.
func (sub *subscriptions) schedule(session, uri string) {
	k := session + "\x00" + uri
	if sub.timers[k] != nil {
		return // a send is already pending and will carry this change
	}
	// A short first delay lets the call that caused the change answer first:
	// mcp-go v1.2.1's Streamable HTTP hands a notification to a POST still in
	// flight on the session and can drop it when that POST ends.
	wait := max(notifyFirst, notifyEvery-time.Since(sub.last[k]))
	sub.timers[k] = time.AfterFunc(wait, func() {
		sub.mu.Lock()
		delete(sub.timers, k)
		still := sub.bySess[session][uri] && !sub.closed
		if still {
			sub.last[k] = time.Now()
		}
		sub.mu.Unlock()
		if still {
			sub.send(session, uri)
		}
	})
}

func (sub *subscriptions) close() {
	sub.mu.Lock()
	sub.closed = true
	for _, t := range sub.timers {
		t.Stop()
	}
	sub.mu.Unlock()
	sub.cancel()
}
