package caddymodule

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/authedge/caddy-authedge/config"
)

// parseDirective builds the route of the authedge directive: what
// httpcaddyfile.RegisterHandlerDirective does, and one check it cannot
// make. An identity block with a matcher is refused: the requests the
// matcher leaves out would reach the app with whatever identity headers
// the client wrote (docs/identity.md). protect says which paths need a
// token.
func parseDirective(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	m, err := parseCaddyfile(h)
	if err != nil {
		return nil, err
	}
	// The refusals below are about the directive: their errors point at
	// its line, not at the block's closing brace where parsing ended.
	h.Reset()
	h.Next()
	if matcherSet != nil && m.Identity != nil {
		return nil, h.Err("authedge: an identity block needs the directive without a matcher, " +
			"or requests the matcher leaves out reach the app with the client's own identity headers; " +
			"say which paths need a token with protect")
	}
	if m.Identity != nil {
		if err := checkOrder(h); err != nil {
			return nil, err
		}
	}
	return h.NewRoute(matcherSet, m), nil
}

// servedBy are the directives that serve the app, or group those that
// do (invoke's named route, as handle's block), in Caddy's standard
// order: authedge's own place is before all of them.
var servedBy = []string{"invoke", "handle", "handle_path", "route", "respond", "reverse_proxy", "php_fastcgi", "file_server"}

// checkOrder refuses, for a directive with an identity block, an order
// global option that moves authedge after a directive that serves the
// app: the requests that directive answers would never pass authedge, as
// those a matcher leaves out. `order authedge before respond`, the line
// many plugins ask for, does that (docs/configuration.md).
func checkOrder(h httpcaddyfile.Helper) error {
	order, ok := h.Option("order").([]string)
	if !ok {
		return nil // no order line: authedge's registered place
	}
	at := slices.Index(order, "authedge")
	for _, dir := range servedBy {
		if i := slices.Index(order, dir); i >= 0 && i < at {
			return h.Errf("authedge: the order global option puts it after %s, whose requests would reach the app "+
				"without passing the identity block (protect, the removal of client-sent identity headers); "+
				"remove the order line: authedge orders itself before basic_auth (inside a route block, "+
				"where directives run as written, the line is not needed either)", dir)
		}
	}
	return nil
}

// parseCaddyfile builds the handler from the authedge directive.
func parseCaddyfile(h httpcaddyfile.Helper) (*Handler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	authedge [<matcher>] {
//	    environment_id <id>
//	    client_ids <id>...
//
//	    jwt {
//	        issuer <iss>
//	        audience <aud>...
//	        jwks_url <url>
//	        jwks_file <path>
//	        public_key <pem-file>        # repeatable
//	        algorithms <alg>...
//	        leeway <duration>            # 0s: strict expiry, no clock skew
//	        admin_scope <scope>
//	        device_claim <claim>
//	    }
//
//	    redis {
//	        address <host:port>...       # one: a single node; several: a Cluster
//	        sentinel <master-name> {     # instead of address
//	            address <host:port>...
//	            password <password>      # the Sentinels' own
//	        }
//	        username <user>
//	        password <password>          # {env.VAR} and {file./path} resolved at provision
//	        db <n>
//	        tls
//	        key_prefix <prefix>
//	        timeout <duration>
//	        read_from replicas | master
//	        wait <n> <timeout>
//	    }
//
//	    verification {
//	        required phone email | phone | email | off
//	        webhook <url> [<hmac-secret>]
//	        log
//	        code_ttl <duration>
//	        token_ttl <duration>
//	    }
//
//	    sudo {
//	        sensitive <field>... | off
//	        token_ttl <duration>
//	        max_auth_age <duration>      # 0s: off, the default
//	    }
//
//	    rate_limit {
//	        edits <n> <duration>
//	        lookups <n> <duration>       # checkIfUserExist, checkUsername and contact answers per client IP
//	    }
//
//	    identity { ... }                 # see parseIdentity; not with a matcher
//	    events {                          # change events (docs/events.md)
//	        stream_max_len <n>
//	        webhook <url> <secret>       # secret: {env.VAR} and {file./path} resolved at provision
//	        retry_for <duration>
//	    }
//	}
//
// Durations are read as Caddy reads them ("500ms", "1.5h", "1d"). Where
// zero means something (leeway, max_auth_age) it is accepted; where it is
// nonsense (a TTL, the Redis timeout, a rate window) it is refused.
//
// Every subdirective may be given once, but public_key, which adds a key
// each time (and, in identity, protect_scope, header and previous_key). A missing or extra argument, an unknown or repeated
// subdirective, or a value that does not parse is an error naming the
// directive. What is left out takes its default (config.ApplyDefaults);
// rules that span directives are config.Validate's.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	return parseBlock(d, "authedge", func(name string) error {
		c := &h.Config
		var err error
		switch name {
		case "environment_id":
			c.EnvironmentID, err = oneArg(d, "authedge environment_id")
		case "client_ids":
			c.ClientIDs, err = someArgs(d, "authedge client_ids")
		case "jwt":
			err = parseJWT(d, &c.JWT)
		case "redis":
			err = parseRedis(d, &c.Redis)
		case "verification":
			err = parseVerification(d, &c.Verification)
		case "sudo":
			err = parseSudo(d, &c.Sudo)
		case "rate_limit":
			err = parseRateLimit(d, &c.RateLimit)
		case "identity":
			c.Identity = new(config.Identity)
			err = parseIdentity(d, c.Identity)
		case "events":
			c.Events = new(config.Events)
			err = parseEvents(d, c.Events)
		default:
			return unknown(d, "authedge", name)
		}
		return err
	})
}

func parseJWT(d *caddyfile.Dispenser, j *config.JWT) error {
	const dir = "authedge jwt"
	return parseBlock(d, dir, func(name string) error {
		var err error
		switch name {
		case "issuer":
			j.Issuer, err = oneArg(d, dir+" issuer")
		case "audience":
			j.Audience, err = someArgs(d, dir+" audience")
		case "jwks_url":
			j.JWKSURL, err = oneArg(d, dir+" jwks_url")
		case "jwks_file":
			j.JWKSFile, err = oneArg(d, dir+" jwks_file")
		case "public_key":
			var file string
			file, err = oneArg(d, dir+" public_key")
			j.PublicKeys = append(j.PublicKeys, file)
		case "algorithms":
			j.Algorithms, err = someArgs(d, dir+" algorithms")
		case "leeway":
			// 0 is allowed: no clock skew at all, strict expiry.
			var leeway caddy.Duration
			leeway, err = durationArg(d, dir+" leeway", true)
			j.Leeway = &leeway
		case "admin_scope":
			j.AdminScope, err = oneArg(d, dir+" admin_scope")
		case "device_claim":
			j.DeviceClaim, err = oneArg(d, dir+" device_claim")
		default:
			return unknown(d, dir, name)
		}
		return err
	}, "public_key")
}

func parseRedis(d *caddyfile.Dispenser, r *config.Redis) error {
	const dir = "authedge redis"
	return parseBlock(d, dir, func(name string) error {
		var err error
		switch name {
		case "address":
			r.Addresses, err = someArgs(d, dir+" address")
		case "username":
			r.Username, err = oneArg(d, dir+" username")
		case "password":
			r.Password, err = oneArg(d, dir+" password")
		case "db":
			r.DB, err = intArg(d, dir+" db", 0)
		case "tls":
			r.TLS, err = true, noArgs(d, dir+" tls")
		case "key_prefix":
			r.KeyPrefix, err = oneArg(d, dir+" key_prefix")
		case "timeout":
			r.Timeout, err = durationArg(d, dir+" timeout", false)
		case "sentinel":
			r.Sentinel, err = parseSentinel(d)
		case "read_from":
			r.ReadFrom, err = oneArg(d, dir+" read_from")
			if err == nil && r.ReadFrom != config.ReadFromReplicas && r.ReadFrom != config.ReadFromMaster {
				err = d.Errf("%s read_from: %q is neither %s nor %s", dir, r.ReadFrom, config.ReadFromReplicas, config.ReadFromMaster)
			}
		case "wait":
			r.Wait, err = waitArgs(d, dir+" wait")
		default:
			return unknown(d, dir, name)
		}
		return err
	})
}

// parseSentinel reads `sentinel <master-name> { address ...; password ... }`.
func parseSentinel(d *caddyfile.Dispenser) (*config.Sentinel, error) {
	const dir = "authedge redis sentinel"
	if !d.NextArg() {
		return nil, d.Errf("%s: missing master name", dir)
	}
	s := &config.Sentinel{MasterName: d.Val()}
	err := parseBlock(d, dir, func(name string) error {
		var err error
		switch name {
		case "address":
			s.Addresses, err = someArgs(d, dir+" address")
		case "password":
			s.Password, err = oneArg(d, dir+" password")
		default:
			return unknown(d, dir, name)
		}
		return err
	})
	return s, err
}

// waitArgs reads `wait <n> <timeout>`.
func waitArgs(d *caddyfile.Dispenser, dir string) (*config.Wait, error) {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return nil, d.Errf("%s: takes the number of replicas and a timeout, got %d values", dir, len(args))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return nil, d.Errf("%s: %q is not an integer of at least 1", dir, args[0])
	}
	timeout, err := parseDuration(args[1], false)
	if err != nil {
		return nil, d.Errf("%s: %v", dir, err)
	}
	return &config.Wait{Replicas: n, Timeout: timeout}, noBlock(d, dir)
}

func parseVerification(d *caddyfile.Dispenser, v *config.Verification) error {
	const dir = "authedge verification"
	return parseBlock(d, dir, func(name string) error {
		var err error
		switch name {
		case "required":
			v.Required, err = channelsArg(d, dir+" required")
		case "webhook":
			v.Webhook, err = webhookArgs(d, dir+" webhook")
		case "log":
			v.Log, err = true, noArgs(d, dir+" log")
		case "code_ttl":
			v.CodeTTL, err = durationArg(d, dir+" code_ttl", false)
		case "token_ttl":
			v.TokenTTL, err = durationArg(d, dir+" token_ttl", false)
		default:
			return unknown(d, dir, name)
		}
		return err
	})
}

func parseSudo(d *caddyfile.Dispenser, s *config.Sudo) error {
	const dir = "authedge sudo"
	return parseBlock(d, dir, func(name string) error {
		var err error
		switch name {
		case "sensitive":
			s.Sensitive, err = channelsArg(d, dir+" sensitive")
		case "token_ttl":
			s.TokenTTL, err = durationArg(d, dir+" token_ttl", false)
		case "max_auth_age":
			// 0 is allowed: it says "off", the default, explicitly.
			s.MaxAuthAge, err = durationArg(d, dir+" max_auth_age", true)
		default:
			return unknown(d, dir, name)
		}
		return err
	})
}

func parseRateLimit(d *caddyfile.Dispenser, r *config.RateLimit) error {
	const dir = "authedge rate_limit"
	return parseBlock(d, dir, func(name string) error {
		var into **config.Limit
		switch name {
		case "edits":
			into = &r.Edits
		case "lookups":
			into = &r.Lookups
		default:
			return unknown(d, dir, name)
		}
		args := d.RemainingArgs()
		if len(args) != 2 {
			return d.Errf("%s %s: want <count> <window>, as in `%s 30 1m`", dir, name, name)
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 {
			return d.Errf("%s %s: count %q is not a positive integer", dir, name, args[0])
		}
		window, err := parseDuration(args[1], false)
		if err != nil {
			return d.Errf("%s %s: window: %v", dir, name, err)
		}
		*into = &config.Limit{Count: n, Window: window}
		return noBlock(d, dir+" "+name)
	})
}

func parseEvents(d *caddyfile.Dispenser, e *config.Events) error {
	const dir = "authedge events"
	return parseBlock(d, dir, func(name string) error {
		var err error
		switch name {
		case "stream_max_len":
			var n int
			n, err = intArg(d, dir+" stream_max_len", 1)
			e.StreamMaxLen = int64(n)
		case "webhook":
			// Both are required: an event is always signed.
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("%s webhook: want <url> <secret>, got %d values", dir, len(args))
			}
			e.Webhook = &config.Webhook{URL: args[0], Secret: args[1]}
			err = noBlock(d, dir+" webhook")
		case "retry_for":
			e.RetryFor, err = durationArg(d, dir+" retry_for", false)
		default:
			return unknown(d, dir, name)
		}
		return err
	})
}

// parseBlock reads the block that opens after the current token, calling
// each for every subdirective in it, with the dispenser on its name. It
// refuses arguments before the block and a subdirective given twice, unless
// it is one of repeatable.
func parseBlock(d *caddyfile.Dispenser, dir string, each func(name string) error, repeatable ...string) error {
	if d.NextArg() {
		return d.Errf("%s: unexpected argument %q; settings go in a { } block", dir, d.Val())
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] && !slices.Contains(repeatable, name) {
			return d.Errf("%s: %s is given twice", dir, name)
		}
		seen[name] = true
		if err := each(name); err != nil {
			return err
		}
	}
	return nil
}

func unknown(d *caddyfile.Dispenser, dir, name string) error {
	return d.Errf("%s: unrecognized subdirective %q", dir, name)
}

// noBlock refuses a { } block after a subdirective that takes none. The
// arguments have been read, so a "{" next on the same line opens a block.
func noBlock(d *caddyfile.Dispenser, dir string) error {
	line, file := d.Line(), d.File()
	if !d.Next() {
		return nil
	}
	if d.Val() == "{" && d.Line() == line && d.File() == file {
		return d.Errf("%s takes no block", dir)
	}
	d.Prev()
	return nil
}

// noArgs reads a flag subdirective, which takes no value.
func noArgs(d *caddyfile.Dispenser, dir string) error {
	if d.NextArg() {
		return d.Errf("%s takes no value, got %q", dir, d.Val())
	}
	return noBlock(d, dir)
}

// oneArg reads the one value of a subdirective.
func oneArg(d *caddyfile.Dispenser, dir string) (string, error) {
	args := d.RemainingArgs()
	switch {
	case len(args) == 0:
		return "", d.Errf("%s: missing value", dir)
	case len(args) > 1:
		return "", d.Errf("%s: takes one value, got %d", dir, len(args))
	}
	return args[0], noBlock(d, dir)
}

// someArgs reads the one or more values of a subdirective.
func someArgs(d *caddyfile.Dispenser, dir string) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.Errf("%s: missing value", dir)
	}
	return args, noBlock(d, dir)
}

// intArg reads an integer value of at least min.
func intArg(d *caddyfile.Dispenser, dir string, min int) (int, error) {
	s, err := oneArg(d, dir)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min {
		return 0, d.Errf("%s: %q is not an integer of at least %d", dir, s, min)
	}
	return n, nil
}

// durationArg reads a duration ("500ms", "10m", "1d") given alone.
func durationArg(d *caddyfile.Dispenser, dir string, zeroOK bool) (caddy.Duration, error) {
	s, err := oneArg(d, dir)
	if err != nil {
		return 0, err
	}
	parsed, err := parseDuration(s, zeroOK)
	if err != nil {
		return 0, d.Errf("%s: %v", dir, err)
	}
	return parsed, nil
}

// parseDuration reads a duration as Caddy does (caddy.ParseDuration: Go's
// units and "d" for days). Negative is refused; so is zero unless zeroOK,
// for the durations where zero is nonsense (a TTL, a timeout, a window):
// their JSON reads 0 as "the default", so a written "0s" would otherwise
// silently mean something else than it says.
func parseDuration(s string, zeroOK bool) (caddy.Duration, error) {
	parsed, err := caddy.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("invalid duration %q", s)
	case parsed < 0 && zeroOK:
		return 0, fmt.Errorf("%q must not be negative", s)
	case parsed <= 0 && !zeroOK:
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return caddy.Duration(parsed), nil
}

// channelsArg reads "phone email", a subset of it, or "off" (an empty,
// non-nil list, which turns the default off).
func channelsArg(d *caddyfile.Dispenser, dir string) (*[]string, error) {
	args, err := someArgs(d, dir)
	if err != nil {
		return nil, err
	}
	if slices.Contains(args, "off") {
		if len(args) > 1 {
			return nil, d.Errf("%s: off stands alone", dir)
		}
		return &[]string{}, nil
	}
	if err := config.CheckChannels(args); err != nil {
		return nil, d.Errf("%s: %v", dir, err)
	}
	return &args, nil
}

// webhookArgs reads "<url> [<secret>]". The secret is not quoted back in
// errors.
func webhookArgs(d *caddyfile.Dispenser, dir string) (*config.Webhook, error) {
	args := d.RemainingArgs()
	switch {
	case len(args) == 0:
		return nil, d.Errf("%s: missing URL", dir)
	case len(args) > 2:
		return nil, d.Errf("%s: takes <url> [<secret>], got %d values", dir, len(args))
	}
	w := &config.Webhook{URL: args[0]}
	if len(args) == 2 {
		w.Secret = args[1]
	}
	return w, noBlock(d, dir)
}
