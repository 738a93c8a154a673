package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authedge/caddy-authedge/config"
)

// parseIdentity reads the identity block (docs/identity.md):
//
//	identity {
//	    protect <path>...
//	    protect_scope <scope> <path>...   # repeatable
//	    header <Header-Name> <source>     # repeatable
//	    strip_authorization
//	    assertion {
//	        key <pem-file>
//	        previous_key <pem-file>...    # repeatable
//	        header <name>
//	        audience <aud>
//	        ttl <duration>
//	        claims <source>...
//	    }
//	}
//
// Rules that span directives (a header named twice, the ttl bound, the
// sources) are config.Validate's, so the JSON config gets them too.
func parseIdentity(d *caddyfile.Dispenser, id *config.Identity) error {
	const dir = "authedge identity"
	return parseBlock(d, dir, func(name string) error {
		var err error
		switch name {
		case "protect":
			id.Protect, err = someArgs(d, dir+" protect")
		case "protect_scope":
			var args []string
			if args, err = someArgs(d, dir+" protect_scope"); err == nil {
				if len(args) < 2 {
					return d.Errf("%s protect_scope: want <scope> <path>...", dir)
				}
				id.ProtectScope = append(id.ProtectScope, config.ProtectScope{Scope: args[0], Paths: args[1:]})
			}
		case "header":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("%s header: want <Header-Name> <source>, as in `header X-User-Id sub`", dir)
			}
			id.Headers = append(id.Headers, config.IdentityHeader{Name: args[0], Source: args[1]})
			err = noBlock(d, dir+" header")
		case "strip_authorization":
			id.StripAuthorization, err = true, noArgs(d, dir+" strip_authorization")
		case "assertion":
			id.Assertion = new(config.Assertion)
			err = parseAssertion(d, id.Assertion)
		default:
			return unknown(d, dir, name)
		}
		return err
	}, "protect_scope", "header")
}

func parseAssertion(d *caddyfile.Dispenser, a *config.Assertion) error {
	const dir = "authedge identity assertion"
	return parseBlock(d, dir, func(name string) error {
		var err error
		switch name {
		case "key":
			a.Key, err = oneArg(d, dir+" key")
		case "previous_key":
			var files []string
			files, err = someArgs(d, dir+" previous_key")
			a.PreviousKeys = append(a.PreviousKeys, files...)
		case "header":
			a.Header, err = oneArg(d, dir+" header")
		case "audience":
			a.Audience, err = oneArg(d, dir+" audience")
		case "ttl":
			var s string
			if s, err = oneArg(d, dir+" ttl"); err != nil {
				return err
			}
			ttl, perr := caddy.ParseDuration(s)
			if perr != nil || ttl <= 0 {
				return d.Errf("%s ttl: %q is not a positive duration", dir, s)
			}
			a.TTL = caddy.Duration(ttl)
			if ttl > config.MaxAssertionTTL {
				return d.Errf("%s ttl: %s is over the maximum of %s", dir, ttl, time.Duration(config.MaxAssertionTTL))
			}
		case "claims":
			a.Claims, err = someArgs(d, dir+" claims")
		default:
			return unknown(d, dir, name)
		}
		return err
	}, "previous_key")
}
