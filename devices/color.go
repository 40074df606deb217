package devices

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Color is a colour parsed from a name or a hex code. Whites ("warm white",
// "daylight", ...) carry a colour temperature: lights that have color_temp
// get that instead of a colour.
type Color struct {
	// Name is the canonical name ("warm white"), or "" for hex input.
	Name string
	// R, G, B are the sRGB components.
	R, G, B uint8
	// Kelvin is the colour temperature of a named white, 0 otherwise.
	Kelvin float64
}

// IsWhite reports whether the colour is a named white with a colour temperature.
func (c Color) IsWhite() bool { return c.Kelvin > 0 }

// IsBlack reports whether the colour has no light at all (#000000), which no
// light can show as a colour.
func (c Color) IsBlack() bool { return c.R == 0 && c.G == 0 && c.B == 0 }

// Hex returns the colour as "#rrggbb".
func (c Color) Hex() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// String returns the name, or the hex code for unnamed colours.
func (c Color) String() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Hex()
}

// XY returns the CIE 1931 chromaticity, rounded to 4 decimals as Zigbee2MQTT
// reports it. Named whites use the Planckian locus at their colour temperature;
// other colours convert sRGB with gamma correction and the Wide-gamut RGB D65
// matrix, as Philips and zigbee-herdsman-converters do (red → 0.7006, 0.2993).
// Black has no chromaticity and gives the D65 white point.
func (c Color) XY() (x, y float64) {
	if c.IsWhite() {
		x, y = KelvinToXY(c.Kelvin)
	} else {
		x, y = rgbToXY(c.R, c.G, c.B)
	}
	return round4(x), round4(y)
}

// HS returns hue (0–360°, 0 for greys) and saturation (0–100 %), rounded to
// whole numbers as Zigbee2MQTT's color_hs takes them.
func (c Color) HS() (hue, saturation float64) {
	r, g, b := float64(c.R)/255, float64(c.G)/255, float64(c.B)/255
	mx := math.Max(r, math.Max(g, b))
	mn := math.Min(r, math.Min(g, b))
	d := mx - mn
	if mx > 0 {
		saturation = d / mx * 100
	}
	if d > 0 {
		switch mx {
		case r:
			hue = math.Mod((g-b)/d, 6)
		case g:
			hue = (b-r)/d + 2
		default:
			hue = (r-g)/d + 4
		}
		hue *= 60
		if hue < 0 {
			hue += 360
		}
	}
	hue = math.Round(hue)
	if hue >= 360 {
		hue -= 360
	}
	return hue, math.Round(saturation)
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

func srgbLinear(c uint8) float64 {
	v := float64(c) / 255
	if v > 0.04045 {
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return v / 12.92
}

// rgbToXY converts sRGB to CIE xy through the Wide-gamut RGB D65 matrix used by
// Philips Hue and zigbee-herdsman-converters.
func rgbToXY(r8, g8, b8 uint8) (x, y float64) {
	r, g, b := srgbLinear(r8), srgbLinear(g8), srgbLinear(b8)
	X := r*0.664511 + g*0.154324 + b*0.162028
	Y := r*0.283881 + g*0.668433 + b*0.047685
	Z := r*0.000088 + g*0.072310 + b*0.986039
	sum := X + Y + Z
	if sum == 0 {
		return 0.3127, 0.3290 // D65 white point for black
	}
	return X / sum, Y / sum
}

// KelvinToXY returns the chromaticity of a black body at k kelvin (Kim et al.'s
// cubic spline of the Planckian locus; k is limited to 1667–25000 K).
func KelvinToXY(k float64) (x, y float64) {
	k = math.Max(1667, math.Min(25000, k))
	k2, k3 := k*k, k*k*k
	if k <= 4000 {
		x = -0.2661239e9/k3 - 0.2343589e6/k2 + 0.8776956e3/k + 0.179910
	} else {
		x = -3.0258469e9/k3 + 2.1070379e6/k2 + 0.2226347e3/k + 0.240390
	}
	x2, x3 := x*x, x*x*x
	switch {
	case k <= 2222:
		y = -1.1063814*x3 - 1.34811020*x2 + 2.18555832*x - 0.20219683
	case k <= 4000:
		y = -0.9549476*x3 - 1.37418593*x2 + 2.09137015*x - 0.16748867
	default:
		y = 3.0817580*x3 - 5.87338670*x2 + 3.75112997*x - 0.37001483
	}
	return x, y
}

type namedColor struct {
	name   string
	hex    string
	kelvin float64
}

// colorTable lists the named colours; whites carry a colour temperature (their
// hex is the approximate sRGB of that temperature, used for hue/saturation).
var colorTable = []namedColor{
	{"candle", "#ff8912", 2000},
	{"warm white", "#ffa757", 2700},
	{"soft white", "#ffb46b", 3000},
	{"neutral white", "#ffd1a3", 4000},
	{"white", "#ffffff", 4000},
	{"cool white", "#ffe4ce", 5000},
	{"daylight", "#fff9fd", 6500},

	{"red", "#ff0000", 0},
	{"crimson", "#dc143c", 0},
	{"ruby", "#e0115f", 0},
	{"rose", "#ff007f", 0},
	{"raspberry", "#e30b5c", 0},
	{"tomato", "#ff6347", 0},
	{"coral", "#ff7f50", 0},
	{"salmon", "#fa8072", 0},
	{"peach", "#ffb07c", 0},
	{"orange", "#ff8000", 0},
	{"amber", "#ffbf00", 0},
	{"gold", "#ffd700", 0},
	{"yellow", "#ffff00", 0},
	{"lime", "#bfff00", 0},
	{"chartreuse", "#7fff00", 0},
	{"green", "#00ff00", 0},
	{"forest green", "#228b22", 0},
	{"sea green", "#2e8b57", 0},
	{"mint", "#98ff98", 0},
	{"teal", "#00a08c", 0},
	{"turquoise", "#40e0d0", 0},
	{"cyan", "#00ffff", 0},
	{"sky blue", "#87ceeb", 0},
	{"azure", "#007fff", 0},
	{"cornflower blue", "#6495ed", 0},
	{"royal blue", "#4169e1", 0},
	{"blue", "#0000ff", 0},
	{"navy", "#000080", 0},
	{"indigo", "#4b0082", 0},
	{"violet", "#8f00ff", 0},
	{"purple", "#a020f0", 0},
	{"lavender", "#b57edc", 0},
	{"lilac", "#c8a2c8", 0},
	{"plum", "#dda0dd", 0},
	{"orchid", "#da70d6", 0},
	{"magenta", "#ff00ff", 0},
	{"hot pink", "#ff69b4", 0},
	{"deep pink", "#ff1493", 0},
	{"pink", "#ffc0cb", 0},
}

// colorAliases map other spellings to canonical names.
var colorAliases = map[string]string{
	"warm":          "warm white",
	"cool":          "cool white",
	"cold white":    "cool white",
	"natural white": "neutral white",
	"neutral":       "neutral white",
	"candlelight":   "candle",
	"candle light":  "candle",
	"day light":     "daylight",
	"fuchsia":       "magenta",
	"aqua":          "cyan",
}

var colorsByKey = func() map[string]Color {
	m := make(map[string]Color, len(colorTable)+len(colorAliases))
	for _, nc := range colorTable {
		c, ok := parseHexColor(nc.hex)
		if !ok {
			panic("devices: bad colour table entry " + nc.name)
		}
		c.Name = nc.name
		c.Kelvin = nc.kelvin
		m[colorKey(nc.name)] = c
	}
	for alias, name := range colorAliases {
		c, ok := m[colorKey(name)]
		if !ok {
			panic("devices: colour alias to unknown name " + name)
		}
		m[colorKey(alias)] = c
	}
	return m
}()

// ColorNames returns the canonical colour names ParseColor knows, sorted.
func ColorNames() []string {
	out := make([]string, 0, len(colorTable))
	for _, nc := range colorTable {
		out = append(out, nc.name)
	}
	sort.Strings(out)
	return out
}

// colorKey folds case and drops spaces, underscores and hyphens, so
// "Warm White", "warm_white" and "WarmWhite" are one name.
func colorKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case ' ', '_', '-', '\t':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func parseHexColor(s string) (Color, bool) {
	if !strings.HasPrefix(s, "#") {
		return Color{}, false
	}
	h := s[1:]
	switch len(h) {
	case 3:
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	case 6:
	default:
		return Color{}, false
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return Color{}, false
	}
	return Color{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v)}, true
}

// colorExamples are the names error messages suggest.
var colorExamples = []string{"red", "warm white", "daylight", "blue", "teal", "purple", "orange"}

// ParseColor parses a colour name (case, space, underscore and hyphen
// insensitive: "warm white" = "warm_white" = "WarmWhite") or a hex code
// "#rrggbb" / "#rgb".
func ParseColor(s string) (Color, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Color{}, errors.New("colour is empty; give a name like red or warm white, or #rrggbb")
	}
	if strings.HasPrefix(t, "#") {
		if c, ok := parseHexColor(t); ok {
			return c, nil
		}
		return Color{}, fmt.Errorf("colour %q is not a hex code; use #rrggbb (e.g. #ff8000) or #rgb", s)
	}
	key := colorKey(t)
	if c, ok := colorsByKey[key]; ok {
		return c, nil
	}
	msg := fmt.Sprintf("unknown colour %q", s)
	if near := closestColors(key, 3); len(near) > 0 {
		msg += "; did you mean " + strings.Join(near, ", ") + "?"
	}
	return Color{}, fmt.Errorf("%s; use a name like %s, or #rrggbb", msg, strings.Join(colorExamples, ", "))
}

// closestColors returns up to n canonical names within a small edit distance
// of key.
func closestColors(key string, n int) []string {
	if len(key) > 40 {
		return nil
	}
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, nc := range colorTable {
		k := colorKey(nc.name)
		d := EditDistance(key, k)
		limit := 2
		if len(k) <= 4 {
			limit = 1
		}
		if d <= limit || (len(key) >= 3 && strings.Contains(k, key)) {
			cs = append(cs, cand{nc.name, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// EditDistance is the Levenshtein distance between a and b in runes. Inputs
// longer than 64 runes count as far apart (suggestions need no more, and it
// bounds the work on hostile input).
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
