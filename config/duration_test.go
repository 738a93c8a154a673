package config

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "10m", want: 10 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1d", want: 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "0d", want: 0},
		{in: "-5s", want: -5 * time.Second}, // Validate refuses it, naming the directive
		{in: "106751d", want: 106751 * 24 * time.Hour},
		{in: "", bad: true},
		{in: "10", bad: true},
		{in: "ten minutes", bad: true},
		{in: "d", bad: true},
		{in: "1.5d", bad: true},
		{in: "-1d", bad: true},
		{in: "+1d", bad: true},
		{in: "1d-5h", bad: true},
		{in: "1d+5h", bad: true},
		{in: "1d1d", bad: true},
		{in: "106752d", bad: true},               // past what a Duration holds
		{in: "106751d24h", bad: true},            // the sum overflows
		{in: "99999999999999999999d", bad: true}, // past int
		{in: "9999999999999999999h", bad: true},  // time.ParseDuration's own overflow
		{in: "1d" + "9999999999999999999h", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: `"10m"`, want: 10 * time.Minute},
		{in: `"1d"`, want: 24 * time.Hour},
		{in: `500000000`, want: 500 * time.Millisecond}, // as caddy.Duration marshals
		{in: `0`, want: 0},
		{in: `"10"`, bad: true},
		{in: `"x"`, bad: true},
		{in: `1.5`, bad: true},
		{in: `true`, bad: true},
		{in: `"\u00`, bad: true},
		{in: `99999999999999999999`, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.bad {
				if err == nil {
					t.Fatalf("unmarshal %s = %v, want an error", tt.in, time.Duration(d))
				}
				return
			}
			if err != nil {
				t.Fatalf("unmarshal %s: %v", tt.in, err)
			}
			if time.Duration(d) != tt.want {
				t.Errorf("unmarshal %s = %v, want %v", tt.in, time.Duration(d), tt.want)
			}
		})
	}
}

// Durations marshal as integer nanoseconds, like caddy.Duration, and read
// back unchanged.
func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []Duration{0, 1, Duration(time.Minute), Duration(math.MaxInt64), Duration(-time.Second)} {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if back != d {
			t.Errorf("round trip of %d gave %d", d, back)
		}
	}
}

// FuzzParseDuration: no panic, and whatever parses without a day part means
// what time.ParseDuration says; with one, it is never negative (no
// overflow wrapped around).
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"500ms", "1d", "1d12h", "106751d23h", "-1d", "1d-1h", "1.5h", "", "d", "0d0s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDuration(s)
		if err != nil {
			return
		}
		std, stdErr := time.ParseDuration(s)
		if stdErr == nil {
			if got != std {
				t.Fatalf("ParseDuration(%q) = %v, time.ParseDuration = %v", s, got, std)
			}
			return
		}
		if got < 0 {
			t.Fatalf("ParseDuration(%q) = %v: a day duration wrapped negative", s, got)
		}
	})
}
