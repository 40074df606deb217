package devices

import (
	"math"
	"strings"
)

// Command is what one target device gets for one intent: the payload for
// <name>/set and what its state must show afterwards to count as confirmed.
type Command struct {
	// Device is the target.
	Device *Device
	// Payload is published as JSON to <base>/<friendly_name>/set. Empty when
	// Unsupported is set.
	Payload map[string]any
	// Expect lists the state values that confirm the command. Empty when the
	// command has nothing to echo (effect, identify, cover stop, toggle from
	// an unknown state): such a command ends "assumed".
	Expect []Expectation
	// Notes say what was adjusted on the way (clamped colour temperature,
	// snapped setpoint), for the result's reason.
	Notes []string
	// Unsupported, when set, says which capability the device lacks; nothing
	// is sent to it.
	Unsupported string
	// Idempotent is true when re-sending the payload cannot change the
	// outcome (no toggle, no relative step): only these are retried.
	Idempotent bool
	// Readback lists the properties a verify:"readback" /get asks for.
	Readback []string
	// AnyReport marks a command whose resulting state is not known in
	// advance (a scene recall): any state report after it counts as its
	// optimistic echo and ends "assumed".
	AnyReport bool
}

// Expectation is one state value that confirms a command.
type Expectation struct {
	// Property is the state key ("brightness", "state_l1", "color").
	Property string `json:"property"`
	// Value is the expected value: float64, string, bool, or for colours a
	// map of components ({"x":..,"y":..} or {"hue":..,"saturation":..}).
	Value any `json:"value"`
	// Tolerance is the allowed absolute difference for numbers (and for each
	// component of a colour).
	Tolerance float64 `json:"tolerance,omitempty"`
}

// Matches reports whether a state value satisfies the expectation. Strings
// compare case-insensitively; numbers within Tolerance; maps component-wise
// (only the expected components are compared).
func (e Expectation) Matches(v any) bool {
	return matchValue(e.Value, v, e.Tolerance)
}

func matchValue(want, got any, tol float64) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if k == "hue" && matchHue(wv, g[k], tol) {
				continue
			}
			if !matchValue(wv, g[k], tol) {
				return false
			}
		}
		return true
	case string:
		g, ok := got.(string)
		return ok && strings.EqualFold(w, g)
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	}
	wn, ok := toFloat(want)
	if !ok {
		return false
	}
	gn, ok := toFloat(got)
	if !ok {
		return false
	}
	return math.Abs(wn-gn) <= tol+1e-9
}

// matchHue compares hues on the circle (359° is 1° from 0°).
func matchHue(want, got any, tol float64) bool {
	w, ok1 := toFloat(want)
	g, ok2 := toFloat(got)
	if !ok1 || !ok2 {
		return false
	}
	d := math.Mod(math.Abs(w-g), 360)
	return math.Min(d, 360-d) <= tol+1e-9
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// Satisfied reports whether the state satisfies every expectation. With no
// expectations it is false: there is nothing to confirm.
func (c *Command) Satisfied(values map[string]any) bool {
	if len(c.Expect) == 0 {
		return false
	}
	for _, e := range c.Expect {
		v, ok := values[e.Property]
		if !ok || !e.Matches(v) {
			return false
		}
	}
	return true
}
