package devices

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Intents are what the MCP setters ask for, in the user's units. Build*
// turn one intent into the Command for one device, using its exposes:
//
//   - an error means the input is invalid for that device (a setpoint outside
//     its range, a mode, effect or endpoint it does not have); the message
//     says what is valid;
//   - a capability the device lacks gives Command{Unsupported: "..."} (nil
//     error, no payload): nothing is sent to it;
//   - otherwise Payload is ready for <name>/set, Expect says which state
//     confirms it, Notes say what was adjusted (clamped, snapped, rounded).
//
// The Validate* functions check the tool's own ranges without a device, so a
// bad argument fails before any target is resolved or anything is published.
// Build* run them too.

// LightIntent is a set_lights request.
type LightIntent struct {
	State           string   // "", "on", "off", "toggle" (case-insensitive)
	Brightness      *float64 // 0–100 %; 0 % turns the light off
	BrightnessStep  *float64 // −100..100 % (relative)
	ColorTempKelvin *float64 // 1000–10000 K
	Color           string   // name ("warm white", "red", "teal", ...) or "#rrggbb"
	Transition      *float64 // seconds ≥ 0
	Effect          string   // one of the device's effect enum values
}

// ClimateIntent is a set_climate request.
type ClimateIntent struct {
	Temperature *float64 // setpoint in Unit
	Unit        string   // "C" (default) or "F"
	Mode        string   // one of the device's system_mode values
	Preset      string   // one of the device's preset values
}

// SwitchIntent is a set_switches request.
type SwitchIntent struct {
	State    string // on/off/toggle
	Endpoint string // "", "l1", "left", ... (required on multi-gang devices)
}

// CoverIntent is a set_covers request.
type CoverIntent struct {
	Position *float64 // 0–100 %, 100 = open
	Action   string   // open/close/stop
}

// LockIntent is a set_locks request.
type LockIntent struct {
	Action string // lock/unlock
}

const (
	wordOn     = "on"
	wordOff    = "off"
	wordToggle = "toggle"
)

// intentStateWord normalises an on/off/toggle word ("" stays "").
func intentStateWord(s string) (string, error) {
	w := strings.ToLower(strings.TrimSpace(s))
	switch w {
	case "", wordOn, wordOff, wordToggle:
		return w, nil
	}
	return "", fmt.Errorf("state %q is not valid; use on, off or toggle", s)
}

func intentFinite(name string, v *float64) error {
	if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
		return fmt.Errorf("%s must be a number", name)
	}
	return nil
}

// intentNum formats a number with at most decimals decimals ("21.5", "4", "2203").
func intentNum(v float64, decimals int) string {
	p := math.Pow(10, float64(decimals))
	r := math.Round(v*p) / p
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// ValidateLightIntent checks a set_lights request against the tool's ranges:
// brightness 0–100, brightness_step −100..100, Kelvin 1000–10000, transition
// ≥ 0, a colour that parses, a valid state word, and at least one thing to do.
func ValidateLightIntent(in LightIntent) error {
	st, err := intentStateWord(in.State)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"brightness", in.Brightness}, {"brightness_step", in.BrightnessStep}, {"color_temp_kelvin", in.ColorTempKelvin}, {"transition", in.Transition}} {
		if err := intentFinite(f.name, f.v); err != nil {
			return err
		}
	}
	if b := in.Brightness; b != nil && (*b < 0 || *b > 100) {
		return fmt.Errorf("brightness must be 0–100 (%%), got %s", intentNum(*b, 2))
	}
	if s := in.BrightnessStep; s != nil && (*s < -100 || *s > 100) {
		return fmt.Errorf("brightness_step must be −100..100 (%%), got %s", intentNum(*s, 2))
	}
	if k := in.ColorTempKelvin; k != nil && (*k < 1000 || *k > 10000) {
		return fmt.Errorf("color_temp_kelvin must be 1000–10000 K, got %s", intentNum(*k, 2))
	}
	if t := in.Transition; t != nil && *t < 0 {
		return fmt.Errorf("transition must be ≥ 0 seconds, got %s", intentNum(*t, 2))
	}
	if in.Color != "" {
		c, err := ParseColor(in.Color)
		if err != nil {
			return err
		}
		if c.IsBlack() {
			return fmt.Errorf("colour %s is black, which a light cannot show; use state off instead", c.Hex())
		}
	}
	if in.Brightness != nil && in.BrightnessStep != nil {
		return errors.New("give brightness or brightness_step, not both")
	}
	if in.ColorTempKelvin != nil && in.Color != "" {
		return errors.New("give color or color_temp_kelvin, not both")
	}
	if st == wordToggle && (in.Brightness != nil || in.BrightnessStep != nil || in.ColorTempKelvin != nil || in.Color != "") {
		return errors.New("toggle cannot be combined with brightness, brightness_step, color or color_temp_kelvin; use state on with them")
	}
	if st == wordOn && in.Brightness != nil && *in.Brightness == 0 {
		return errors.New("state on with brightness 0 % is contradictory (brightness 0 % turns the light off)")
	}
	if strings.TrimSpace(in.Effect) != in.Effect && strings.TrimSpace(in.Effect) == "" {
		return errors.New("effect is empty")
	}
	if st == "" && in.Brightness == nil && in.BrightnessStep == nil && in.ColorTempKelvin == nil && in.Color == "" && in.Effect == "" {
		if in.Transition != nil {
			return errors.New("transition alone does nothing; give state, brightness, brightness_step, color, color_temp_kelvin or effect with it")
		}
		return errors.New("nothing to do; give state, brightness, brightness_step, color, color_temp_kelvin or effect")
	}
	return nil
}

// ValidateClimateIntent checks a set_climate request: a finite temperature, a
// unit C or F, and at least one of temperature, mode, preset.
func ValidateClimateIntent(in ClimateIntent) error {
	if _, err := climateUnit(in.Unit); err != nil {
		return err
	}
	if err := intentFinite("temperature", in.Temperature); err != nil {
		return err
	}
	if in.Temperature == nil && strings.TrimSpace(in.Mode) == "" && strings.TrimSpace(in.Preset) == "" {
		return errors.New("nothing to do; give temperature, mode or preset")
	}
	return nil
}

// climateUnit returns "C" or "F".
func climateUnit(u string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(u)) {
	case "", "c", "°c", "celsius":
		return "C", nil
	case "f", "°f", "fahrenheit":
		return "F", nil
	}
	return "", fmt.Errorf("unit %q is not valid; use C or F", u)
}

// ValidateSwitchIntent checks a set_switches request: state on, off or toggle.
func ValidateSwitchIntent(in SwitchIntent) error {
	st, err := intentStateWord(in.State)
	if err != nil {
		return err
	}
	if st == "" {
		return errors.New("state is required; use on, off or toggle")
	}
	return nil
}

// ValidateCoverIntent checks a set_covers request: position 0–100 or action
// open/close/stop (exactly one).
func ValidateCoverIntent(in CoverIntent) error {
	if err := intentFinite("position", in.Position); err != nil {
		return err
	}
	if p := in.Position; p != nil && (*p < 0 || *p > 100) {
		return fmt.Errorf("position must be 0–100 (%%), got %s", intentNum(*p, 2))
	}
	a := strings.ToLower(strings.TrimSpace(in.Action))
	switch a {
	case "", "open", "close", "stop":
	default:
		return fmt.Errorf("action %q is not valid; use open, close or stop", in.Action)
	}
	if a != "" && in.Position != nil {
		return errors.New("give position or action, not both")
	}
	if a == "" && in.Position == nil {
		return errors.New("nothing to do; give position (0–100) or action (open, close, stop)")
	}
	return nil
}

// ValidateLockIntent checks a set_locks request: action lock or unlock.
func ValidateLockIntent(in LockIntent) error {
	switch strings.ToLower(strings.TrimSpace(in.Action)) {
	case "lock", "unlock":
		return nil
	case "":
		return errors.New("action is required; use lock or unlock")
	}
	return fmt.Errorf("action %q is not valid; use lock or unlock", in.Action)
}

// unsupported returns a Command saying the device lacks the listed capabilities.
func unsupported(d *Device, missing ...string) Command {
	var what string
	switch len(missing) {
	case 0:
		what = "this capability"
	case 1:
		what = missing[0]
	default:
		what = strings.Join(missing[:len(missing)-1], ", ") + " or " + missing[len(missing)-1]
	}
	return Command{Device: d, Unsupported: d.FriendlyName + " has no " + what}
}

// writable returns f when it exists and can be set, else nil.
func writable(f *Expose) *Expose {
	if f != nil && f.Can(AccessSet) {
		return f
	}
	return nil
}

// readable reports whether a /get of the property answers in a state message.
func readable(f *Expose) bool { return f != nil && f.Can(AccessState) && f.Can(AccessGet) }

// addReadback appends f's property when it can be read back.
func (c *Command) addReadback(f *Expose) {
	if readable(f) {
		for _, p := range c.Readback {
			if p == f.Property {
				return
			}
		}
		c.Readback = append(c.Readback, f.Property)
	}
}

// binaryValue returns the feature's value for an on/off/toggle word. For
// toggle it also returns the expected resulting value when cur shows the
// current one (nil otherwise). A feature without value_toggle is toggled by
// sending the inverse of the known state; ok is false when neither works.
func binaryValue(f *Expose, word string, cur *State) (send, expect any, idempotent, ok bool) {
	switch word {
	case wordOn:
		return f.ValueOn, f.ValueOn, true, f.ValueOn != nil
	case wordOff:
		return f.ValueOff, f.ValueOff, true, f.ValueOff != nil
	}
	var inverse any
	if cur != nil {
		if v, found := cur.Values[f.Property]; found {
			switch {
			case sameValue(v, f.ValueOn):
				inverse = f.ValueOff
			case sameValue(v, f.ValueOff):
				inverse = f.ValueOn
			}
		}
	}
	if f.ValueToggle != nil {
		return f.ValueToggle, inverse, false, true
	}
	if inverse != nil {
		return inverse, inverse, true, true
	}
	return nil, nil, false, false
}

// sameValue compares JSON scalars (strings case-insensitively).
func sameValue(a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	if as, ok := a.(string); ok {
		bs, ok := b.(string)
		return ok && strings.EqualFold(as, bs)
	}
	if an, ok := toFloat(a); ok {
		bn, ok := toFloat(b)
		return ok && an == bn
	}
	return a == b
}

// curNumber returns a numeric state value.
func curNumber(cur *State, property string) (float64, bool) {
	if cur == nil {
		return 0, false
	}
	return toFloat(cur.Values[property])
}

// matchEnum returns the enum value equal to s (case-insensitive), in the
// device's casing.
func matchEnum(values []any, s string) (any, bool) {
	s = strings.TrimSpace(s)
	for _, v := range values {
		switch x := v.(type) {
		case string:
			if strings.EqualFold(x, s) {
				return x, true
			}
		case float64:
			if n, err := strconv.ParseFloat(s, 64); err == nil && n == x {
				return x, true
			}
		}
	}
	return nil, false
}

// enumList formats enum values for messages.
func enumList(values []any) string {
	parts := make([]string, 0, len(values))
	for _, v := range values {
		switch x := v.(type) {
		case string:
			parts = append(parts, x)
		case float64:
			parts = append(parts, intentNum(x, 6))
		default:
			parts = append(parts, fmt.Sprint(x))
		}
	}
	return strings.Join(parts, ", ")
}

func firstSpecific(d *Device, typ string) *Expose {
	if s := d.Specific(typ); len(s) > 0 {
		return s[0]
	}
	return nil
}

// BuildLight builds the set_lights command for one device.
//
// state on/off/toggle goes to the light's state feature (its value_on, off or
// toggle). brightness % is scaled into the brightness feature's range (0–254);
// brightness 0 % sends only {"state":"OFF"} (Zigbee2MQTT turns a light off at
// brightness 0 anyway, and the level is kept for the next on). brightness_step
// % becomes brightness_step in units of 254. Kelvin becomes mireds clamped to
// the device's color_temp range, with a note. A colour goes out as xy where
// the device has color_xy, else as hue/saturation; a named white goes out as
// a colour temperature where the device has color_temp. When the command
// turns the light off, only the state is expected: an off bulb does not apply
// level or colour. A device that is a plain switch (kind switch, one state)
// accepts state alone, so set_lights can switch a lamp on a plug.
func BuildLight(d *Device, in LightIntent, cur *State) (Command, error) {
	if err := ValidateLightIntent(in); err != nil {
		return Command{}, err
	}
	word, _ := intentStateWord(in.State)
	light := firstSpecific(d, TypeLight)
	var stateF, briF, ctF, xyF, hsF *Expose
	if light != nil {
		stateF = writable(light.Feature("state"))
		briF = writable(light.Feature("brightness"))
		ctF = writable(light.Feature("color_temp"))
		xyF = writable(light.Feature("color_xy"))
		hsF = writable(light.Feature("color_hs"))
	} else if d.Kind() == TypeSwitch {
		if ts := switchTargets(d); len(ts) == 1 {
			stateF = ts[0].f
		}
	}
	if light == nil && stateF == nil {
		return unsupported(d, "light control"), nil
	}

	var color Color
	if in.Color != "" {
		color, _ = ParseColor(in.Color) // validated above
	}
	useKelvin := in.ColorTempKelvin != nil || (in.Color != "" && color.IsWhite() && ctF != nil)
	offByBrightness := in.Brightness != nil && *in.Brightness == 0

	var missing []string
	if (word != "" || offByBrightness) && stateF == nil {
		missing = append(missing, "on/off")
	}
	if (in.Brightness != nil && !offByBrightness || in.BrightnessStep != nil) && briF == nil {
		missing = append(missing, "brightness")
	}
	if useKelvin && ctF == nil {
		missing = append(missing, "colour temperature")
	}
	if in.Color != "" && !useKelvin && xyF == nil && hsF == nil {
		if color.IsWhite() {
			missing = append(missing, "colour temperature or colour")
		} else {
			missing = append(missing, "colour")
		}
	}
	var effF *Expose
	if in.Effect != "" {
		effF = writable(d.FindProperty("effect"))
		if effF == nil || effF.Type != "enum" {
			missing = append(missing, "effects")
		}
	}
	if len(missing) > 0 {
		return unsupported(d, missing...), nil
	}

	cmd := Command{Device: d, Payload: map[string]any{}, Idempotent: true}
	name := d.FriendlyName
	var expects []Expectation
	off := false

	// Effect first: an error here must not leave a half-built command.
	if effF != nil {
		v, ok := matchEnum(effF.Values, in.Effect)
		if !ok {
			return Command{}, fmt.Errorf("effect %q is not one of %s's effects: %s", in.Effect, name, enumList(effF.Values))
		}
		cmd.Payload[effF.Property] = v // write-only or transient: nothing to expect
	}

	switch {
	case offByBrightness:
		cmd.Payload[stateF.Property] = stateF.ValueOff
		cmd.Notes = append(cmd.Notes, "brightness 0 % turns the light off")
		expects = append(expects, Expectation{Property: stateF.Property, Value: stateF.ValueOff})
		off = true
		cmd.addReadback(stateF)
	case word != "":
		send, expect, idem, ok := binaryValue(stateF, word, cur)
		if !ok {
			return unsupported(d, "toggle"), nil
		}
		cmd.Payload[stateF.Property] = send
		if !idem {
			cmd.Idempotent = false
		}
		if expect != nil {
			expects = append(expects, Expectation{Property: stateF.Property, Value: expect})
			off = sameValue(expect, stateF.ValueOff)
		}
		if word == wordOff {
			off = true
		}
		cmd.addReadback(stateF)
	}

	if in.Brightness != nil && !offByBrightness {
		lo, hi := rangeOf(briF, 0, 254)
		raw := math.Round(lo + *in.Brightness/100*(hi-lo))
		if raw < math.Max(lo, 1) {
			raw = math.Max(lo, 1) // any non-zero % stays on
		}
		cmd.Payload[briF.Property] = raw
		expects = append(expects, Expectation{Property: briF.Property, Value: raw, Tolerance: 1})
		cmd.addReadback(briF)
	}
	if in.BrightnessStep != nil {
		step := math.Round(*in.BrightnessStep / 100 * 254)
		if step == 0 && *in.BrightnessStep != 0 {
			step = math.Copysign(1, *in.BrightnessStep)
		}
		cmd.Payload["brightness_step"] = step
		cmd.Idempotent = false
		if b, ok := curNumber(cur, briF.Property); ok {
			lo, hi := rangeOf(briF, 0, 254)
			want := math.Min(hi, math.Max(math.Max(lo, 1), b+step))
			expects = append(expects, Expectation{Property: briF.Property, Value: want, Tolerance: 1})
		}
		cmd.addReadback(briF)
	}
	if useKelvin {
		k, label := 0.0, ""
		if in.ColorTempKelvin != nil {
			k = *in.ColorTempKelvin
			label = intentNum(k, 0) + " K"
		} else {
			k = color.Kelvin
			label = color.Name + " (" + intentNum(k, 0) + " K)"
		}
		mired, note := kelvinToMired(k, ctF, label, name)
		if note != "" {
			cmd.Notes = append(cmd.Notes, note)
		}
		cmd.Payload[ctF.Property] = mired
		expects = append(expects, Expectation{Property: ctF.Property, Value: mired, Tolerance: 2})
		cmd.addReadback(ctF)
	} else if in.Color != "" {
		if xyF != nil {
			x, y := color.XY()
			cmd.Payload[xyF.Property] = map[string]any{"x": x, "y": y}
			expects = append(expects, Expectation{Property: xyF.Property, Value: map[string]any{"x": x, "y": y}, Tolerance: 0.01})
			cmd.addReadback(xyF)
		} else {
			h, s := color.HS()
			cmd.Payload[hsF.Property] = map[string]any{"hue": h, "saturation": s}
			expects = append(expects, Expectation{Property: hsF.Property, Value: map[string]any{"hue": h, "saturation": s}, Tolerance: 1})
			cmd.addReadback(hsF)
		}
	}
	if in.Transition != nil {
		if light != nil {
			cmd.Payload["transition"] = *in.Transition
		} else {
			cmd.Notes = append(cmd.Notes, "transition ignored: "+name+" is a switch, not a dimmable light")
		}
	}

	if off && stateF != nil {
		// An off light applies neither level nor colour: only the state confirms.
		var only []Expectation
		for _, e := range expects {
			if e.Property == stateF.Property {
				only = append(only, e)
			}
		}
		expects = only
		cmd.Readback = nil
		cmd.addReadback(stateF)
	}
	cmd.Expect = expects
	return cmd, nil
}

// rangeOf returns a numeric feature's value_min/value_max, or the defaults.
func rangeOf(f *Expose, lo, hi float64) (float64, float64) {
	if f.ValueMin != nil {
		lo = *f.ValueMin
	}
	if f.ValueMax != nil {
		hi = *f.ValueMax
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// kelvinToMired converts k to mireds clamped to the color_temp feature's
// range; the note says so when it clamped.
func kelvinToMired(k float64, ct *Expose, label, name string) (float64, string) {
	m := math.Round(1e6 / k)
	if ct.ValueMax != nil && m > *ct.ValueMax {
		c := *ct.ValueMax
		return c, fmt.Sprintf("%s is warmer than %s supports; clamped to %s K (%s mired)", label, name, intentNum(1e6/c, 0), intentNum(c, 0))
	}
	if ct.ValueMin != nil && m < *ct.ValueMin {
		c := *ct.ValueMin
		return c, fmt.Sprintf("%s is cooler than %s supports; clamped to %s K (%s mired)", label, name, intentNum(1e6/c, 0), intentNum(c, 0))
	}
	return m, ""
}

// climateSetpoints are the heating setpoint properties, preferred first.
var climateSetpoints = []string{"occupied_heating_setpoint", "current_heating_setpoint"}

// BuildClimate builds the set_climate command for one device. The setpoint
// goes to the property the device's climate expose has (occupied_ or
// current_heating_setpoint); °F is converted to °C; a value outside the
// device's min/max is an error naming the range; an off-step value is snapped
// to value_step (counted from value_min) with a note. Mode and preset match
// the device's values case-insensitively and are sent in its casing.
func BuildClimate(d *Device, in ClimateIntent, cur *State) (Command, error) {
	if err := ValidateClimateIntent(in); err != nil {
		return Command{}, err
	}
	cl := firstSpecific(d, TypeClimate)
	if cl == nil {
		return unsupported(d, "climate control"), nil
	}
	var spF *Expose
	for _, n := range climateSetpoints {
		if spF = writable(cl.Feature(n)); spF != nil {
			break
		}
	}
	modeF := writable(cl.Feature("system_mode"))
	if modeF == nil {
		modeF = writable(d.FindProperty("system_mode"))
	}
	presetF := writable(cl.Feature("preset"))
	if presetF == nil {
		presetF = writable(d.FindProperty("preset"))
	}
	mode, preset := strings.TrimSpace(in.Mode), strings.TrimSpace(in.Preset)
	var missing []string
	if in.Temperature != nil && spF == nil {
		missing = append(missing, "heating setpoint")
	}
	if mode != "" && (modeF == nil || modeF.Type != "enum") {
		missing = append(missing, "mode (system_mode)")
	}
	if preset != "" && (presetF == nil || presetF.Type != "enum") {
		missing = append(missing, "preset")
	}
	if len(missing) > 0 {
		return unsupported(d, missing...), nil
	}

	name := d.FriendlyName
	cmd := Command{Device: d, Payload: map[string]any{}, Idempotent: true}
	if in.Temperature != nil {
		unit, _ := climateUnit(in.Unit)
		v, notes, err := climateSetpoint(spF, *in.Temperature, unit, name)
		if err != nil {
			return Command{}, err
		}
		cmd.Notes = append(cmd.Notes, notes...)
		tol := 0.25
		if spF.ValueStep != nil && *spF.ValueStep > 0 {
			tol = *spF.ValueStep / 2
		}
		cmd.Payload[spF.Property] = v
		cmd.Expect = append(cmd.Expect, Expectation{Property: spF.Property, Value: v, Tolerance: tol})
		cmd.addReadback(spF)
	}
	for _, sel := range []struct {
		f          *Expose
		want, what string
		asked      string
	}{{modeF, mode, "mode", in.Mode}, {presetF, preset, "preset", in.Preset}} {
		if sel.want == "" {
			continue
		}
		v, ok := matchEnum(sel.f.Values, sel.want)
		if !ok {
			return Command{}, fmt.Errorf("%s %q is not one of %s's %ss: %s", sel.what, sel.asked, name, sel.what, enumList(sel.f.Values))
		}
		cmd.Payload[sel.f.Property] = v
		cmd.Expect = append(cmd.Expect, Expectation{Property: sel.f.Property, Value: v})
		cmd.addReadback(sel.f)
	}
	return cmd, nil
}

func cToF(c float64) float64 { return c*9/5 + 32 }

// climateSetpoint converts, range-checks and snaps a setpoint.
func climateSetpoint(f *Expose, t float64, unit, name string) (float64, []string, error) {
	c := t
	given := intentNum(t, 1) + " °C"
	if unit == "F" {
		c = (t - 32) * 5 / 9
		given = intentNum(t, 1) + " °F (" + intentNum(c, 1) + " °C)"
	}
	const eps = 1e-9
	if (f.ValueMin != nil && c < *f.ValueMin-eps) || (f.ValueMax != nil && c > *f.ValueMax+eps) {
		return 0, nil, fmt.Errorf("temperature %s is outside %s's range %s", given, name, climateRange(f, unit))
	}
	var notes []string
	if unit == "F" {
		notes = append(notes, intentNum(t, 1)+" °F is "+intentNum(c, 2)+" °C")
	}
	v := c
	if f.ValueStep != nil && *f.ValueStep > 0 {
		step := *f.ValueStep
		base := 0.0
		if f.ValueMin != nil {
			base = *f.ValueMin
		}
		v = base + math.Round((c-base)/step)*step
		if f.ValueMax != nil && v > *f.ValueMax+eps {
			v -= step
		}
		if f.ValueMin != nil && v < *f.ValueMin-eps {
			v += step
		}
		v = math.Round(v*1e6) / 1e6
		if math.Abs(v-c) > eps {
			notes = append(notes, intentNum(c, 2)+" °C snapped to "+intentNum(v, 3)+" °C (step "+intentNum(step, 3)+")")
		}
	} else {
		v = math.Round(v*100) / 100
	}
	return v, notes, nil
}

func climateRange(f *Expose, unit string) string {
	lo, hi := "", ""
	loF, hiF := "", ""
	if f.ValueMin != nil {
		lo, loF = intentNum(*f.ValueMin, 2), intentNum(cToF(*f.ValueMin), 1)
	}
	if f.ValueMax != nil {
		hi, hiF = intentNum(*f.ValueMax, 2), intentNum(cToF(*f.ValueMax), 1)
	}
	var r string
	switch {
	case lo != "" && hi != "":
		r = lo + "–" + hi + " °C"
		if unit == "F" {
			r += " (" + loF + "–" + hiF + " °F)"
		}
	case lo != "":
		r = "≥ " + lo + " °C"
		if unit == "F" {
			r += " (≥ " + loF + " °F)"
		}
	default:
		r = "≤ " + hi + " °C"
		if unit == "F" {
			r += " (≤ " + hiF + " °F)"
		}
	}
	return r
}

// switchTarget is one switchable state feature and its endpoint name.
type switchTarget struct {
	endpoint string
	f        *Expose
}

// switchTargets returns the writable state features of a device's switch and
// light exposes.
func switchTargets(d *Device) []switchTarget {
	var out []switchTarget
	ex := d.Exposes()
	for i := range ex {
		e := &ex[i]
		if e.Type != TypeSwitch && e.Type != TypeLight {
			continue
		}
		f := writable(e.Feature("state"))
		if f == nil || f.Type != "binary" {
			continue
		}
		ep := e.Endpoint
		if ep == "" {
			ep = f.Endpoint
		}
		out = append(out, switchTarget{endpoint: ep, f: f})
	}
	return out
}

// BuildSwitch builds the set_switches command for a switch or light. A device
// with one switchable state takes endpoint "" (or its own endpoint); one with
// several (state_left/state_right, state_l1, ...) takes the endpoint by name,
// endpoint number or state property, or, without one, switches every gang.
func BuildSwitch(d *Device, in SwitchIntent, cur *State) (Command, error) {
	if err := ValidateSwitchIntent(in); err != nil {
		return Command{}, err
	}
	word, _ := intentStateWord(in.State)
	if k := d.Kind(); k != TypeSwitch && k != TypeLight {
		return unsupported(d, "on/off switching"), nil
	}
	ts := switchTargets(d)
	if len(ts) == 0 {
		return unsupported(d, "on/off switching"), nil
	}
	ep := strings.TrimSpace(in.Endpoint)
	picked := ts // no endpoint on a multi-gang device: every gang
	if ep != "" || len(ts) == 1 {
		t, err := pickSwitch(d, ts, ep)
		if err != nil {
			return Command{}, err
		}
		picked = []switchTarget{t}
	}
	cmd := Command{Device: d, Payload: map[string]any{}, Idempotent: true}
	for _, t := range picked {
		send, expect, idem, ok := binaryValue(t.f, word, cur)
		if !ok {
			return unsupported(d, word), nil
		}
		cmd.Payload[t.f.Property] = send
		cmd.Idempotent = cmd.Idempotent && idem
		if expect != nil {
			cmd.Expect = append(cmd.Expect, Expectation{Property: t.f.Property, Value: expect})
		}
		cmd.addReadback(t.f)
	}
	if len(picked) > 1 {
		cmd.Notes = append(cmd.Notes, fmt.Sprintf("no endpoint given: all %d switches of %s", len(picked), d.FriendlyName))
		if len(cmd.Expect) != len(picked) {
			cmd.Expect = nil // a partly unknown toggle: nothing reliable to expect
		}
	}
	return cmd, nil
}

func pickSwitch(d *Device, ts []switchTarget, ep string) (switchTarget, error) {
	var names []string
	for _, t := range ts {
		n := t.endpoint
		if n == "" {
			n = t.f.Property
		}
		names = append(names, n)
	}
	if ep == "" {
		if len(ts) == 1 {
			return ts[0], nil
		}
		return switchTarget{}, fmt.Errorf("%s has %d switches; give endpoint, one of: %s", d.FriendlyName, len(ts), strings.Join(names, ", "))
	}
	want := ep
	if e := d.EndpointByName(ep); e != nil && e.Name != "" {
		want = e.Name // endpoint number → name
	}
	for _, t := range ts {
		if (t.endpoint != "" && (strings.EqualFold(t.endpoint, want) || strings.EqualFold(t.endpoint, ep))) || strings.EqualFold(t.f.Property, ep) {
			return t, nil
		}
	}
	if len(ts) == 1 && ts[0].endpoint == "" && d.EndpointByName(ep) != nil {
		return ts[0], nil // a plug addressed by its only endpoint's number
	}
	if len(ts) == 1 {
		return switchTarget{}, fmt.Errorf("%s has no endpoint %q; it has a single switch, leave endpoint empty", d.FriendlyName, ep)
	}
	return switchTarget{}, fmt.Errorf("%s has no endpoint %q; its endpoints are: %s", d.FriendlyName, ep, strings.Join(names, ", "))
}

// BuildCover builds the set_covers command. position is sent as a whole
// percentage and expected back ±1; open and close are expected to end at
// position 100 and 0 (covers report while they move, so the engine waits for
// the end position); stop has nothing to expect.
func BuildCover(d *Device, in CoverIntent, cur *State) (Command, error) {
	if err := ValidateCoverIntent(in); err != nil {
		return Command{}, err
	}
	cv := firstSpecific(d, TypeCover)
	if cv == nil {
		return unsupported(d, "cover control"), nil
	}
	posF := cv.Feature("position")
	cmd := Command{Device: d, Payload: map[string]any{}, Idempotent: true}
	if in.Position != nil {
		if writable(posF) == nil {
			return unsupported(d, "position control"), nil
		}
		p := math.Round(*in.Position)
		if p != *in.Position {
			cmd.Notes = append(cmd.Notes, "position "+intentNum(*in.Position, 2)+" % rounded to "+intentNum(p, 0)+" %")
		}
		cmd.Payload[posF.Property] = p
		if posF.Can(AccessState) {
			cmd.Expect = []Expectation{{Property: posF.Property, Value: p, Tolerance: 1}}
		}
		cmd.addReadback(posF)
		return cmd, nil
	}
	action := strings.ToLower(strings.TrimSpace(in.Action))
	stF := writable(cv.Feature("state"))
	if stF == nil {
		return unsupported(d, "open/close control"), nil
	}
	var send any
	switch stF.Type {
	case "enum":
		send, _ = matchEnum(stF.Values, action)
	case "binary":
		for _, v := range []any{stF.ValueOn, stF.ValueOff, stF.ValueToggle} {
			if sameValue(v, action) {
				send = v
			}
		}
	}
	if send == nil {
		return unsupported(d, action), nil
	}
	cmd.Payload[stF.Property] = send
	if action != "stop" {
		if posF != nil && posF.Can(AccessState) {
			end := 100.0
			if action == "close" {
				end = 0
			}
			cmd.Expect = []Expectation{{Property: posF.Property, Value: end}}
		} else if stF.Can(AccessState) {
			cmd.Expect = []Expectation{{Property: stF.Property, Value: send}}
		}
	}
	cmd.addReadback(stF)
	return cmd, nil
}

// BuildLock builds the set_locks command: the lock's state feature gets its
// LOCK or UNLOCK value, which is also what confirms (locks do not echo; the
// device reports).
func BuildLock(d *Device, in LockIntent, cur *State) (Command, error) {
	if err := ValidateLockIntent(in); err != nil {
		return Command{}, err
	}
	lk := firstSpecific(d, TypeLock)
	if lk == nil {
		return unsupported(d, "lock control"), nil
	}
	stF := writable(lk.Feature("state"))
	if stF == nil {
		return unsupported(d, "lock control"), nil
	}
	action := strings.ToLower(strings.TrimSpace(in.Action))
	var send any
	for _, v := range []any{stF.ValueOn, stF.ValueOff} {
		if sameValue(v, action) {
			send = v
		}
	}
	if send == nil { // values other than LOCK/UNLOCK: on = locked
		if action == "lock" {
			send = stF.ValueOn
		} else {
			send = stF.ValueOff
		}
	}
	if send == nil {
		return unsupported(d, action), nil
	}
	cmd := Command{Device: d, Payload: map[string]any{stF.Property: send}, Idempotent: true}
	if stF.Can(AccessState) {
		cmd.Expect = []Expectation{{Property: stF.Property, Value: send}}
	}
	cmd.addReadback(stF)
	return cmd, nil
}
