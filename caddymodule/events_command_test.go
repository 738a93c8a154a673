package caddymodule

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/events"
	"github.com/authedge/caddy-authedge/internal/redistest"
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

// The events commands name the environment's keys as the handler does:
// with a placeholder in environment_id resolved, as Provision resolves it.
// Left literal, tail read and redeliver wrote a stream of another name
// ("authedge:{{env.…}}:events"), silently.
func TestPickAuthedgeResolvesTheEnvironmentID(t *testing.T) {
	t.Setenv("AUTHEDGE_TEST_EVENTS_ENV", "prod")
	raw := `{"apps":{"http":{"servers":{"a":{"routes":[{"handle":[{"handler":"authedge","environment_id":"{env.AUTHEDGE_TEST_EVENTS_ENV}"}]}]}}}}}`
	for _, env := range []string{"", "prod"} {
		if c, err := pickAuthedge([]byte(raw), env); err != nil || c.EnvironmentID != "prod" {
			t.Errorf("--env %q: %+v, %v; want environment prod", env, c, err)
		}
	}
	unset := strings.Replace(raw, "AUTHEDGE_TEST_EVENTS_ENV", "AUTHEDGE_TEST_EVENTS_UNSET", 1)
	if _, err := pickAuthedge([]byte(unset), ""); err == nil || !strings.Contains(err.Error(), "environment_id") {
		t.Errorf("unset variable: %v, want an error naming environment_id", err)
	}
}

// TestPickAuthedgeOneEnvironmentTwoStreams: two handlers of one
// environment (one per site) that name different streams were picked in
// map order, which is no order: tail and redeliver read one Redis or the
// other from run to run, silently. They are refused; handlers that differ
// only where the commands do not look (rate limits, a default spelled out)
// are one environment.
func TestPickAuthedgeOneEnvironmentTwoStreams(t *testing.T) {
	two := `{"a":{"handler":"authedge","environment_id":"p","redis":{"addresses":["r:1"]},"events":{}},` +
		`"b":{"handler":"authedge","environment_id":"p","redis":{"addresses":["r:2"]},"events":{}}}`
	for _, env := range []string{"p", ""} {
		if c, err := pickAuthedge([]byte(two), env); err == nil || !strings.Contains(err.Error(), "different redis or events settings") {
			t.Errorf("--env %q: %+v, %v; want refused", env, c, err)
		}
	}
	alike := `{"a":{"handler":"authedge","environment_id":"p","redis":{"addresses":["r:1"]},"events":{}},` +
		`"b":{"handler":"authedge","environment_id":"p","redis":{"addresses":["r:1"],"key_prefix":"authedge"},"events":{},` +
		`"rate_limit":{"edits":{"count":5,"window":"1m"}}}}`
	if c, err := pickAuthedge([]byte(alike), "p"); err != nil || c.Redis.Addresses[0] != "r:1" {
		t.Errorf("alike: %+v, %v", c, err)
	}
	// The same stream, other timeouts and webhooks (one per site): one
	// environment to the commands, and the same handler picked each run.
	perSite := `{"a":{"handler":"authedge","environment_id":"p","redis":{"addresses":["r:1"],"timeout":"1s"},` +
		`"events":{"webhook":{"url":"https://a.example/","secret":"s"},"retry_for":"1h"}},` +
		`"b":{"handler":"authedge","environment_id":"p","redis":{"addresses":["r:1"]},"events":{}}}`
	first, err := pickAuthedge([]byte(perSite), "p")
	if err != nil {
		t.Fatalf("per-site settings of one stream: %v", err)
	}
	for range 20 {
		if c, _ := pickAuthedge([]byte(perSite), "p"); c.Redis.Timeout != first.Redis.Timeout {
			t.Fatalf("picked a handler with timeout %v, then %v", first.Redis.Timeout, c.Redis.Timeout)
		}
	}
}

// A redeliver that fails prints no count: "moved 0 dead-lettered events"
// above the error read as a run that found nothing to move, when it
// never reached Redis. One that works says what it moved.
func TestRedeliverFailedPrintsNoCount(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer down.Close()
	var out strings.Builder
	env := &eventsTarget{client: down, keys: events.NewKeys("authedge", "e"), events: config.Events{StreamMaxLen: 10}}
	if err := redeliver(context.Background(), env, &out); err == nil {
		t.Fatal("redeliver with Redis down: no error")
	}
	if out.Len() != 0 {
		t.Errorf("redeliver with Redis down printed %q, want nothing beside the error", out.String())
	}

	srv := redistest.Start(t)
	up := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer up.Close()
	env.client = up
	out.Reset()
	if err := redeliver(context.Background(), env, &out); err != nil || out.String() != "moved 0 dead-lettered events back to the stream\n" {
		t.Errorf("redeliver = %v, printed %q", err, out.String())
	}
}

// Without a subcommand the help, exit 0, as `caddy storage`; an unknown
// one is an error, so that a typo does not pass for a run
// (docs/DECISIONS.md).
func TestAuthedgeCommandSubcommands(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr bool
	}{
		{nil, false},
		{[]string{"events"}, false},
		{[]string{"--help"}, false},
		{[]string{"foo"}, true},
		{[]string{"events", "foo"}, true},
		{[]string{"events", "tial"}, true},
	} {
		cmd := &cobra.Command{Use: "authedge"}
		caddycmd.Commands()["authedge"].CobraFunc(cmd)
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); (err != nil) != tt.wantErr {
			t.Errorf("caddy authedge %v: %v, want error %v", tt.args, err, tt.wantErr)
		}
	}
}

// The events commands refuse a Redis address that holds a password, as a
// config that Caddy runs does. Connecting to it printed the password to
// stderr: go-redis's dial error quotes the address, and so did the
// command's error.
func TestEventsEnvHidesAPasswordInTheAddress(t *testing.T) {
	const password = "s3cret-in-address"
	for name, redisBlock := range map[string]string{
		"address":  `{"addresses":["redis://default:` + password + `@127.0.0.1:1"]}`,
		"sentinel": `{"sentinel":{"master_name":"m","addresses":["redis://:` + password + `@127.0.0.1:1"]}}`,
	} {
		env, err := eventsEnvFor(t, "e", redisBlock)
		if err == nil {
			var out strings.Builder
			err = redeliver(context.Background(), env, &out)
			env.client.Close()
			if err == nil || strings.Contains(out.String(), password) {
				t.Fatalf("%s: redeliver = %v, printed %q", name, err, out.String())
			}
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("%s: the command's error holds the password: %v", name, err)
		}
		if !strings.Contains(err.Error(), "redis") {
			t.Errorf("%s: refused for another reason than the redis block: %v", name, err)
		}
	}
}

// The commands check the whole authedge block as caddy run would: an
// environment_id no Redis key may hold is refused before it reaches the
// stream's key.
func TestEventsEnvRefusesABadEnvironmentID(t *testing.T) {
	env, err := eventsEnvFor(t, "e}x", `{"addresses":["127.0.0.1:1"]}`)
	if err == nil {
		env.client.Close()
		t.Fatal("an environment_id holding } was accepted")
	}
	if !strings.Contains(err.Error(), "environment_id") {
		t.Errorf("refused for another reason: %v", err)
	}
}

// eventsEnvFor is what the events commands make of a config holding one
// authedge handler with an events block, environment envID and the given
// redis block (JSON), its jwt block valid.
func eventsEnvFor(t *testing.T, envID, redisBlock string) (*eventsTarget, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "caddy.json")
	raw := `{"apps":{"http":{"servers":{"a":{"listen":[":0"],"routes":[{"handle":[{"handler":"authedge","environment_id":"` + envID + `",` +
		`"jwt":{"issuer":"https://idp.example","jwks_url":"https://idp.example/jwks"},` +
		`"redis":` + redisBlock + `,"events":{}}]}]}}}}}`
	if err := os.WriteFile(file, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := new(cobra.Command).Flags()
	fs.String("config", file, "")
	fs.String("adapter", "", "")
	fs.String("env", "", "")
	return eventsEnv(caddycmd.Flags{FlagSet: fs})
}
