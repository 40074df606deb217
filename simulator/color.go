package simulator

import (
	"math"
	"strconv"
	"strings"
)

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// xyToMireds is zigbee-herdsman-converters' ColorXY.toMireds (McCamy with
// its coefficients).
func xyToMireds(x, y float64) float64 {
	n := (x - 0.332) / (0.1858 - y)
	kelvin := math.Abs(437*n*n*n + 3601*n*n + 6861*n + 5517)
	return math.Round(1e6 / kelvin)
}

// miredsToXY approximates the Planckian locus (Kim et al. cubic spline).
func miredsToXY(mireds float64) (float64, float64) {
	t := clamp(1e6/mireds, 1667, 25000)
	var x float64
	if t <= 4000 {
		x = -0.2661239e9/(t*t*t) - 0.2343589e6/(t*t) + 0.8776956e3/t + 0.179910
	} else {
		x = -3.0258469e9/(t*t*t) + 2.1070379e6/(t*t) + 0.2226347e3/t + 0.240390
	}
	var y float64
	switch {
	case t <= 2222:
		y = -1.1063814*x*x*x - 1.34811020*x*x + 2.18555832*x - 0.20219683
	case t <= 4000:
		y = -0.9549476*x*x*x - 1.37418593*x*x + 2.09137015*x - 0.16748867
	default:
		y = 3.0817580*x*x*x - 5.87338670*x*x + 3.75112997*x - 0.37001483
	}
	return round4(x), round4(y)
}

// rgbToXY converts 0–255 sRGB to CIE xy (gamma corrected, wide-gamut D65
// matrix as used by zigbee-herdsman-converters).
func rgbToXY(r, g, b float64) (float64, float64) {
	gamma := func(v float64) float64 {
		v /= 255
		if v > 0.04045 {
			return math.Pow((v+0.055)/1.055, 2.4)
		}
		return v / 12.92
	}
	rr, gg, bb := gamma(r), gamma(g), gamma(b)
	X := rr*0.664511 + gg*0.154324 + bb*0.162028
	Y := rr*0.283881 + gg*0.668433 + bb*0.047685
	Z := rr*0.000088 + gg*0.072310 + bb*0.986039
	sum := X + Y + Z
	if sum == 0 {
		return 0, 0
	}
	return round4(X / sum), round4(Y / sum)
}

// hsvToRGB: h 0–360, s and v 0–100.
func hsvToRGB(h, s, v float64) (float64, float64, float64) {
	h = math.Mod(h, 360)
	if h < 0 {
		h += 360
	}
	s, v = s/100, v/100
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	var r, g, b float64
	switch {
	case h < 60:
		r, g, b = c, x, 0
	case h < 120:
		r, g, b = x, c, 0
	case h < 180:
		r, g, b = 0, c, x
	case h < 240:
		r, g, b = 0, x, c
	case h < 300:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	return (r + m) * 255, (g + m) * 255, (b + m) * 255
}

// parsedColor is a colour command reduced to xy or hue/saturation.
type parsedColor struct {
	hs       bool
	x, y     float64
	hue, sat float64
	hasHue   bool
	hasSat   bool
}

func parseHex(s string) (float64, float64, float64, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(s) != 6 {
		return 0, 0, 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, 0, 0, false
	}
	return float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff), true
}

func parseTriple(s string) ([3]float64, bool) {
	var out [3]float64
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return out, false
		}
		out[i] = f
	}
	return out, true
}

// parseColor accepts the colour forms of z2m-protocol.md §4.4.
func parseColor(v any) (parsedColor, bool) {
	if s, ok := v.(string); ok {
		r, g, b, ok := parseHex(s)
		if !ok {
			return parsedColor{}, false
		}
		x, y := rgbToXY(r, g, b)
		return parsedColor{x: x, y: y}, true
	}
	m, ok := v.(map[string]any)
	if !ok {
		return parsedColor{}, false
	}
	get := func(k string) (float64, bool) {
		if _, present := m[k]; !present {
			return 0, false
		}
		return toNumber(m[k])
	}
	if x, ok := get("x"); ok {
		if y, ok := get("y"); ok {
			return parsedColor{x: round4(x), y: round4(y)}, true
		}
		return parsedColor{}, false
	}
	if r, ok := get("r"); ok {
		g, ok1 := get("g")
		b, ok2 := get("b")
		if !ok1 || !ok2 {
			return parsedColor{}, false
		}
		x, y := rgbToXY(r, g, b)
		return parsedColor{x: x, y: y}, true
	}
	if s, ok := m["rgb"].(string); ok {
		t, ok := parseTriple(s)
		if !ok {
			return parsedColor{}, false
		}
		x, y := rgbToXY(t[0], t[1], t[2])
		return parsedColor{x: x, y: y}, true
	}
	if s, ok := m["hex"].(string); ok {
		r, g, b, ok := parseHex(s)
		if !ok {
			return parsedColor{}, false
		}
		x, y := rgbToXY(r, g, b)
		return parsedColor{x: x, y: y}, true
	}
	for _, k := range []string{"hsv", "hsb", "hsl"} {
		if s, ok := m[k].(string); ok {
			t, ok := parseTriple(s)
			if !ok {
				return parsedColor{}, false
			}
			r, g, b := hsvToRGB(t[0], t[1], t[2])
			x, y := rgbToXY(r, g, b)
			return parsedColor{x: x, y: y}, true
		}
	}
	hue, hasHue := get("hue")
	if !hasHue {
		hue, hasHue = get("h")
	}
	sat, hasSat := get("saturation")
	if !hasSat {
		sat, hasSat = get("s")
	}
	if bri, ok := get("v"); ok && hasHue && hasSat {
		r, g, b := hsvToRGB(hue, sat, bri)
		x, y := rgbToXY(r, g, b)
		return parsedColor{x: x, y: y}, true
	}
	if bri, ok := get("b"); ok && hasHue && hasSat {
		r, g, b := hsvToRGB(hue, sat, bri)
		x, y := rgbToXY(r, g, b)
		return parsedColor{x: x, y: y}, true
	}
	if l, ok := get("l"); ok && hasHue && hasSat {
		// HSL → HSV
		s, lv := sat/100, l/100
		vv := lv + s*math.Min(lv, 1-lv)
		sv := 0.0
		if vv > 0 {
			sv = 2 * (1 - lv/vv)
		}
		r, g, b := hsvToRGB(hue, sv*100, vv*100)
		x, y := rgbToXY(r, g, b)
		return parsedColor{x: x, y: y}, true
	}
	if hasHue || hasSat {
		return parsedColor{hs: true, hue: hue, sat: sat, hasHue: hasHue, hasSat: hasSat}, true
	}
	return parsedColor{}, false
}
