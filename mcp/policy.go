package mcp

import (
	"sync"
	"time"
)

// Policy limits what the server lets a client do.
type Policy struct {
	// ReadOnly refuses every setter.
	ReadOnly bool
	// Allow, when non-empty, lists the only device names (globs) clients see.
	Allow []string
	// Deny lists device names (globs) clients never see nor command.
	Deny []string
	// AllowLocks enables set_locks (locking); AllowUnlock also allows
	// unlocking without asking the user.
	AllowLocks, AllowUnlock bool
	// AllowRaw enables set_device.
	AllowRaw bool
	// Rate limits setter calls per session (calls per second; 0 = off) with
	// RateBurst calls of burst (default: max(1, Rate)).
	Rate      float64
	RateBurst int
}

// visible reports whether a device name passes the allow and deny globs.
func (p *Policy) visible(name string) bool {
	for _, g := range p.Deny {
		if globMatch(g, name) {
			return false
		}
	}
	if len(p.Allow) == 0 {
		return true
	}
	for _, g := range p.Allow {
		if globMatch(g, name) {
			return true
		}
	}
	return false
}

// globMatch matches name against a glob where '*' matches any run of
// characters (including '/') and '?' one character.
func globMatch(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	pi, ni := 0, 0
	star, mark := -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// limiter is a token bucket per session.
type limiter struct {
	rate  float64
	burst float64
	now   func() time.Time
	mu    sync.Mutex
	bkts  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if b <= 0 {
		b = max(1, rate)
	}
	return &limiter{rate: rate, burst: b, now: time.Now, bkts: map[string]*bucket{}}
}

// allow takes one token for the session; wait says how long until the next.
func (l *limiter) allow(session string) (ok bool, wait time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bkts[session]
	if b == nil {
		if len(l.bkts) > 10000 { // forget idle sessions
			for k, v := range l.bkts {
				if now.Sub(v.last) > time.Minute {
					delete(l.bkts, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.bkts[session] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
