package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzPickAuthedge: `caddy authedge events tail|redeliver` read the
// config's JSON and pick the handler of --env. Whatever the JSON, the
// pick never panics; a pick has the environment asked for; and the same
// config and --env always pick the same handler (Go's map order is not
// an order). Strings with a placeholder are left out: resolving one may
// read a file.
func FuzzPickAuthedge(f *testing.F) {
	f.Add(`{"apps":{"http":{"servers":{"a":{"routes":[{"handle":[{"handler":"authedge","environment_id":"e"}]}]}}}}}`, "")
	f.Add(`{"a":{"handler":"authedge","environment_id":"p","redis":{"addresses":["r:1"]}},`+
		`"b":{"handler":"authedge","environment_id":"p","redis":{"addresses":["r:2"]}}}`, "p")
	f.Add(`[{"handler":"authedge","environment_id":"p"},{"handler":"authedge","environment_id":"q"}]`, "")
	f.Add(`{"handler":"authedge","environment_id":5}`, "")
	f.Add(`{"handler":"authedge","handle":[{"handler":"authedge","environment_id":"inner"}]}`, "inner")
	f.Fuzz(func(t *testing.T, raw, env string) {
		var tree any
		if json.Unmarshal([]byte(raw), &tree) != nil || hasBrace(tree) || strings.Contains(env, "{") {
			return
		}
		first, err := pickAuthedge([]byte(raw), env)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if env != "" && first.EnvironmentID != env {
			t.Fatalf("--env %q picked %q", env, first.EnvironmentID)
		}
		want, _ := json.Marshal(first)
		for range 8 {
			again, err := pickAuthedge([]byte(raw), env)
			got, _ := json.Marshal(again)
			if err != nil || string(got) != string(want) {
				t.Fatalf("--env %q picked %s, then %s (%v)", env, want, got, err)
			}
		}
	})
}

// hasBrace reports whether any string (or name) in the JSON value v
// holds a '{'.
func hasBrace(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(v, "{")
	case map[string]any:
		for k, x := range v {
			if strings.Contains(k, "{") || hasBrace(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasBrace(x) {
				return true
			}
		}
	}
	return false
}
