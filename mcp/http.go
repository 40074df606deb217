package mcp

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strings"

	mcpserver "github.com/mark3labs/mcp-go/server"
)

// HTTPConfig configures the HTTP transport.
type HTTPConfig struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// /mcp, /sse, /message and /metrics.
	Token string
	// AllowOrigins lists extra allowed Origin values (scheme://host[:port]);
	// loopback origins are always allowed.
	AllowOrigins []string
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// Health serves /healthz (open); Metrics serves /metrics (token).
	Health, Metrics http.Handler
}

// HTTPHandler returns the HTTP transport: Streamable HTTP at /mcp (stateful
// sessions: an unknown session id gets 404), legacy SSE at /sse + /message,
// /healthz and /metrics. Foreign Origins get 403 and missing or wrong tokens
// 401.
func (s *Server) HTTPHandler(cfg HTTPConfig) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	streamable := mcpserver.NewStreamableHTTPServer(s.srv,
		mcpserver.WithEndpointPath("/mcp"),
		mcpserver.WithStateful(true),
	)
	sse := mcpserver.NewSSEServer(s.srv)
	guard := func(h http.Handler) http.Handler {
		return originCheck(cfg.AllowOrigins, bearer(cfg.Token, bodyLimit(cfg.MaxBodyBytes, h)))
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", guard(streamable))
	mux.Handle("/sse", guard(sse))
	mux.Handle("/message", guard(sse))
	if cfg.Health != nil {
		mux.Handle("/healthz", cfg.Health)
	}
	if cfg.Metrics != nil {
		mux.Handle("/metrics", guard(cfg.Metrics))
	}
	return mux
}

// OpsHandler serves only /healthz (open) and /metrics (token), for
// --metrics-listen in stdio mode.
func OpsHandler(cfg HTTPConfig) http.Handler {
	mux := http.NewServeMux()
	if cfg.Health != nil {
		mux.Handle("/healthz", cfg.Health)
	}
	if cfg.Metrics != nil {
		mux.Handle("/metrics", originCheck(cfg.AllowOrigins, bearer(cfg.Token, cfg.Metrics)))
	}
	return mux
}

// originCheck answers 403 to a request whose Origin header is present and is
// neither loopback nor allowed (DNS-rebinding and cross-site protection).
func originCheck(allowed []string, next http.Handler) http.Handler {
	allow := map[string]bool{}
	for _, o := range allowed {
		allow[strings.TrimRight(strings.ToLower(o), "/")] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && !allow[strings.ToLower(origin)] && !loopbackOrigin(origin) {
			http.Error(w, "forbidden: Origin "+origin+" is not allowed (see --allow-origin)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return IsLoopbackHost(u.Hostname())
}

// IsLoopbackHost reports whether host is localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// bearer requires "Authorization: Bearer <token>" when token is set; the
// comparison takes constant time.
func bearer(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The scheme is case-insensitive (RFC 9110 §11.1).
		h := r.Header.Get("Authorization")
		ok := len(h) > 7 && strings.EqualFold(h[:7], "Bearer ")
		got := ""
		if ok {
			got = h[7:]
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="z2m-mcp"`)
			http.Error(w, "unauthorized: send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bodyLimit answers 413 to bodies over n bytes.
func bodyLimit(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		next.ServeHTTP(w, r)
	})
}
