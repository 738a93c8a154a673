// Package tests holds authedge's end-to-end tests. They build ./caddy with
// ../xcaddy.sh (a no-op when it is fresh), start real redis-server processes
// through internal/redistest, run the built Caddy on free ports with
// Caddyfiles written per test, and talk to it over HTTP, with Go and with
// CloudBase's own JavaScript SDK (refclient/). Nothing here is mocked.
//
// Run them with the rest: go test ./... (the README's ./test.sh does). Set
// AUTHEDGE_CADDY to test an already built binary instead.
package tests
