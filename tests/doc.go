// Package tests holds authedge's end-to-end tests. They run the ./caddy
// that ../xcaddy.sh builds, start real redis-server processes through
// internal/redistest, run that Caddy on free ports with Caddyfiles written
// per test, and talk to it over HTTP, with Go and with CloudBase's own
// JavaScript SDK (refclient/). Nothing here is mocked.
//
// They need no network and install nothing: build ./caddy first with
// ../xcaddy.sh (../test.sh does, and installs redis-server and the
// reference client's npm packages). A test that runs Caddy fails, saying
// so, when ./caddy is missing or older than the module's sources. Set
// AUTHEDGE_BUILD_CADDY=1 to let the tests run ../xcaddy.sh themselves, or
// AUTHEDGE_CADDY to test an already built binary instead.
package tests
