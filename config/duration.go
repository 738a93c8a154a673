package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that unmarshals from JSON either as integer
// nanoseconds (as caddy.Duration marshals it) or as a duration string such
// as "500ms", "10m" or "1d". It lets config stay independent of Caddy.
type Duration time.Duration

// UnmarshalJSON accepts an integer of nanoseconds or a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		parsed, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(parsed)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("duration must be a string like \"10m\" or integer nanoseconds: %s", b)
	}
	*d = Duration(n)
	return nil
}

// maxDays is the most whole days a time.Duration can hold.
const maxDays = math.MaxInt64 / int64(24*time.Hour)

// ParseDuration parses a Go duration string, also accepting whole days with
// the unit "d" (as Caddy does), such as "1d" or "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	if days, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.Atoi(days)
		// A sign on the rest ("1d-5h") or a day count past what a
		// time.Duration holds would silently mean something else.
		if err != nil || n < 0 || int64(n) > maxDays || days[0] == '+' ||
			strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total := time.Duration(n) * 24 * time.Hour
		if rest == "" {
			return total, nil
		}
		more, err := time.ParseDuration(rest)
		if err != nil || more > math.MaxInt64-total {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return total + more, nil
	}
	parsed, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return parsed, nil
}
