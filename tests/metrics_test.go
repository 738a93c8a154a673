package tests

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads Caddy's admin /metrics (the text format) into a map from
// series, as `name{label="value",...}` with labels in the order Prometheus
// writes them (sorted), to value.
func scrape(t *testing.T, c *caddyProc) map[string]float64 {
	t.Helper()
	resp, err := httpClient.Get("http://" + c.Admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	series := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad line %q", line)
		}
		series[line[:i]] = v
	}
	return series
}

// checkSeries compares the scraped values with want; absent counts as a
// failure, not as zero.
func checkSeries(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for name, v := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s is not on /metrics", name)
		case g != v:
			t.Errorf("%s = %v, want %v", name, g, v)
		}
	}
}

// reload posts the running config back to the admin API's /load, forcing a
// reload of an unchanged config (Cache-Control: must-revalidate).
func reload(t *testing.T, c *caddyProc) {
	t.Helper()
	resp, err := httpClient.Get("http://" + c.Admin + "/config/")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	req, err := http.NewRequest(http.MethodPost, "http://"+c.Admin+"/load", bytes.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err = httpClient.Do(req)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
}

// TestMetricsOnCaddysEndpoint runs a scripted mix of requests (a good edit,
// a conflict, a forged and an expired token, a rate-limited edit, a me, a
// revoked token) through the built Caddy and reads every counter it moved from Caddy's own /metrics;
// then a config reload keeps the counts, raises no error, and the counts
// go on.
func TestMetricsOnCaddysEndpoint(t *testing.T) {
	f := newFixture(t, offPolicies+`
		rate_limit {
			edits 2 1m
		}`)
	_, _, stranger := testKeys(t)
	alice, bob, carol := f.token("m-alice", nil), f.token("m-bob", nil), f.token("m-carol", nil)
	expired := f.token("m-alice", claims{"iat": time.Now().Add(-2 * time.Hour), "exp": time.Now().Add(-time.Hour)})
	forged := stranger.mint(t, "m-alice", nil)

	f.do("POST", editPath, alice, `{"username":"m_alice"}`).wantOK(t)
	f.do("POST", editPath, bob, `{"username":"m_alice"}`).wantError(t, http.StatusConflict, "username_already_exists")
	f.do("POST", editPath, forged, `{"nickname":"Mallory"}`).wantError(t, http.StatusUnauthorized, "unauthenticated")
	f.do("GET", mePath, expired, "").wantError(t, http.StatusUnauthorized, "unauthenticated")
	f.do("POST", editPath, carol, `{"nickname":"C1"}`).wantOK(t)
	f.do("POST", editPath, carol, `{"nickname":"C2"}`).wantOK(t)
	f.do("POST", editPath, carol, `{"nickname":"C3"}`).wantError(t, http.StatusTooManyRequests, "resource_exhausted")
	f.do("GET", mePath, alice, "").wantOK(t)
	dave := f.token("m-dave", nil)
	f.do("POST", "/auth/v1/user/signout", dave, `{}`).wantOK(t)
	f.do("GET", mePath, dave, "").wantError(t, http.StatusUnauthorized, "unauthenticated")
	// The app's own paths are not authedge's requests.
	f.do("GET", "/app/page", "", "")

	want := map[string]float64{
		`authedge_requests_total{code="200",endpoint="user.basic.edit"}`: 3,
		`authedge_requests_total{code="409",endpoint="user.basic.edit"}`: 1,
		`authedge_requests_total{code="401",endpoint="user.basic.edit"}`: 1,
		`authedge_requests_total{code="429",endpoint="user.basic.edit"}`: 1,
		`authedge_requests_total{code="200",endpoint="user.me"}`:         1,
		`authedge_requests_total{code="401",endpoint="user.me"}`:         2,
		`authedge_requests_total{code="200",endpoint="user.signout"}`:    1,
		`authedge_requests_total{code="200",endpoint="user.contact"}`:    0,
		`authedge_token_checks_total{outcome="valid"}`:                   7,
		`authedge_token_checks_total{outcome="expired"}`:                 1,
		`authedge_token_checks_total{outcome="bad_signature"}`:           1,
		`authedge_token_checks_total{outcome="unknown_key"}`:             0,
		`authedge_token_checks_total{outcome="malformed"}`:               0,
		`authedge_token_checks_total{outcome="revoked"}`:                 1,
		`authedge_token_checks_total{outcome="other"}`:                   0,
		// alice's and dave's tokens twice, carol's three times: the
		// repeats hit.
		`authedge_token_cache_lookups_total{result="hit"}`:             4,
		`authedge_token_cache_lookups_total{result="miss"}`:            6,
		`authedge_edits_refused_total{reason="conflict"}`:              1,
		`authedge_edits_refused_total{reason="rate_limit"}`:            1,
		`authedge_edits_refused_total{reason="verification"}`:          0,
		`authedge_edits_refused_total{reason="sudo"}`:                  0,
		`authedge_code_sends_total{channel="sms",outcome="delivered"}`: 0,
		`authedge_event_deliveries_total{outcome="delivered"}`:         0,
		`authedge_redis_command_errors_total{command="evalsha"}`:       0,
		`authedge_redis_command_errors_total{command="get"}`:           0,
	}
	before := scrape(t, f.caddy)
	checkSeries(t, before, want)
	// Every edit is one script; the first of each script also an EVAL.
	if n := before[`authedge_redis_command_duration_seconds_count{command="evalsha"}`]; n < 5 {
		t.Errorf("EVALSHA timed %v times, want at least the 5 edits that reached the store", n)
	}
	for name := range before {
		for _, bad := range []string{"m-alice", "m_alice", "m-bob", "m-carol", "m-dave", "/app/page"} {
			if strings.Contains(name, bad) {
				t.Errorf("a series carries request data: %s", name)
			}
		}
	}

	reloadedAt := before["caddy_config_last_reload_success_timestamp_seconds"]
	time.Sleep(1100 * time.Millisecond) // the timestamp has whole seconds
	reload(t, f.caddy)
	after := scrape(t, f.caddy)
	if after["caddy_config_last_reload_success_timestamp_seconds"] <= reloadedAt {
		t.Fatal("Caddy's reload timestamp did not move: the config was not reloaded")
	}
	if after["caddy_config_last_reload_successful"] != 1 {
		t.Error("Caddy reports the reload as failed")
	}
	checkSeries(t, after, want)
	logs := f.caddy.logs.String()
	for _, bad := range []string{"duplicate metrics collector", "registering authedge's metrics"} {
		if strings.Contains(logs, bad) {
			t.Errorf("caddy logged %q on reload:\n%s", bad, logs)
		}
	}

	// The counters go on from where they were.
	f.do("GET", mePath, alice, "").wantOK(t)
	f.do("POST", editPath, bob, `{"username":"m_alice"}`).wantError(t, http.StatusConflict, "username_already_exists")
	want[`authedge_requests_total{code="200",endpoint="user.me"}`] = 2
	want[`authedge_requests_total{code="409",endpoint="user.basic.edit"}`] = 2
	want[`authedge_edits_refused_total{reason="conflict"}`] = 2
	want[`authedge_token_checks_total{outcome="valid"}`] = 9
	// The reloaded config has a verifier, and so a cache, of its own:
	// both tokens miss it once.
	want[`authedge_token_cache_lookups_total{result="miss"}`] = 8
	checkSeries(t, scrape(t, f.caddy), want)
}
