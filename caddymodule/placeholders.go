package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/authedge/caddy-authedge/config"
)

// secrets are the configured secrets with their placeholders resolved.
// They are kept apart from the config, which keeps the placeholders, so
// that nothing that shows or logs the config can show a secret.
type secrets struct {
	redisPassword    string
	sentinelPassword string
	webhookSecret    string
	eventsSecret     string
}

// resolveSecrets resolves {env.VAR} and {file./path} (and Caddy's other
// global placeholders) in the Redis password and the webhook secret.
func resolveSecrets(h *Handler) (secrets, error) {
	var s secrets
	var err error
	if s.redisPassword, s.sentinelPassword, err = resolveRedisSecrets(h.Redis); err != nil {
		return s, err
	}
	if w := h.Verification.Webhook; w != nil {
		if s.webhookSecret, err = resolveSecret(w.Secret); err != nil {
			return s, fmt.Errorf("verification webhook secret: %w", err)
		}
	}
	if e := h.Events; e != nil && e.Webhook != nil {
		if s.eventsSecret, err = resolveSecret(e.Webhook.Secret); err != nil {
			return s, fmt.Errorf("events webhook secret: %w", err)
		}
	}
	return s, nil
}

// resolveNames resolves the placeholders in the names a token is checked
// against (environment_id, client_ids, the issuer and the audiences), and
// in the Redis user name, in place: they are not secrets, and everything
// built from the config (the verifier, the pool keys, the handlers, the
// Redis clients) should see the value. Caddy keeps the config as it was
// given (its admin API shows the placeholder). A placeholder left as
// written would make every token fail its check, or Redis refuse every
// connection, with nothing at load to say why; one that resolves to
// nothing fails the load, naming the field. The user name sits beside the
// password, which takes placeholders, and comes from the same secret
// store.
func resolveNames(c *config.Config) error {
	one := func(field string, value *string) error {
		v, err := resolveSecret(*value)
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		*value = v
		return nil
	}
	if err := one("environment_id", &c.EnvironmentID); err != nil {
		return err
	}
	if err := one("jwt issuer", &c.JWT.Issuer); err != nil {
		return err
	}
	if err := one("redis username", &c.Redis.Username); err != nil {
		return err
	}
	for i := range c.ClientIDs {
		if err := one("client_ids", &c.ClientIDs[i]); err != nil {
			return err
		}
	}
	for i := range c.JWT.Audience {
		if err := one("jwt audience", &c.JWT.Audience[i]); err != nil {
			return err
		}
	}
	return nil
}

// resolveRedisSecrets resolves r's password and its Sentinels', all that
// a connection to r needs (the events commands need no other secret).
func resolveRedisSecrets(r config.Redis) (password, sentinelPassword string, err error) {
	if password, err = resolveSecret(r.Password); err != nil {
		return "", "", fmt.Errorf("redis password: %w", err)
	}
	if st := r.Sentinel; st != nil {
		if sentinelPassword, err = resolveSecret(st.Password); err != nil {
			return "", "", fmt.Errorf("redis sentinel password: %w", err)
		}
	}
	return password, sentinelPassword, nil
}

// resolveSecret replaces the known placeholders in value. One that resolves
// to nothing, such as an unset variable or an unreadable file, is an error:
// silently connecting without a password or sending unsigned webhooks is
// not what the user asked for. Unknown placeholders stay as written, so a
// literal secret with braces in it still works. The error names the
// placeholder, never the value.
//
// caddy.NewReplacer has the {file.*} provider (NewEmptyReplacer does not),
// which reads at most 1 MiB and drops one trailing newline.
func resolveSecret(value string) (string, error) {
	if value == "" {
		return "", nil
	}
	return caddy.NewReplacer().ReplaceOrErr(value, true, false)
}
