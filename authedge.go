// Package authedge is the import path Caddy builds with:
//
//	xcaddy build --with github.com/authedge/caddy-authedge
//
// Importing it registers the http.handlers.authedge module, its Caddyfile
// directive and the authedge-token command. The code lives in caddymodule
// (Caddy glue) and the packages it builds on; see the README.
package authedge

import (
	// Registers the module, the directive and the command.
	_ "github.com/authedge/caddy-authedge/caddymodule"
)
