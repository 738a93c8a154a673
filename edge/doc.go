// Package edge is authedge's identity edge for the app it fronts, in plain
// net/http: for every request that is not one of authedge's own endpoints
// it removes client-sent identity headers, verifies a bearer token as the
// API does (through handler's Authenticate), answers 401/403/503 on
// protected paths, and hands the app the caller's identity as headers and a
// signed assertion (docs/identity.md). It knows nothing of Caddy's replacer:
// caddymodule maps the Identity it returns to placeholders.
package edge
