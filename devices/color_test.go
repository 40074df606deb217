package devices

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseColorNamesAndHex(t *testing.T) {
	for _, tc := range []struct {
		in      string
		name    string
		hex     string
		kelvin  float64
		isWhite bool
	}{
		{"red", "red", "#ff0000", 0, false},
		{"RED", "red", "#ff0000", 0, false},
		{"  teal ", "teal", "#00a08c", 0, false},
		{"warm white", "warm white", "#ffa757", 2700, true},
		{"warm_white", "warm white", "#ffa757", 2700, true},
		{"WarmWhite", "warm white", "#ffa757", 2700, true},
		{"warm-white", "warm white", "#ffa757", 2700, true},
		{"Cool White", "cool white", "#ffe4ce", 5000, true},
		{"daylight", "daylight", "#fff9fd", 6500, true},
		{"candle", "candle", "#ff8912", 2000, true},
		{"neutral_white", "neutral white", "#ffd1a3", 4000, true},
		{"soft white", "soft white", "#ffb46b", 3000, true},
		{"hot pink", "hot pink", "#ff69b4", 0, false},
		{"HotPink", "hot pink", "#ff69b4", 0, false},
		{"sky_blue", "sky blue", "#87ceeb", 0, false},
		{"fuchsia", "magenta", "#ff00ff", 0, false}, // alias
		{"#FF8000", "", "#ff8000", 0, false},
		{"#ff8000", "", "#ff8000", 0, false},
		{"#f80", "", "#ff8800", 0, false},
		{"#000", "", "#000000", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseColor(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.name, c.Name)
			require.Equal(t, tc.hex, c.Hex())
			require.Equal(t, tc.kelvin, c.Kelvin)
			require.Equal(t, tc.isWhite, c.IsWhite())
		})
	}
}

func TestParseColorErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", []string{"empty"}},
		{"   ", []string{"empty"}},
		{"blurple", []string{`unknown colour "blurple"`, "red", "warm white", "#rrggbb"}},
		{"purpel", []string{"did you mean purple"}},
		{"warm", nil}, // alias, no error
		{"#12345", []string{"#rrggbb"}},
		{"#gggggg", []string{"not a hex code"}},
		{"#ff00ff00", []string{"not a hex code"}},
		{"ff0000", []string{"unknown colour"}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseColor(tc.in)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestColorNamesTable(t *testing.T) {
	names := ColorNames()
	require.GreaterOrEqual(t, len(names), 40)
	for _, n := range []string{"red", "green", "blue", "white", "warm white", "cool white", "daylight", "candle",
		"yellow", "orange", "amber", "pink", "hot pink", "purple", "violet", "magenta", "cyan", "teal", "turquoise",
		"lime", "gold", "coral", "salmon", "lavender", "indigo", "navy", "sky blue", "mint", "crimson", "peach",
		"neutral white", "soft white"} {
		require.Contains(t, names, n)
		c, err := ParseColor(n)
		require.NoError(t, err, n)
		require.Equal(t, n, c.Name)
	}
	for _, w := range []string{"warm white", "cool white", "daylight", "candle", "neutral white", "soft white", "white"} {
		c, _ := ParseColor(w)
		require.True(t, c.IsWhite(), w)
	}
	for _, n := range names {
		c, err := ParseColor(n)
		require.NoError(t, err)
		require.False(t, c.IsBlack(), n)
	}
}

func TestColorXY(t *testing.T) {
	// Reference values: Philips Hue's documented sRGB→xy (wide gamut D65) and
	// zigbee-herdsman-converters' ColorRGB.toXY, rounded to 4 decimals.
	for _, tc := range []struct {
		in   string
		x, y float64
	}{
		{"red", 0.7006, 0.2993},
		{"#00ff00", 0.1724, 0.7468},
		{"blue", 0.1355, 0.0399},
		{"#ffffff", 0.3227, 0.3290},
		{"yellow", 0.4442, 0.5166},
		{"cyan", 0.1513, 0.3425},
		{"magenta", 0.3855, 0.1546},
		{"#000000", 0.3127, 0.3290}, // no chromaticity: D65 white point
		// Named whites follow the Planckian locus (CIE 1931 reference
		// values; Kim et al.'s spline is within 0.001 of them).
		{"warm white", 0.4599, 0.4106},
		{"neutral white", 0.3805, 0.3768},
		{"daylight", 0.3135, 0.3237},
		{"candle", 0.5269, 0.4133},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseColor(tc.in)
			require.NoError(t, err)
			x, y := c.XY()
			tol := 0.00011
			if c.IsWhite() {
				tol = 0.001
			}
			require.InDelta(t, tc.x, x, tol, "x")
			require.InDelta(t, tc.y, y, tol, "y")
			require.Equal(t, x, math.Round(x*1e4)/1e4, "4 decimals")
		})
	}
}

func TestKelvinToXYRange(t *testing.T) {
	// The Planckian locus runs from red-orange to blue-white as k rises.
	x1, _ := KelvinToXY(2000)
	x2, _ := KelvinToXY(4000)
	x3, _ := KelvinToXY(10000)
	require.Greater(t, x1, x2)
	require.Greater(t, x2, x3)
	// Clamped outside the spline's range.
	x1, y1 := KelvinToXY(500)
	x2, y2 := KelvinToXY(1667)
	require.Equal(t, x2, x1)
	require.Equal(t, y2, y1)
}

func TestColorHS(t *testing.T) {
	for _, tc := range []struct {
		in     string
		hue, s float64
	}{
		{"red", 0, 100},
		{"#00ff00", 120, 100},
		{"blue", 240, 100},
		{"cyan", 180, 100},
		{"magenta", 300, 100},
		{"orange", 30, 100},
		{"#ffffff", 0, 0},
		{"#000000", 0, 0},
		{"#ff0001", 0, 100}, // 359.8° rounds to 360 → 0
		{"pink", 350, 25},
		{"warm white", 29, 66},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseColor(tc.in)
			require.NoError(t, err)
			h, s := c.HS()
			require.Equal(t, tc.hue, h)
			require.Equal(t, tc.s, s)
		})
	}
}

func TestColorString(t *testing.T) {
	c, _ := ParseColor("Warm_White")
	require.Equal(t, "warm white", c.String())
	c, _ = ParseColor("#ABC")
	require.Equal(t, "#aabbcc", c.String())
}

func FuzzParseColor(f *testing.F) {
	for _, s := range []string{"red", "warm white", "WarmWhite", "#ff8000", "#abc", "#", "", "  ", "purpel", "#zzzzzz", "é", strings.Repeat("a", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseColor(s)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		x, y := c.XY()
		require.False(t, math.IsNaN(x) || math.IsNaN(y))
		require.True(t, x >= 0 && x <= 1 && y >= 0 && y <= 1, "xy %v %v", x, y)
		h, sat := c.HS()
		require.True(t, h >= 0 && h < 360, "hue %v", h)
		require.True(t, sat >= 0 && sat <= 100, "saturation %v", sat)
		// The hex form parses back to the same colour components.
		back, err := ParseColor(c.Hex())
		require.NoError(t, err)
		require.Equal(t, [3]uint8{c.R, c.G, c.B}, [3]uint8{back.R, back.G, back.B})
	})
}
