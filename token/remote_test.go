package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// jwksServer serves a JWK Set that tests change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
	gate   chan struct{} // if set, each fetch waits for it
	hits   atomic.Int32
	// header, if set, adds headers to each answer; set before the first
	// fetch.
	header func(http.Header)
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, gate := s.body, s.status, s.gate
		s.mu.Unlock()
		if gate != nil {
			<-gate
		}
		w.Header().Set("Content-Type", "application/json")
		if s.header != nil {
			s.header(w.Header())
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setStatus(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

// rotationSetup is a verifier on a remote set that holds key a (k.rsa), on
// a fake clock, for tests of keys rotated in later (k.rsa2 as b, k.ec256
// as c).
func rotationSetup(t *testing.T) (*testKeys, *clock, *jwksServer, *Verifier) {
	t.Helper()
	k := keys()
	c := newClock()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now})
	return k, c, srv, newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
}

func (s *jwksServer) serve(body []byte) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func newRemote(t *testing.T, url string, o remoteOptions) *RemoteJWKS {
	t.Helper()
	r, err := newRemoteJWKS(t.Context(), url, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestRemoteJWKS(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}, jwkEntry{kid: "e", key: &k.ec256.PublicKey}))
	r, err := NewRemoteJWKS(t.Context(), srv.URL, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: newClock().Now})
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"}))
	mustVerify(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), map[string]any{"kid": "e"}))
	mustVerify(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), nil))
	// A known kid whose key does not verify fetches again once (its key
	// may have been replaced under the same kid), then is refused.
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "a"}), "invalid signature")
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want the first and one for the failure", n)
	}
}

func TestRemoteJWKSMustStart(t *testing.T) {
	k := keys()
	good := jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey})
	for name, tc := range map[string]struct {
		status int
		body   []byte
		want   string
	}{
		"server error":   {http.StatusInternalServerError, good, "500"},
		"not found":      {http.StatusNotFound, good, "404"},
		"not JSON":       {http.StatusOK, []byte("<html>"), "JWK"},
		"empty set":      {http.StatusOK, []byte(`{"keys":[]}`), "no public signature key"},
		"only HMAC keys": {http.StatusOK, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), "no public signature key"},
		"too large":      {http.StatusOK, []byte(`{"keys":[],"x":"` + strings.Repeat("a", maxJWKSSize) + `"}`), "larger than 1 MiB"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newJWKSServer(t, tc.body)
			srv.status = tc.status
			_, err := NewRemoteJWKS(t.Context(), srv.URL, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("NewRemoteJWKS: %v, want an error naming the URL with %q", err, tc.want)
			}
		})
	}
	srv := newJWKSServer(t, good)
	url := srv.URL
	srv.Close()
	if _, err := NewRemoteJWKS(t.Context(), url, nil, nil); err == nil {
		t.Fatal("an unreachable JWKS must fail the start")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := NewRemoteJWKS(ctx, newJWKSServer(t, good).URL, nil, nil); err == nil {
		t.Fatal("a canceled context must fail the start")
	}
}

func TestRemoteUnknownKidRefreshIsRateLimited(t *testing.T) {
	k, c, srv, v := rotationSetup(t)
	tokenB := mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"})
	tokenC := mint(t, jwa.ES256, k.ec256, validClaims(), map[string]any{"kid": "c"})

	// The issuer rotates in b: the first token naming it fetches the set.
	srv.serve(jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}, jwkEntry{kid: "b", key: &k.rsa2.PublicKey}))
	mustVerify(t, v, tokenB)
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// Known kids fetch nothing.
	mustVerify(t, v, tokenB)

	// c appears at once, but within 5 s of the last miss nothing is fetched.
	srv.serve(jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}, jwkEntry{kid: "b", key: &k.rsa2.PublicKey}, jwkEntry{kid: "c", key: &k.ec256.PublicKey}))
	mustRefuse(t, v, tokenC, "unknown signing key")
	c.Advance(4900 * time.Millisecond)
	for i := 0; i < 5; i++ {
		mustRefuse(t, v, tokenC, "unknown signing key")
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches within the 5 s limit, want 2", n)
	}
	c.Advance(100 * time.Millisecond)
	mustVerify(t, v, tokenC)
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

func TestRemoteConcurrentMissesShareOneFetch(t *testing.T) {
	k := keys()
	c := newClock()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now})
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
	tokenB := mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"})

	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.body = jwkSet(t, jwkEntry{kid: "b", key: &k.rsa2.PublicKey})
	srv.mu.Unlock()

	const callers = 8
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(context.Background(), tokenB, testClient)
			errs <- err
		}()
	}
	// Let every caller reach the shared fetch before the server answers.
	waitFor(t, func() bool { return srv.hits.Load() == 2 })
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a caller sharing the fetch failed: %v", err)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches for %d concurrent misses, want one", n-1, callers)
	}
}

func TestRemoteMissWaitHonoursContext(t *testing.T) {
	k := keys()
	c := newClock()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now})
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
	gate := make(chan struct{})
	defer close(gate)
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v.Verify(ctx, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"}), testClient)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Verify: %v after %s", err, time.Since(start))
	}
}

func TestRemoteKeyChangeDropsVerifiedCache(t *testing.T) {
	k := keys()
	c := newClock()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now})
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
	other := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now, Audience: []string{"api"}})
	tokenA := mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"})
	mustVerify(t, v, tokenA)
	if v.cache.len() != 1 {
		t.Fatal("tokenA is not cached")
	}
	gen := r.current().gen

	// A refresh that changes nothing keeps the generation and the cache.
	r.install(keysFromSetBytes(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey})), nil, r.client.started.Add(1))
	if r.current().gen != gen {
		t.Fatal("an unchanged set got a new generation")
	}

	// The issuer drops a for b; a token naming b brings the new set.
	srv.serve(jwkSet(t, jwkEntry{kid: "b", key: &k.rsa2.PublicKey}))
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"}))
	if r.current().gen == gen {
		t.Fatal("the new set kept the old generation")
	}
	// The cached tokenA must not outlive its key.
	mustRefuse(t, v, tokenA, "unknown signing key")
	// And a second Verifier on the same remote sees the new set too.
	cl := validClaims()
	cl["aud"] = "api"
	if _, err := other.Verify(t.Context(), mint(t, jwa.RS256, k.rsa2, cl, map[string]any{"kid": "b"}), "x"); err != nil {
		t.Fatal(err)
	}
}

func TestRemotePeriodicRefreshAndClose(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for real refresh ticks")
	}
	k := keys()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	before := runtime.NumGoroutine()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	// httprc's finest refresh window is one second.
	r, err := newRemoteJWKS(t.Context(), srv.URL, client, remoteOptions{refreshWindow: time.Second, refreshInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.serve(jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}, jwkEntry{kid: "p", key: &k.ec256.PublicKey}))
	waitFor(t, func() bool { return len(r.current().byKid["p"]) == 1 })

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a fetch already on the wire may land
	hits := srv.hits.Load()
	time.Sleep(2500 * time.Millisecond)
	if n := srv.hits.Load(); n != hits {
		t.Fatalf("%d fetches after Close", n-hits)
	}
	// A miss after Close fetches nothing either, and keys stay usable.
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: newClock().Now})
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "new"}), "unknown signing key")
	mustVerify(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), map[string]any{"kid": "p"}))
	if n := srv.hits.Load(); n != hits {
		t.Fatalf("a miss after Close fetched")
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

func keysFromSetBytes(t *testing.T, data []byte) []*publicKey {
	t.Helper()
	keys, _, err := parseJWKSet(data)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A set served with a freshness of a year is fetched again within
// remoteMaxRefresh all the same: a key the provider has withdrawn, named
// by tokens as a kid the set still had, makes no extra fetch, and must not
// stay in use for as long as the server's headers say.
func TestRemoteRefreshIsCappedWhateverCacheControlSays(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for real refresh ticks")
	}
	k := keys()
	for _, header := range []string{"Cache-Control", "Expires"} {
		t.Run(header, func(t *testing.T) {
			srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
			srv.header = func(h http.Header) {
				if header == "Expires" {
					h.Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
				} else {
					h.Set("Cache-Control", "public, max-age=31536000")
				}
			}
			// httprc's finest refresh window is one second.
			r := newRemote(t, srv.URL, remoteOptions{refreshWindow: time.Second, minRefresh: time.Second, maxRefresh: time.Second})
			v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: newClock().Now})
			tokenA := mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"})
			mustVerify(t, v, tokenA)

			// The provider withdraws a: tokens naming it are still sent.
			srv.serve(jwkSet(t, jwkEntry{kid: "b", key: &k.rsa2.PublicKey}))
			waitFor(t, func() bool { return len(r.current().byKid["a"]) == 0 })
			mustRefuse(t, v, tokenA, "unknown signing key")
		})
	}
}

func TestCapFreshness(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	far := now.Add(48 * time.Hour).Format(http.TimeFormat)
	near := now.Add(time.Minute).Format(http.TimeFormat)
	cases := []struct {
		cacheControl, expires       string
		wantCacheControl, wantExpir string
	}{
		{"", "", "", ""},
		{"max-age=600", "", "max-age=600", ""},
		{"public, max-age=3600", "", "public, max-age=3600", ""},
		{"public, max-age=86400", "", "max-age=3600", ""},
		{"max-age=600", far, "max-age=600", far}, // max-age wins over Expires, as in httprc
		{"", far, "max-age=3600", ""},
		{"", near, "", near},
		{"no-cache", far, "max-age=3600", ""},
		{"", "not a date", "", "not a date"},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.cacheControl != "" {
			h.Set("Cache-Control", tc.cacheControl)
		}
		if tc.expires != "" {
			h.Set("Expires", tc.expires)
		}
		capFreshness(h, time.Hour, now)
		if got, gotExp := h.Get("Cache-Control"), h.Get("Expires"); got != tc.wantCacheControl || gotExp != tc.wantExpir {
			t.Errorf("Cache-Control %q, Expires %q: got %q, %q; want %q, %q",
				tc.cacheControl, tc.expires, got, gotExp, tc.wantCacheControl, tc.wantExpir)
		}
	}
}

// TestUnknownKidWhileJWKSDownIsUnavailable: a token signed with a key the
// issuer has just rotated in names a kid the set lacks, and the set cannot
// be fetched to look for it. That is not a bad token: refusing it as one
// (401) makes CloudBase's SDK sign its user out. It is refused as
// KindKeysUnavailable, answered 503, until a fetch succeeds again.
func TestUnknownKidWhileJWKSDownIsUnavailable(t *testing.T) {
	k, c, srv, v := rotationSetup(t)
	tokenB := mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"})
	tokenC := mint(t, jwa.ES256, k.ec256, validClaims(), map[string]any{"kid": "c"})
	srv.setStatus(http.StatusBadGateway)
	for range 2 { // the fetch that fails, then within the miss interval
		if _, err := v.Verify(t.Context(), tokenB, ""); KindOf(err) != KindKeysUnavailable {
			t.Fatalf("unknown kid, JWKS down: %v (kind %d), want KindKeysUnavailable", err, KindOf(err))
		}
	}
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"}))
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "a"}), "invalid signature")

	// Back up, with b rotated in: b verifies; c, still unknown after a
	// fetch that worked, is an unknown key again.
	srv.setStatus(http.StatusOK)
	srv.serve(jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}, jwkEntry{kid: "b", key: &k.rsa2.PublicKey}))
	c.Advance(5 * time.Second)
	mustVerify(t, v, tokenB)
	c.Advance(5 * time.Second)
	if _, err := v.Verify(t.Context(), tokenC, ""); KindOf(err) != KindUnknownKey {
		t.Fatalf("unknown kid, JWKS up: %v, want KindUnknownKey", err)
	}
}

// TestRemoteRedirectMayNotDropTLS: jwks_url must be https (or plain http
// to loopback), because whoever is on the path of a plain-http fetch can
// swap the keys. A redirect from the https URL to a plain-http one would
// take the fetch there anyway; it is refused, at start and on a refresh,
// and the keys fetched before stay. A redirect that keeps https is
// followed.
func TestRemoteRedirectMayNotDropTLS(t *testing.T) {
	k := keys()
	// What a machine on the path would serve on the plain-http hop.
	forged := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa2.PublicKey}))
	var target atomic.Value
	target.Store(forged.URL)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
			return
		}
		http.Redirect(w, r, target.Load().(string), http.StatusFound)
	}))
	defer tlsSrv.Close()

	_, err := newRemoteJWKS(t.Context(), tlsSrv.URL+"/jwks", tlsSrv.Client(), remoteOptions{})
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("a redirect from https to http was followed at start: %v", err)
	}
	if forged.hits.Load() != 0 {
		t.Fatal("the plain-http target was fetched")
	}

	// https to https is followed.
	target.Store(tlsSrv.URL + "/keys")
	c := newClock()
	r, err := newRemoteJWKS(t.Context(), tlsSrv.URL+"/jwks", tlsSrv.Client(), remoteOptions{now: c.Now})
	if err != nil {
		t.Fatalf("a redirect that keeps https was refused: %v", err)
	}
	defer r.Close()
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
	good := mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"})
	mustVerify(t, v, good)

	// A refresh (here for an unknown kid) redirected to plain http
	// changes nothing.
	target.Store(forged.URL)
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"}), errKeysUnavailable.Description)
	if forged.hits.Load() != 0 {
		t.Fatal("the plain-http target was fetched on a refresh")
	}
	mustVerify(t, v, good)
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "a"}), "invalid signature")
}

// TestRemoteJWKSStartErrorHidesPassword: a jwks_url may carry a password
// (https://user:pass@idp/jwks). A first fetch that fails fails the config,
// and Caddy prints and logs that error: it names the URL, never the
// password, whichever way the fetch failed.
func TestRemoteJWKSStartErrorHidesPassword(t *testing.T) {
	withPassword := func(u string) string { return strings.Replace(u, "http://", "http://user:s3cret-pw@", 1) + "/jwks" }
	failing := newJWKSServer(t, []byte(`{"keys":[]}`))
	failing.setStatus(http.StatusInternalServerError)
	empty := newJWKSServer(t, []byte(`{"keys":[]}`))
	gone := newJWKSServer(t, nil)
	gone.Close()
	for name, url := range map[string]string{
		"server error": withPassword(failing.URL),
		"no key":       withPassword(empty.URL),
		"unreachable":  withPassword(gone.URL),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newRemoteJWKS(t.Context(), url, nil, remoteOptions{})
			if err == nil {
				t.Fatal("the start succeeded")
			}
			if strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), "user:xxxxx@") {
				t.Fatalf("error %q: want the URL named with its password hidden", err)
			}
		})
	}
}

// TestRemoteRefetch: a config reload's Refetch drops a key the provider
// withdrew at once, not at the next periodic refresh; a set fetched less
// than a second ago is not fetched again; a fetch that fails keeps the
// keys fetched before and says so.
func TestRemoteRefetch(t *testing.T) {
	k := keys()
	c := newClock()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now})
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
	tokenA := mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"})
	mustVerify(t, v, tokenA)

	// The provider withdraws a (compromised) for b.
	srv.serve(jwkSet(t, jwkEntry{kid: "b", key: &k.rsa2.PublicKey}))
	if err := r.Refetch(t.Context()); err != nil || srv.hits.Load() != 1 {
		t.Fatalf("Refetch within a second of the first fetch: %v, %d fetches; want nil and no fetch", err, srv.hits.Load())
	}
	mustVerify(t, v, tokenA)
	c.Advance(time.Second)
	if err := r.Refetch(t.Context()); err != nil {
		t.Fatalf("Refetch: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	mustRefuse(t, v, tokenA, "unknown signing key")
	tokenB := mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"})
	mustVerify(t, v, tokenB)

	// The provider is down: the reload's fetch fails, b stays.
	c.Advance(time.Second)
	srv.setStatus(http.StatusServiceUnavailable)
	if err := r.Refetch(t.Context()); err == nil {
		t.Fatal("Refetch of a set that cannot be fetched: nil error")
	}
	mustVerify(t, v, tokenB)
}

// TestRemoteRefetchAfterFailure: the handlers of one reloaded config
// each call Refetch, one after another; while the provider is down, only
// the first of them fetches, and the others within the second are told
// of its failure at once. Each fetch of a provider that hangs takes the
// 10 s timeout: a config with ten handlers would otherwise take 100 s to
// load.
func TestRemoteRefetchAfterFailure(t *testing.T) {
	k := keys()
	c := newClock()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now})
	c.Advance(time.Second)
	srv.setStatus(http.StatusServiceUnavailable)
	for i := range 3 {
		if err := r.Refetch(t.Context()); err == nil {
			t.Fatalf("Refetch %d of a set that cannot be fetched: nil error", i+1)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2: the first and one for the reload", n)
	}
	// A second later, a reload fetches again, and the provider is back.
	c.Advance(time.Second)
	srv.setStatus(http.StatusOK)
	if err := r.Refetch(t.Context()); err != nil || srv.hits.Load() != 3 {
		t.Fatalf("Refetch a second later: %v, %d fetches; want nil and 3", err, srv.hits.Load())
	}
}

// TestRemoteMalformedCacheControl: a JWKS answered with a Cache-Control
// value httpcc cannot read ("max-age=" with no number, "=") is used like
// one without the header. httpcc v1.0.1 panics on an empty directive
// value, and the fetch runs on httprc's goroutine: the panic ended the
// whole Caddy process, every site with it.
func TestRemoteMalformedCacheControl(t *testing.T) {
	k := keys()
	for _, value := range []string{"max-age=", "=", "public, no-cache="} {
		t.Run(value, func(t *testing.T) {
			srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
			srv.header = func(h http.Header) { h.Set("Cache-Control", value) }
			r := newRemote(t, srv.URL, remoteOptions{})
			v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: newClock().Now})
			mustVerify(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"}))
		})
	}
}

// TestKidlessTokenAfterRotation: an issuer that puts no kid in its tokens
// rotates a key into the set. A token signed by it verifies as soon as the
// miss limit allows a fetch: the failure fetches the set again, as an
// unknown kid does, rather than locking users out until the next periodic
// refresh, up to an hour away.
func TestKidlessTokenAfterRotation(t *testing.T) {
	k, c, srv, v := rotationSetup(t)
	tokenB := mint(t, jwa.RS256, k.rsa2, validClaims(), nil)
	// The set does not have b: the fetch finds nothing new, 401.
	mustRefuse(t, v, tokenB, "invalid signature")
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want the first and one for the failure", n)
	}
	// b rotated in: 401 within the limit, verified after it.
	srv.serve(jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}, jwkEntry{kid: "b", key: &k.rsa2.PublicKey}))
	c.Advance(remoteMissInterval - time.Millisecond)
	mustRefuse(t, v, tokenB, "invalid signature")
	c.Advance(time.Millisecond)
	mustVerify(t, v, tokenB)
	// A key of another family (no key of the old set fits ES256) too.
	c.Advance(remoteMissInterval)
	srv.serve(jwkSet(t, jwkEntry{key: &k.ec256.PublicKey}))
	mustVerify(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), nil))
	if n := srv.hits.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4", n)
	}
}

// TestKidlessMissIsRateLimited: bad tokens without a kid share the limit
// of unknown kids: within the interval, however many there are, one extra
// fetch at most, and they stay 401, also while the set cannot be fetched
// (a forged token is no sign of a missing key).
func TestKidlessMissIsRateLimited(t *testing.T) {
	k, c, srv, v := rotationSetup(t)
	forged := mint(t, jwa.RS256, k.rsa2, validClaims(), nil)
	for range 20 {
		mustRefuse(t, v, forged, "invalid signature")
		mustRefuse(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), nil), "no key for this token's algorithm")
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches for 40 bad kid-less tokens within the limit, want the first and one more", n)
	}
	// One limit for both: an unknown kid now fetches nothing either.
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "zz"}), "unknown signing key")
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2: kid-less and unknown-kid misses share the limit", n)
	}
	// Past the limit, one more; with the set down, still 401.
	c.Advance(remoteMissInterval)
	srv.setStatus(http.StatusBadGateway)
	for range 5 {
		if _, err := v.Verify(t.Context(), forged, testClient); err == nil || KindOf(err) == KindKeysUnavailable {
			t.Fatalf("kid-less forged token, JWKS down: %v, want a 401 kind", err)
		}
		mustRefuse(t, v, forged, "invalid signature")
	}
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

// TestKidlessMissIsNever503: a token without a kid that no key verifies
// is 401 whatever the fetch it makes finds, even when the set changed
// while it waited (a periodic refresh that succeeded while its own fetch
// hung) and that fetch then failed: nothing about such a token says a key
// is missing. And with no key for its algorithm in the new set either, it
// is the algorithm's refusal, not an unknown kid it never named.
func TestKidlessMissIsNever503(t *testing.T) {
	k, c, srv, v := rotationSetup(t)
	forged := mint(t, jwa.RS256, k.rsa2, validClaims(), nil)
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate, srv.status = gate, http.StatusBadGateway
	srv.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		_, err := v.Verify(t.Context(), forged, testClient)
		errc <- err
	}()
	for srv.hits.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// The periodic refresh brings a rotated set meanwhile.
	keys, skipped, err := parseJWKSet(jwkSet(t, jwkEntry{kid: "b", key: &k.rsa.PublicKey}))
	if err != nil {
		t.Fatal(err)
	}
	v.remote.install(keys, skipped, v.remote.client.started.Add(1))
	close(gate)
	if err := <-errc; err == nil || KindOf(err) != KindBadSignature {
		t.Fatalf("kid-less forged token, set changed, fetch failed: %v, want invalid signature", err)
	}

	srv.mu.Lock()
	srv.gate, srv.status = nil, http.StatusOK
	srv.mu.Unlock()
	srv.serve(jwkSet(t, jwkEntry{kid: "c", key: &k.rsa2.PublicKey}))
	c.Advance(remoteMissInterval)
	mustRefuse(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), nil), "no key for this token's algorithm")
}

// TestKidReusedAfterRotation: an issuer that rotates a key but keeps its
// kid (kid "1" or "default", say, replaced in place). A token signed by
// the new key names a kid the set knows, yet none of that kid's keys
// verifies it: as for a token without a kid, the failure fetches the set
// again under the miss limit, rather than refusing every user, and making
// CloudBase's SDK sign them out, until the next periodic refresh, up to
// an hour away. A forged token naming a known kid gets no more fetches
// than made-up kids do, and stays 401 with the set down.
func TestKidReusedAfterRotation(t *testing.T) {
	k, c, srv, v := rotationSetup(t)
	srv.serve(jwkSet(t, jwkEntry{kid: "a", key: &k.rsa2.PublicKey}))
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "a"}))
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want the first and one for the failure", n)
	}
	// The old key is gone with the set it was in.
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"}), "invalid signature")
	// The kid's key changed family: no key of the kid fitted ES256.
	c.Advance(remoteMissInterval)
	srv.serve(jwkSet(t, jwkEntry{kid: "a", key: &k.ec256.PublicKey}))
	mustVerify(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), map[string]any{"kid": "a"}))
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
	// Forged tokens naming the kid share the one limit, and are 401
	// (never 503: the kid is known) while the set cannot be fetched.
	c.Advance(remoteMissInterval)
	srv.setStatus(http.StatusBadGateway)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := craft(t, map[string]any{"alg": "ES256", "kid": "a"}, validClaims(), es256(other))
	for range 20 {
		mustRefuse(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "a"}), "no key for this token's algorithm")
		if _, err := v.Verify(t.Context(), forged, testClient); err == nil || KindOf(err) == KindKeysUnavailable {
			t.Fatalf("forged token of a known kid, JWKS down: %v, want a 401 kind", err)
		}
	}
	if n := srv.hits.Load(); n != 4 {
		t.Fatalf("%d fetches for 40 bad tokens of a known kid within the limit, want 4", n)
	}
}

// TestRemoteOlderFetchInstallsNothing: a fetch that started before
// another but ends after it (a slow periodic refresh overtaken by one for
// a miss or a reload) must not put back the set the newer fetch replaced,
// with a key the provider has withdrawn.
func TestRemoteOlderFetchInstallsNothing(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	c := newClock()
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now})
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
	withdrawn := mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"})
	mustVerify(t, v, withdrawn)

	// The slow fetch gets the old set, a, but is held before it answers.
	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	t.Cleanup(release) // a failure below must not leave the server blocked
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	hits := srv.hits.Load()
	slow := make(chan *http.Response, 1)
	go func() {
		res, err := r.client.Get(srv.URL)
		if err != nil {
			t.Error(err)
		}
		slow <- res
	}()
	waitFor(t, func() bool { return srv.hits.Load() == hits+1 })
	// A newer fetch, after the provider withdrew a for b, ends first.
	srv.mu.Lock()
	srv.gate = nil
	srv.body = jwkSet(t, jwkEntry{kid: "b", key: &k.rsa2.PublicKey})
	srv.mu.Unlock()
	c.Advance(time.Second) // Refetch skips a set fetched within the second
	if err := r.Refetch(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, v, withdrawn, "unknown signing key")

	// Let the slow one answer with a's old set: set b stays.
	srv.mu.Lock()
	srv.body = jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey})
	srv.mu.Unlock()
	release()
	res := <-slow
	if res == nil {
		t.FailNow()
	}
	if _, err := r.transform(srv.URL, res); err != nil {
		t.Fatal(err)
	}
	if set := r.current().byKid; len(set) != 1 || set["b"] == nil {
		t.Fatalf("after the older fetch ended: kids %v, want only b", set)
	}
	mustRefuse(t, v, withdrawn, "unknown signing key")
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"}))
}
