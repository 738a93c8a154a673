package handler

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

const (
	pathRevoke    = "/auth/v1/revoke"
	pathSignout   = "/auth/v1/user/signout"
	pathRevokeAll = "/auth/v1/user/revoke/all"
	pathDevices   = "/auth/v1/user/authorized/devices/"
)

// meWith is GET user/me with the given token and options.
func (e *env) meWith(tok string, opts ...reqOpt) *result {
	e.t.Helper()
	return e.serve(http.MethodGet, pathMe, "", append([]reqOpt{bearer(tok)}, opts...)...)
}

// refusedWithinASecond asks e for user/me with tok until it is refused as
// revoked, and fails t if it is still accepted a second after start, when
// the revocation was made (docs/revocation.md's bound).
func (e *env) refusedWithinASecond(t testing.TB, start time.Time, tok string, opts ...reqOpt) {
	t.Helper()
	for {
		res := e.meWith(tok, opts...)
		if res.status == http.StatusUnauthorized {
			res.wantRevoked(t)
			return
		}
		res.wantOK(t)
		if time.Since(start) > time.Second {
			t.Fatal("a revoked token was accepted for over a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantRevoked: the token is refused as revoked.
func (r *result) wantRevoked(t testing.TB) {
	t.Helper()
	r.wantError(t, http.StatusUnauthorized, "unauthenticated").wantDescription(t, "revoked")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("WWW-Authenticate = %q, want an invalid_token challenge", r.header.Get("WWW-Authenticate"))
	}
}

// revocationKeys lists what the store wrote for revocations.
func (e *env) revocationKeys() []string {
	e.t.Helper()
	return e.rawRedis().Keys(context.Background(), "authedge:{"+testEnvID+"}:r[tudsx]*").Val()
}

func TestRevokeRevokesTheTokenInTheBody(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1") // no jti: revocable by its digest
	kept := e.token("u1", withClaim("jti", "another"))
	e.meWith(tok).wantOK(t)

	res := e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": tok}), noHeader("Authorization")).wantOK(t)
	if string(res.body) != "{}" {
		t.Errorf("revoke answered %s, want {}", res.body)
	}
	e.meWith(tok).wantRevoked(t)
	e.meWith(kept).wantOK(t)
	// Revoked everywhere a token is checked, edits included, and again.
	e.editWith(tok, `{"nickname":"x"}`).wantRevoked(t)
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": tok})).wantOK(t)

	// The key lives until the token's exp plus the leeway, no longer.
	ttl := e.rawRedis().PTTL(context.Background(), "authedge:{"+testEnvID+"}:rt:"+store.TokenDigest(tok)).Val()
	want := time.Hour + e.cfg.JWT.EffectiveLeeway()
	if ttl > want || ttl < want-time.Minute {
		t.Errorf("revoked token key TTL %v, want about %v", ttl, want)
	}
}

func TestRevokeAnswersTheSameForATokenThatDoesNotVerify(t *testing.T) {
	e := newEnv(t)
	expired := signRS256(t, e.claimsFor("u1", withClaim("exp", e.clock.Now().Add(-time.Hour).Unix())))
	for name, tok := range map[string]string{
		"garbage":      "not.a.token",
		"expired":      expired,
		"wrong issuer": e.token("u1", withClaim("iss", "https://elsewhere")),
		"unsigned":     unsigned(t, e.claimsFor("u1")),
	} {
		res := e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": tok}))
		if res.status != http.StatusOK || string(res.body) != "{}" {
			t.Errorf("%s: got %d %s, want 200 {}", name, res.status, res.body)
		}
	}
	if keys := e.revocationKeys(); len(keys) != 0 {
		t.Errorf("tokens that do not verify wrote %v", keys)
	}
}

// A token issued to another client of the environment is revocable through
// the SDK's default client_id.
func TestRevokeTokenOfAnotherClient(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1", withClaim("aud", []string{otherClient}))
	e.meWith(tok, query("client_id="+otherClient)).wantOK(t)
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": tok}), query("client_id="+testEnvID)).wantOK(t)
	e.meWith(tok, query("client_id="+otherClient)).wantRevoked(t)
}

func TestRevokeRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	e.serve(http.MethodPost, pathRevoke, `{}`).wantError(t, 400, "invalid_argument").wantDescription(t, "token")
	e.serve(http.MethodPost, pathRevoke, `{"token":""}`).wantError(t, 400, "invalid_argument").wantDescription(t, "token")
	e.serve(http.MethodPost, pathRevoke, `{"token":5}`).wantError(t, 400, "invalid_argument").wantDescription(t, "token")
	e.serve(http.MethodPost, pathRevoke, `{"token":"a","extra":1}`).wantError(t, 400, "invalid_argument").wantDescription(t, "extra")
	e.serve(http.MethodPost, pathRevoke, `[]`).wantError(t, 400, "invalid_argument")
	e.serve(http.MethodPost, pathRevoke, `{"token":"a"}`, header("Content-Type", "application/x-www-form-urlencoded")).
		wantError(t, 415, "unsupported_media_type")
	e.serve(http.MethodPost, pathRevoke, `{"token":"a"}`, query("client_id=nobody")).wantError(t, 400, "invalid_argument")
	res := e.serve(http.MethodGet, pathRevoke, "").wantError(t, 405, "method_not_allowed")
	if res.header.Get("Allow") != http.MethodPost {
		t.Errorf("Allow = %q", res.header.Get("Allow"))
	}
	if keys := e.revocationKeys(); len(keys) != 0 {
		t.Errorf("refused requests wrote %v", keys)
	}
}

func TestSignoutRevokesThePresentedToken(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	other := e.token("u1", withClaim("jti", "second-session"))
	body := `{"redirect_uri":"https://evil.example/phish","state":"xyz"}`
	res := e.serve(http.MethodPost, pathSignout, body, bearer(tok), header("Content-Type", "text/plain;charset=UTF-8")).wantOK(t)
	if string(res.body) != "{}" || res.header.Get("Location") != "" {
		t.Errorf("signout answered %s (Location %q): redirect_uri must never be echoed", res.body, res.header.Get("Location"))
	}
	e.meWith(tok).wantRevoked(t)
	e.meWith(other).wantOK(t)
	// Signing out again with the revoked token is refused like any use.
	e.serve(http.MethodPost, pathSignout, `{}`, bearer(tok)).wantRevoked(t)
}

// TestRevocationBodiesTakeTheClientsParameters: RFC 7009's client_id and
// token_type_hint on revoke, the OpenID Connect logout parameters on
// signout (whatever the app hands the SDK's signOut(params)) are accepted,
// client_id checked against the environment and the query.
func TestRevocationBodiesTakeTheClientsParameters(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{
		"token": tok, "token_type_hint": "access_token", "client_id": otherClient,
	}), noHeader("Authorization")).wantOK(t)
	e.meWith(tok).wantRevoked(t)

	tok = e.token("u1", withClaim("jti", "logout"))
	e.serve(http.MethodPost, pathSignout, jsonBody(t, map[string]string{
		"client_id": testEnvID, "id_token_hint": "eyJ.x.y", "post_logout_redirect_uri": "https://app.example/bye",
		"logout_hint": "u1", "ui_locales": "zh-CN", "state": "s",
	}), bearer(tok), query("client_id="+testEnvID)).wantOK(t)
	e.meWith(tok).wantRevoked(t)

	kept := e.token("u1", withClaim("jti", "kept"))
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": kept, "client_id": "nobody"})).
		wantError(t, 400, "invalid_argument").wantDescription(t, "client_id")
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": kept, "client_id": otherClient}),
		query("client_id="+testEnvID)).wantError(t, 400, "invalid_argument").wantDescription(t, "client_id")
	e.serve(http.MethodPost, pathSignout, `{"client_id":"nobody"}`, bearer(kept)).
		wantError(t, 400, "invalid_argument").wantDescription(t, "client_id")
	e.serve(http.MethodPost, pathSignout, `{"client_id":5}`, bearer(kept)).
		wantError(t, 400, "invalid_argument").wantDescription(t, "client_id")
	e.meWith(kept).wantOK(t) // nothing refused was revoked
}

func TestSignoutRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	e.serve(http.MethodPost, pathSignout, `{}`).wantError(t, 401, "unauthenticated")
	e.serve(http.MethodPost, pathSignout, `{"redirect_uri":5}`, bearer(e.token("u1"))).
		wantError(t, 400, "invalid_argument").wantDescription(t, "redirect_uri")
	e.serve(http.MethodPost, pathSignout, `{"next":"x"}`, bearer(e.token("u1"))).
		wantError(t, 400, "invalid_argument").wantDescription(t, "next")
	e.serve(http.MethodGet, pathSignout, "", bearer(e.token("u1"))).wantError(t, 405, "method_not_allowed")
	e.meWith(e.token("u1")).wantOK(t) // nothing was revoked
}

func TestRevokeAll(t *testing.T) {
	e := newEnv(t)
	older := e.token("u1")
	noIat := e.token("u1", withoutClaim("iat"))
	otherUser := e.token("u2")
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.token("u1"))).wantOK(t)
	e.meWith(older).wantRevoked(t)
	e.meWith(noIat).wantRevoked(t)
	e.meWith(otherUser).wantOK(t)

	// A token issued after the revocation works.
	e.clock.Advance(time.Second)
	e.meWith(e.token("u1")).wantOK(t)
}

func TestRevokeAllOfAnotherUser(t *testing.T) {
	e := newEnv(t)
	victim := e.token("u2")
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.token("u1")), query("user_id=u2")).
		wantError(t, 403, "permission_denied")
	e.meWith(victim).wantOK(t)
	// Naming oneself needs no admin.
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.token("u3")), query("user_id=u3")).wantOK(t)

	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.adminToken()), query("user_id=u2")).wantOK(t)
	e.meWith(victim).wantRevoked(t)
	e.meWith(e.adminToken()).wantOK(t) // the admin's own tokens stay
	// A user with no profile has tokens too: no 404.
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.adminToken()), query("user_id=never-seen")).wantOK(t)
}

func TestRevokeAllRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	e.serve(http.MethodDelete, pathRevokeAll, "").wantError(t, 401, "unauthenticated")
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.adminToken()), query("user_id=")).
		wantError(t, 400, "invalid_argument").wantDescription(t, "user_id")
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.adminToken()), query("user_id=a&user_id=b")).
		wantError(t, 400, "invalid_argument").wantDescription(t, "user_id")
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.adminToken()), query("user_id="+strings.Repeat("x", 257))).
		wantError(t, 400, "invalid_argument").wantDescription(t, "user_id")
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.adminToken()), query("user_id=a%0Ab")).
		wantError(t, 400, "invalid_argument").wantDescription(t, "user_id")
	// A misspelt or malformed user_id is refused, not read as "yourself":
	// the admin's own tokens must not be revoked in its place.
	for _, q := range []string{"user_Id=u2", "userid=u2", "user_id=%zz", "user_id=u2;x=1", "user_id=%ff"} {
		e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.adminToken()), query(q)).
			wantError(t, 400, "invalid_argument")
	}
	res := e.serve(http.MethodPost, pathRevokeAll, "", bearer(tok)).wantError(t, 405, "method_not_allowed")
	if res.header.Get("Allow") != http.MethodDelete {
		t.Errorf("Allow = %q", res.header.Get("Allow"))
	}
	e.meWith(tok).wantOK(t)
	if keys := e.revocationKeys(); len(keys) != 0 {
		t.Errorf("refused requests wrote %v", keys)
	}
}

func TestRevokeDevice(t *testing.T) {
	e := newEnv(t)
	onA := e.token("u1", withDevice("dev-a"))
	onB := e.token("u1", withDevice("dev-b"))
	unbound := e.token("u1")
	otherOnA := e.token("u2", withDevice("dev-a"))
	e.serve(http.MethodDelete, pathDevices+"dev-a", "", bearer(unbound)).wantOK(t)
	e.meWith(onA, header("X-Device-Id", "dev-a")).wantRevoked(t)
	e.meWith(onB, header("X-Device-Id", "dev-b")).wantOK(t)
	e.meWith(unbound).wantOK(t)
	e.meWith(otherOnA, header("X-Device-Id", "dev-a")).wantOK(t)

	e.clock.Advance(time.Second)
	e.meWith(e.token("u1", withDevice("dev-a")), header("X-Device-Id", "dev-a")).wantOK(t)
}

func TestRevokeDeviceRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	for _, bad := range []string{"", "a b", "a/b", "é", strings.Repeat("d", 129), "dev?x"} {
		r := httpPathFor(bad)
		e.serve(http.MethodDelete, r, "", bearer(tok)).wantError(t, 400, "invalid_argument").wantDescription(t, "device_id")
	}
	// No parameter but client_id: an admin's user_id is not silently
	// dropped, revoking the admin's own device instead.
	admin := e.adminToken()
	for _, q := range []string{"user_id=u2", "x=%zz"} {
		e.serve(http.MethodDelete, pathDevices+"dev-a", "", bearer(admin), query(q)).
			wantError(t, 400, "invalid_argument")
	}
	e.serve(http.MethodDelete, pathDevices+"dev-a", "", bearer(tok), query("client_id="+testEnvID)).wantOK(t)
	e.serve(http.MethodDelete, pathDevices+strings.Repeat("d", 128), "", bearer(tok)).wantOK(t)
	e.serve(http.MethodDelete, pathDevices+"dev-a", "").wantError(t, 401, "unauthenticated")
	res := e.serve(http.MethodGet, pathDevices+"dev-a", "", bearer(tok)).wantError(t, 405, "method_not_allowed")
	if res.header.Get("Allow") != http.MethodDelete {
		t.Errorf("Allow = %q", res.header.Get("Allow"))
	}
	// A malformed x-device-id is step 2, before the token.
	e.serve(http.MethodDelete, pathDevices+"dev-a", "", header("X-Device-Id", "a b")).wantError(t, 400, "invalid_argument")
	// The devices list itself is not served.
	r := httptestRequest(http.MethodGet, "/auth/v1/user/authorized/devices")
	if e.api.Handles(r) {
		t.Error("Handles claims the devices list, which authedge does not serve")
	}
}

// httpPathFor is the devices path of id, escaped as a client would send it.
func httpPathFor(id string) string {
	var b strings.Builder
	b.WriteString(pathDevices)
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == ' ', c == '?', c >= 0x80:
			b.WriteString("%")
			b.WriteString(strings.ToUpper(string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// A second API on the same Redis is another Caddy instance: a revocation
// made through one is refused by the other within a second, even when the
// other had just found the token good, for each of the four ways.
func TestRevocationReachesAnotherInstance(t *testing.T) {
	e := newEnv(t)
	other := e.secondInstance()
	cases := []struct {
		name   string
		victim func() (string, []reqOpt)
		revoke func(tok string)
	}{
		{"revoke", func() (string, []reqOpt) { return e.token("r1"), nil }, func(tok string) {
			e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": tok})).wantOK(t)
		}},
		{"signout", func() (string, []reqOpt) { return e.token("r2"), nil }, func(tok string) {
			e.serve(http.MethodPost, pathSignout, `{}`, bearer(tok)).wantOK(t)
		}},
		{"revoke all", func() (string, []reqOpt) { return e.token("r3"), nil }, func(string) {
			e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.token("r3", withClaim("jti", "x")))).wantOK(t)
		}},
		{"device", func() (string, []reqOpt) {
			return e.token("r4", withDevice("d4")), []reqOpt{header("X-Device-Id", "d4")}
		}, func(string) {
			e.serve(http.MethodDelete, pathDevices+"d4", "", bearer(e.token("r4"))).wantOK(t)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, opts := tc.victim()
			// Good on the other instance, twice: the second answer comes
			// from its memory once its log reader runs.
			other.meWith(tok, opts...).wantOK(t)
			other.waitFresh()
			other.meWith(tok, opts...).wantOK(t)
			tc.revoke(tok)
			start := time.Now()
			other.refusedWithinASecond(t, start, tok, opts...)
			t.Logf("refused by the other instance %v after the revocation", time.Since(start))
		})
	}
}

// secondInstance is another API, store and verifier on e's Redis, config
// and clock, sharing nothing in memory with e's.
func (e *env) secondInstance() *env {
	e.t.Helper()
	st, err := store.New(store.Options{
		Addresses:     []string{e.redis.Addr},
		Prefix:        "authedge",
		EnvironmentID: testEnvID,
		Timeout:       storeTimeout,
		Now:           e.clock.Now,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = st.Close() })
	verifier := newTestVerifier(e.t, e.cfg, e.clock)
	api, err := New(e.cfg, Deps{Verifier: verifier, Store: st, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = api.Close() })
	o := *e
	o.store, o.api = st, api
	return &o
}

// waitFresh waits until the API's revocation reader has read the log.
func (e *env) waitFresh() {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !e.api.revocations.Fresh() {
		if time.Now().After(deadline) {
			e.t.Fatal("the revocation log reader never caught up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRevocationCheckWithRedisDownIsUnavailable(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	e.meWith(tok).wantOK(t)
	e.waitFresh()
	e.redis.Stop()
	time.Sleep(time.Second)
	e.meWith(tok).wantError(t, http.StatusServiceUnavailable, "unavailable")
	e.serve(http.MethodPost, pathSignout, `{}`, bearer(tok)).wantError(t, http.StatusServiceUnavailable, "unavailable")
}

// newTestVerifier is a verifier built as newEnv builds its own.
func newTestVerifier(t testing.TB, cfg *config.Config, clock *testClock) *token.Verifier {
	t.Helper()
	tc := cfg.JWT.TokenConfig()
	tc.Now = clock.Now
	v, err := token.New(tc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func httptestRequest(method, path string) *http.Request {
	return httptest.NewRequest(method, path, nil)
}

// mgetCalls is how many MGETs Redis has served: the revocation state read.
func (e *env) mgetCalls() int {
	e.t.Helper()
	info := e.rawRedis().Info(context.Background(), "commandstats").Val()
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_mget:calls="); ok {
			n, _, _ := strings.Cut(rest, ",")
			var calls int
			fmt.Sscan(n, &calls)
			return calls
		}
	}
	return 0
}

// A valid token used again and again costs no revocation read once the
// instance's log reader keeps up: the check answers from memory.
func TestRepeatedTokenCostsNoRevocationRead(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	e.meWith(tok).wantOK(t)
	// The first check reads Redis, unless the reader it starts has
	// already loaded the replica.
	if e.mgetCalls() > 1 {
		t.Fatalf("the first check made %d revocation reads, want at most 1", e.mgetCalls())
	}
	e.waitFresh()
	e.meWith(tok).wantOK(t)
	before := e.mgetCalls()
	for range 50 {
		e.meWith(tok).wantOK(t)
	}
	if n := e.mgetCalls() - before; n != 0 {
		t.Fatalf("50 requests with a remembered token made %d revocation reads, want 0", n)
	}
}

// Tokens never seen before cost no revocation read either, once the
// instance holds its replica of the revocations.
func TestNewTokensCostNoRevocationRead(t *testing.T) {
	e := newEnv(t)
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.token("gone"))).wantOK(t)
	e.meWith(e.token("warm-up")).wantOK(t)
	// The copy of every revocation loads with the first read of the log.
	deadline := time.Now().Add(5 * time.Second)
	for !e.api.revocations.Replicated() {
		if time.Now().After(deadline) {
			t.Fatal("the revocations were never loaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := e.mgetCalls()
	for i := range 20 {
		// A busy machine can starve the log reader past its trust
		// window, and then every check rightly asks Redis: what is
		// measured is the cost of a check while the reader keeps up.
		e.waitFresh()
		e.meWith(e.token(fmt.Sprintf("new-%d", i))).wantOK(t)
	}
	e.waitFresh()
	e.meWith(e.token("gone", withClaim("jti", "other"))).wantRevoked(t)
	if n := e.mgetCalls() - before; n != 0 {
		t.Fatalf("21 never-seen tokens made %d revocation reads, want 0", n)
	}
}

// An issuer whose clock is ahead issues a token with an iat in this
// instance's future (accepted within the leeway): revoke/all and a device
// revocation made with that token cover it.
func TestRevokeAllCoversATokenIssuedInTheFuture(t *testing.T) {
	e := newEnv(t)
	ahead := withClaim("iat", e.clock.Now().Add(20*time.Second).Unix())
	caller := e.token("u1", ahead)
	e.meWith(caller).wantOK(t)
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(caller)).wantOK(t)
	e.meWith(caller).wantRevoked(t)

	device := e.token("u2", ahead, withDevice("d1"))
	e.meWith(device, header("X-Device-Id", "d1")).wantOK(t)
	e.serve(http.MethodDelete, pathDevices+"d1", "", bearer(device), header("X-Device-Id", "d1")).wantOK(t)
	e.meWith(device, header("X-Device-Id", "d1")).wantRevoked(t)
}

// More than one Authorization header is refused: which one counts would
// be each reader's guess.
func TestManyAuthorizationHeadersRefused(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	twice := func(r *http.Request) { r.Header.Add("Authorization", "Bearer "+tok) }
	res := e.serve(http.MethodGet, pathMe, "", bearer(tok), twice).
		wantError(t, http.StatusUnauthorized, "unauthenticated").wantDescription(t, "more than one Authorization")
	// No token was refused: the request is malformed, which RFC 6750 3.1
	// calls invalid_request ("uses more than one method for including an
	// access token"), and a client must not drop its token for it.
	want := `Bearer realm="authedge", error="invalid_request", error_description="the request has more than one Authorization header"`
	if got := res.header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
}

// TestRevocationsMakeEvents: with an events block, each of the four ways
// to revoke appends exactly one user.tokens_revoked event, with the
// request's origin; a repeat that revokes nothing new appends none.
func TestRevocationsMakeEvents(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) { c.Events = &config.Events{StreamMaxLen: 100} }))
	stream := "authedge:{" + testEnvID + "}:events"
	type want struct{ kind, user, actor, device, revokedDevice string }
	var wants []want
	check := func(step string, w *want) {
		t.Helper()
		if w != nil {
			wants = append(wants, *w)
		}
		entries, err := e.rawRedis().XRange(context.Background(), stream, "-", "+").Result()
		if err != nil || len(entries) != len(wants) {
			t.Fatalf("after %s: %d events, want %d (%v)", step, len(entries), len(wants), err)
		}
		if w == nil {
			return
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(entries[len(entries)-1].Values["event"].(string)), &ev); err != nil {
			t.Fatal(err)
		}
		revoked := map[string]any{"kind": w.kind}
		if w.revokedDevice != "" {
			revoked["device_id"] = w.revokedDevice
		}
		var device any
		if w.device != "" {
			device = w.device
		}
		if ev["type"] != "user.tokens_revoked" || ev["user_id"] != w.user || ev["actor"] != w.actor ||
			ev["device_id"] != device || ev["ip"] != "192.0.2.1" || ev["client_id"] != testEnvID ||
			fmt.Sprint(ev["changes"]) != "map[]" || !reflect.DeepEqual(ev["revoked"], revoked) {
			t.Errorf("after %s: event = %v", step, ev)
		}
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(ev["at"])); err != nil {
			t.Errorf("after %s: at = %v", step, ev["at"])
		}
	}

	posted := e.token("u1", withClaim("jti", "posted"))
	body := jsonBody(t, map[string]string{"token": posted})
	e.serve(http.MethodPost, pathRevoke, body, noHeader("Authorization"), header("X-Device-Id", "dev-1")).wantOK(t)
	check("revoke", &want{kind: "token", user: "u1", actor: "u1", device: "dev-1"})
	e.serve(http.MethodPost, pathRevoke, body, noHeader("Authorization")).wantOK(t)
	check("a repeated revoke", nil)

	e.serve(http.MethodPost, pathSignout, `{}`, bearer(e.token("u1", withClaim("jti", "signed-out")))).wantOK(t)
	check("signout", &want{kind: "token", user: "u1", actor: "u1"})

	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.token("u1", withClaim("jti", "all")))).wantOK(t)
	check("revoke/all", &want{kind: "all", user: "u1", actor: "u1"})
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.adminToken()), query("user_id=u1")).wantOK(t)
	check("a repeated revoke/all", nil)

	u2 := e.token("u2")
	e.serve(http.MethodDelete, pathDevices+"dev-a", "", bearer(u2)).wantOK(t)
	check("a device", &want{kind: "device", user: "u2", actor: "u2", revokedDevice: "dev-a"})
	e.serve(http.MethodDelete, pathDevices+"dev-a", "", bearer(u2)).wantOK(t)
	check("a repeated device", nil)
}

// With its replica loaded, an instance judges every token from it, with
// the digest its verifier computed for the signature: a token it has
// cached (checked before) and one it has never seen are both refused
// once another instance revokes them, without a revocation read.
func TestReplicaRefusesRevokedTokensByTheVerifiersDigest(t *testing.T) {
	e := newEnv(t)
	other := e.secondInstance()
	// The revoking instance asks whether each token is revoked already
	// (POST revoke writes nothing for one that is): it too judges from
	// its replica, so that every read counted below is other's.
	for _, inst := range []*env{e, other} {
		inst.meWith(inst.token("warm-up")).wantOK(t)
		deadline := time.Now().Add(5 * time.Second)
		for !inst.api.revocations.Replicated() {
			if time.Now().After(deadline) {
				t.Fatal("the revocations were never loaded")
			}
			time.Sleep(5 * time.Millisecond)
		}
		inst.waitFresh()
	}
	cached, unseen := e.token("c1"), e.token("c2")
	other.meWith(cached).wantOK(t)
	other.meWith(cached).wantOK(t) // from the verifier's cache, digest and all
	before := e.mgetCalls()
	for _, tok := range []string{cached, unseen} {
		e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": tok}), noHeader("Authorization")).wantOK(t)
	}
	start := time.Now()
	for _, tok := range []string{cached, unseen} {
		other.refusedWithinASecond(t, start, tok)
	}
	other.meWith(unseen).wantRevoked(t) // and again, from the verifier's cache
	if n := e.mgetCalls() - before; n != 0 || !other.api.revocations.Replicated() {
		t.Fatalf("%d revocation reads, replica loaded %v: the checks were not judged from the replica", n, other.api.revocations.Replicated())
	}
}

// Each device revocation is a key that lives 30 days, an entry in the log
// every instance reads and an entry in every instance's replica. Device
// IDs are the caller's to choose, and nothing else bounds them: one token
// looping over made-up devices would fill Redis and push every instance's
// replica over its budget. So a user's device revocations are limited a
// day; revoke/all, which revokes the caller's own token and so cannot be
// looped, stays open to the victim of a thief spending that budget.
func TestDeviceRevocationsAreLimited(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	for i := range store.DeviceRevocationsPerDay {
		e.serve(http.MethodDelete, pathDevices+fmt.Sprintf("dev-%d", i), "", bearer(tok)).wantOK(t)
	}
	logKey := "authedge:{" + testEnvID + "}:rx"
	entries := e.rawRedis().XLen(context.Background(), logKey).Val()
	res := e.serve(http.MethodDelete, pathDevices+"dev-one-more", "", bearer(tok)).wantError(t, 429, "resource_exhausted")
	if n := e.rawRedis().XLen(context.Background(), logKey).Val(); n != entries {
		t.Errorf("a refused device revocation was logged: %d entries, had %d", n, entries)
	}
	if ra, _ := strconv.Atoi(res.header.Get("Retry-After")); ra < 23*3600 || ra > 24*3600 {
		t.Errorf("Retry-After = %q, want the rest of the day", res.header.Get("Retry-After"))
	}
	// The same device again is refused too: a later cutoff is a new entry.
	e.serve(http.MethodDelete, pathDevices+"dev-0", "", bearer(tok)).wantError(t, 429, "resource_exhausted")
	var devices int
	for _, k := range e.revocationKeys() {
		if strings.Contains(k, ":rd:") {
			devices++
		}
	}
	if devices != store.DeviceRevocationsPerDay {
		t.Errorf("%d device revocations stored, want %d", devices, store.DeviceRevocationsPerDay)
	}
	// Another user's budget is their own.
	e.serve(http.MethodDelete, pathDevices+"dev-0", "", bearer(e.token("u2"))).wantOK(t)
	// revoke/all is still there for the owner.
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(tok)).wantOK(t)
	e.meWith(tok).wantRevoked(t)
}

// TestRevokeOfARevokedTokenWritesAndLogsNothing: POST /auth/v1/revoke
// needs no Authorization and has no limit, so a token already revoked
// (by itself or by its user's revocation) must cost no write and no info
// line: else anyone holding one token could have authedge log a
// revocation per request, for as long as the token lives.
func TestRevokeOfARevokedTokenWritesAndLogsNothing(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	body := jsonBody(t, map[string]string{"token": tok})
	e.serve(http.MethodPost, pathRevoke, body, noHeader("Authorization")).wantOK(t)
	for range 5 {
		res := e.serve(http.MethodPost, pathRevoke, body, noHeader("Authorization")).wantOK(t)
		if string(res.body) != "{}" {
			t.Fatalf("a repeat answered %s, want {}", res.body)
		}
	}
	if n := e.logs.FilterMessage("token revoked").Len(); n != 1 {
		t.Errorf("one revocation and 5 repeats logged %d revocations, want 1", n)
	}

	// A token its user's revoke/all covers is revoked already: posting it
	// adds no key of its own.
	covered := e.token("u2")
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.token("u2", withClaim("jti", "other")))).wantOK(t)
	before := e.revocationKeys()
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": covered}), noHeader("Authorization")).wantOK(t)
	if after := e.revocationKeys(); len(after) != len(before) {
		t.Errorf("revoking a token revoke/all covered wrote %v (before: %v)", after, before)
	}
	if n := e.logs.FilterMessage("token revoked").Len(); n != 1 {
		t.Errorf("revoking a covered token logged a revocation (%d in all, want 1)", n)
	}
}

// A token that outlives its user's cutoff (a lifetime past
// store.RevocationHorizon) still gets a key of its own when posted: the
// cutoff that covers it ends before it does, and the token its holder
// revoked would then pass again.
func TestRevokeOfACoveredTokenOutlivingTheCutoffIsWritten(t *testing.T) {
	e := newEnv(t)
	long := e.token("u2", withClaim("exp", e.clock.Now().Add(store.RevocationHorizon+time.Hour).Unix()))
	e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.token("u2", withClaim("jti", "other")))).wantOK(t)
	e.meWith(long).wantRevoked(t)
	before := e.revocationKeys()
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": long}), noHeader("Authorization")).wantOK(t)
	if after := e.revocationKeys(); len(after) != len(before)+1 {
		t.Errorf("revoking a token that outlives its cutoff wrote %v (before: %v), want its own key", after, before)
	}
}

// countingVerifier counts the Verify calls of the Verifier it wraps.
type countingVerifier struct {
	Verifier
	calls atomic.Int64
}

func (v *countingVerifier) Verify(ctx context.Context, raw, clientID string) (*token.Claims, error) {
	v.calls.Add(1)
	return v.Verifier.Verify(ctx, raw, clientID)
}

// POST /auth/v1/revoke tries a token with every client of the environment
// only when its audience may be what failed: a forged signature, an
// expired or malformed token fails alike for every client, and trying
// each would make one anonymous request cost a signature check per
// configured client.
func TestRevokeTriesOtherClientsOnlyForTheAudience(t *testing.T) {
	clients := []string{otherClient, "c2", "c3", "c4", "c5"}
	e := newEnv(t, withConfig(func(c *config.Config) { c.ClientIDs = clients }))
	counting := &countingVerifier{Verifier: e.api.deps.Verifier}
	e.api.deps.Verifier = counting

	// Another key, same (absent) kid: the signature is checked, and fails.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	expired := signRS256(t, e.claimsFor("u1", withClaim("exp", e.clock.Now().Add(-time.Hour).Unix())))
	for name, tok := range map[string]string{
		"forged":  signRS256With(t, other, e.claimsFor("u1")),
		"expired": expired,
		"garbage": "not.a.token",
	} {
		counting.calls.Store(0)
		e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": tok}), noHeader("Authorization")).wantOK(t)
		if n := counting.calls.Load(); n != 1 {
			t.Errorf("%s: %d verifications, want 1", name, n)
		}
	}

	// A token of another client is still found, and revoked.
	tok := e.token("u1", withClaim("aud", []string{"c5"}))
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": tok}), noHeader("Authorization")).wantOK(t)
	e.meWith(tok, query("client_id=c5")).wantRevoked(t)
}

// TestRevokeDeviceWithoutADeviceID: the SDK builds the path as
// devices/ + params.device_id, so revokeDevice({}) asks for
// devices/undefined (and {device_id: null} for devices/null). That is a
// call without a device: 400, nothing revoked and nothing counted against
// the day's device revocations, not a 200 that tells the app the device
// was signed out while no token was touched.
func TestRevokeDeviceWithoutADeviceID(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	for _, id := range []string{"undefined", "null"} {
		e.serve(http.MethodDelete, pathDevices+id, "", bearer(tok)).
			wantError(t, 400, "invalid_argument").wantDescription(t, "device_id")
	}
	if keys := e.revocationKeys(); len(keys) != 0 {
		t.Errorf("revoking no device wrote %v", keys)
	}
	if n := e.rawRedis().Exists(context.Background(), "authedge:{"+testEnvID+"}:rv:u1").Val(); n != 0 {
		t.Error("revoking no device counted against the caller's device revocations")
	}
	// Spelt otherwise, they are device IDs like any other.
	e.serve(http.MethodDelete, pathDevices+"Undefined", "", bearer(tok)).wantOK(t)
}

// A token revoked by itself is revoked already, whatever its iat: only a
// cutoff can end before the token does, not the token's own key, which
// lasts to its exp. A token without iat (or outliving the horizon) posted
// again was revoked again: a script run, a log read and an info line per
// request of an endpoint that needs no Authorization and has no limit.
func TestRevokeOfARevokedTokenWithoutIatWritesAndLogsNothing(t *testing.T) {
	e := newEnv(t)
	for i, tok := range []string{
		e.token("u1", withoutClaim("iat")),
		e.token("u1", withClaim("exp", e.clock.Now().Add(store.RevocationHorizon+time.Hour).Unix())),
	} {
		body := jsonBody(t, map[string]string{"token": tok})
		e.serve(http.MethodPost, pathRevoke, body, noHeader("Authorization")).wantOK(t)
		for range 3 {
			e.serve(http.MethodPost, pathRevoke, body, noHeader("Authorization")).wantOK(t)
		}
		if n := e.logs.FilterMessage("token revoked").Len(); n != i+1 {
			t.Errorf("token %d: a revocation and 3 repeats logged %d revocations in all, want %d", i, n, i+1)
		}
		e.meWith(tok).wantRevoked(t)
	}
}
