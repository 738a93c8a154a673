package caddymodule

import (
	"strings"
	"testing"
)

func TestPickAuthedge(t *testing.T) {
	nested := `{"apps":{"http":{"servers":{"a":{"routes":[{"handle":[{"handler":"subroute","routes":[{"handle":[
		{"handler":"authedge","environment_id":"prod","redis":{"addresses":["r:1"]},"events":{}}]}]}]}]},
		"b":{"routes":[{"handle":[{"handler":"authedge","environment_id":"stage","events":{"stream_max_len":5}}]}]}}}}}`
	c, err := pickAuthedge([]byte(nested), "prod")
	if err != nil || c.EnvironmentID != "prod" || c.Redis.Addresses[0] != "r:1" {
		t.Fatalf("prod: %+v, %v", c, err)
	}
	c, err = pickAuthedge([]byte(nested), "stage")
	if err != nil || c.Events.StreamMaxLen != 5 {
		t.Fatalf("stage: %+v, %v", c, err)
	}
	for env, want := range map[string]string{
		"":      "several environments (",
		"other": `no authedge handler has environment_id "other"`,
	} {
		if _, err := pickAuthedge([]byte(nested), env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--env %q: %v, want %q", env, err, want)
		}
	}
	if _, err := pickAuthedge([]byte(`{"apps":{}}`), ""); err == nil || !strings.Contains(err.Error(), "no authedge handler") {
		t.Errorf("no handler: %v", err)
	}
	one := `{"apps":{"http":{"servers":{"a":{"routes":[{"handle":[{"handler":"authedge","environment_id":"e"}]}]}}}}}`
	if c, err := pickAuthedge([]byte(one), ""); err != nil || c.EnvironmentID != "e" {
		t.Errorf("one handler: %+v, %v", c, err)
	}
}
