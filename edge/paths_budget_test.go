package edge

import (
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/authedge/caddy-authedge/config"
)

func budgetRules() rules {
	return compileRules(&config.Identity{
		Protect: []string{"/app/*", "/admin/*", "*.secret"},
		ProtectScope: []config.ProtectScope{
			{Scope: "a", Paths: []string{"/a/*", "/b/*"}},
			{Scope: "c", Paths: []string{"/c/*"}},
		},
	})
}

// everyReading is a path segment that makes every reading of
// matchPathReadings: a letter beyond ASCII, a parameter, an escape, a dot
// segment, a backslash and ".php/".
const everyReading = "ı;%2e/..\\.php/"

// allocatedPerMatch is the bytes rules.match allocates for r, on average.
func allocatedPerMatch(rs *rules, target string, header map[string][]string) uint64 {
	r := httptest.NewRequest("GET", "http://x"+target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	rs.match(r)
	const runs = 5
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		rs.match(r)
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

// A request within Caddy's default 16 KiB of headers whose path, sent
// and in rewrite headers, makes every reading costs Caddy's matcher a
// bounded amount of path, not dozens of full readings: before the bound
// such a request cost 15 to 45 ms of CPU and 3 to 12 MB of garbage.
func TestPathReadingsBounded(t *testing.T) {
	rs := budgetRules()
	path := "//h/" + strings.Repeat(everyReading, 1000) // about 16 KiB
	if got := allocatedPerMatch(&rs, path, nil); got > 2<<20 {
		t.Errorf("a %d-byte path allocated %d bytes to match, want at most 2 MiB", len(path), got)
	}
	v := "//h/" + strings.Repeat(everyReading, 160) // 8 values: about 16 KiB
	header := map[string][]string{
		"X-Original-Url": {v, v}, "X-Rewrite-Url": {v, v},
		"X_original_url": {v, v}, "X_rewrite_url": {v, v},
	}
	if got := allocatedPerMatch(&rs, "/public", header); got > 2<<20 {
		t.Errorf("16 KiB of rewrite headers allocated %d bytes to match, want at most 2 MiB", got)
	}
}

// A request read no further than the bound needs what the strictest rule
// needs: it cannot slip past a rule by being long.
func TestPathReadingsPastBoundNeedEverything(t *testing.T) {
	rs := budgetRules()
	r := httptest.NewRequest("GET", "http://x/public/"+strings.Repeat(everyReading, 1000)+"x", nil)
	n := rs.match(r)
	slices.Sort(n.scopes)
	if !n.protected || !slices.Equal(n.scopes, []string{"a", "c"}) {
		t.Errorf("past the bound: protected %v, scopes %v; want protected, scopes [a c]", n.protected, n.scopes)
	}
	// An ordinary path as long as Caddy's default header limit allows is
	// read in full, protected or not.
	long := strings.Repeat("segment/", 2000) // 16000 bytes
	if n := rs.match(httptest.NewRequest("GET", "http://x/public/"+long, nil)); n.protected || len(n.scopes) > 0 {
		t.Errorf("a long public path: protected %v, scopes %v; want neither", n.protected, n.scopes)
	}
	if n := rs.match(httptest.NewRequest("GET", "http://x/a/%41/"+long, nil)); !n.protected || !slices.Equal(n.scopes, []string{"a"}) {
		t.Errorf("a long path under /a/: protected %v, scopes %v; want protected, scopes [a]", n.protected, n.scopes)
	}
}
