package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/events"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "authedge",
		Usage: "events tail [--from <id>] | events redeliver   [--config <file>] [--adapter <name>] [--env <id>]",
		Short: "Operates authedge's change events (docs/events.md)",
		Long: `
Reads and repairs the change events of an authedge environment, in the
Redis its config names. Pass the same config as to caddy run: --config
and --adapter work as they do there (with neither, ./Caddyfile). When the
config has several authedge handlers for different environments, --env
picks one by environment_id.

    caddy authedge events tail                 # new events, as JSON lines, until Ctrl-C
    caddy authedge events tail --from 0        # every event still in the stream, then new ones
    caddy authedge events tail --from <id>     # the events after <id>: resume where you stopped
    caddy authedge events redeliver            # dead letters back to the stream, to be delivered again
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Args = cobra.NoArgs
			cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }

			eventsCmd := &cobra.Command{
				Use:   "events",
				Short: "Change events: tail, redeliver",
				Args:  cobra.NoArgs,
				RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
			}
			tail := &cobra.Command{
				Use:   "tail [--from <id>]",
				Short: "Prints the environment's events as JSON lines, and follows",
				Args:  cobra.NoArgs,
				RunE:  caddycmd.WrapCommandFuncForCobra(cmdEventsTail),
			}
			tail.Flags().String("from", "$", "print the events after this stream ID (0: all of them); default: only new ones")
			redeliver := &cobra.Command{
				Use:   "redeliver",
				Short: "Moves the dead-lettered events back to the stream, to be delivered again",
				Args:  cobra.NoArgs,
				RunE:  caddycmd.WrapCommandFuncForCobra(cmdEventsRedeliver),
			}
			for _, c := range []*cobra.Command{tail, redeliver} {
				c.Flags().StringP("config", "c", "", "the Caddy config file authedge runs with (default ./Caddyfile)")
				c.Flags().StringP("adapter", "a", "", "the name of the config adapter to use")
				c.Flags().String("env", "", "the environment_id, when the config has several")
			}
			eventsCmd.AddCommand(tail, redeliver)
			cmd.AddCommand(eventsCmd)
		},
	})
}

func cmdEventsTail(fl caddycmd.Flags) (int, error) {
	env, err := eventsEnv(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	defer env.client.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := events.Tail(ctx, env.client, env.keys, fl.String("from"), os.Stdout); err != nil {
		return caddy.ExitCodeFailedQuit, err
	}
	return caddy.ExitCodeSuccess, nil
}

func cmdEventsRedeliver(fl caddycmd.Flags) (int, error) {
	env, err := eventsEnv(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	defer env.client.Close()
	if err := redeliver(context.Background(), env, os.Stderr); err != nil {
		return caddy.ExitCodeFailedQuit, err
	}
	return caddy.ExitCodeSuccess, nil
}

// redeliver moves env's dead letters back to its stream and tells w how
// many it moved and how many remain.
func redeliver(ctx context.Context, env *eventsTarget, w io.Writer) error {
	n, err := events.Redeliver(ctx, env.client, env.keys, env.events.StreamMaxLen)
	if err != nil {
		// A count of 0 beside the error would read as a run that
		// found nothing to move; a count of those moved before it
		// failed is still news.
		if n > 0 {
			fmt.Fprintf(w, "moved %d dead-lettered events back to the stream before the error\n", n)
		}
		return err
	}
	fmt.Fprintf(w, "moved %d dead-lettered events back to the stream\n", n)
	// One run moves no more than the stream's trimming can take from
	// delivered events (none while the webhook is behind by a whole
	// stream): say what is left for the next run.
	left, err := events.DeadLetters(ctx, env.client, env.keys)
	if err != nil {
		return err
	}
	if left > 0 {
		fmt.Fprintf(w, "%d remain dead-lettered: run redeliver again once the stream's events are delivered\n", left)
	}
	return nil
}

// eventsTarget is the environment a command works on.
type eventsTarget struct {
	client redis.UniversalClient
	keys   events.Keys
	events config.Events
}

// eventsEnv loads the config as caddy run would, and connects to the
// Redis of its authedge handler.
func eventsEnv(fl caddycmd.Flags) (*eventsTarget, error) {
	raw, _, _, err := caddycmd.LoadConfig(fl.String("config"), fl.String("adapter"))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, errors.New("no config: pass the one authedge runs with, --config <file> (and --adapter if it is not a Caddyfile)")
	}
	c, err := pickAuthedge(raw, fl.String("env"))
	if err != nil {
		return nil, err
	}
	c.ApplyDefaults()
	if c.Events == nil {
		return nil, fmt.Errorf("environment %s has no events block: it writes no events", c.EnvironmentID)
	}
	// Refused as Provision refuses it: a Redis URL given as an address
	// would reach the dialer, whose error (printed, and go-redis's own
	// line on stderr) quotes the address, password included; a bad
	// environment_id would reach the stream's key.
	if err := c.Validate(); err != nil {
		return nil, err
	}
	password, sentinelPassword, err := resolveRedisSecrets(c.Redis)
	if err != nil {
		return nil, err
	}
	return &eventsTarget{
		client: newEventsClient(c.Redis, password, sentinelPassword),
		keys:   events.NewKeys(c.Redis.KeyPrefix, c.EnvironmentID),
		events: *c.Events,
	}, nil
}

// pickAuthedge finds the authedge handlers in a Caddy JSON config,
// wherever routes nest them, and returns the one for env ("" when there
// is only one environment).
func pickAuthedge(raw []byte, env string) (*config.Config, error) {
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, err
	}
	var found []config.Config
	var walk func(v any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "authedge" {
				b, _ := json.Marshal(v)
				var h Handler
				if err := json.Unmarshal(b, &h); err != nil {
					return fmt.Errorf("an authedge handler in the config: %w", err)
				}
				// As Provision does: the keys are named by the resolved
				// environment ID, not by a placeholder's text.
				if err := resolveNames(&h.Config); err != nil {
					return fmt.Errorf("an authedge handler in the config: %w", err)
				}
				found = append(found, h.Config)
				return nil
			}
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		case []any:
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(tree); err != nil {
		return nil, err
	}
	var envs, all []string
	var matches []*config.Config
	for i := range found {
		id := found[i].EnvironmentID
		if !slices.Contains(all, id) {
			all = append(all, id)
		}
		if env != "" && id != env {
			continue
		}
		if !slices.Contains(envs, id) {
			envs = append(envs, id)
		}
		matches = append(matches, &found[i])
	}
	switch {
	case len(found) == 0:
		return nil, errors.New("the config has no authedge handler")
	case len(matches) == 0:
		return nil, fmt.Errorf("no authedge handler has environment_id %q (the config has: %s)", env, strings.Join(all, ", "))
	case len(envs) > 1:
		return nil, fmt.Errorf("the config has several environments (%s): pick one with --env", strings.Join(envs, ", "))
	}
	// Several handlers of one environment (one per site, say) are one
	// only if they name the same stream: the walk meets them in map
	// order, which is no order, and the commands would read one stream or
	// another from run to run. Those that do may still differ elsewhere
	// (a timeout, a rate limit): the one picked is the same on every run.
	for _, m := range matches[1:] {
		if !sameStream(matches[0], m) {
			return nil, fmt.Errorf("several authedge handlers have environment_id %q with different redis or events settings: "+
				"the commands cannot tell which stream is meant; give them the same", envs[0])
		}
	}
	return slices.MinFunc(matches, func(a, b *config.Config) int {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return strings.Compare(string(ja), string(jb))
	}), nil
}

// sameStream reports whether a and b, handlers of one environment, have
// the settings the events commands use alike, defaults applied.
func sameStream(a, b *config.Config) bool {
	settings := func(c *config.Config) string {
		var d config.Config // a copy: ApplyDefaults writes through pointers
		b, _ := json.Marshal(c)
		_ = json.Unmarshal(b, &d)
		d.ApplyDefaults()
		// Which Redis and which stream, and how long the stream is kept
		// (redeliver trims to it); not how long to wait for Redis, nor
		// where reads or the webhook go.
		r := d.Redis
		r.Timeout, r.ReadFrom, r.Wait = 0, "", nil
		var maxLen int64 = -1 // events off
		if d.Events != nil {
			maxLen = d.Events.StreamMaxLen
		}
		j, _ := json.Marshal(struct {
			Redis        config.Redis
			StreamMaxLen int64
		}{r, maxLen})
		return string(j)
	}
	return settings(a) == settings(b)
}
