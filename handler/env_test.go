package handler

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/metrics"
	"github.com/authedge/caddy-authedge/notify"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

// The test environment: a real redis-server, the real store, the real JWT
// verifier with a key generated here, a config built the way caddymodule
// builds it (ApplyDefaults, Validate), a recording code sender, an observed
// zap logger and a clock the test moves.

const (
	testEnvID    = "env-test"
	testIssuer   = "https://issuer.authedge.test"
	otherClient  = "other-client"
	adminUser    = "admin-1"
	pathEdit     = "/auth/v1/user/basic/edit"
	pathMe       = "/auth/v1/user/me"
	pathSend     = "/auth/v1/verification"
	pathVerify   = "/auth/v1/verification/verify"
	pathSudo     = "/auth/v1/user/sudo"
	pathContact  = "/auth/v1/user/contact"
	storeTimeout = 500 * time.Millisecond
)

// catalog is the error catalog (docs/api.md#error-catalog): every error
// answer must use one of these codes with exactly this status.
var catalog = map[string]int{
	"invalid_argument":           400,
	"verification_required":      400,
	"invalid_verification_token": 400,
	"invalid_verification_code":  400,
	"unauthenticated":            401,
	"permission_denied":          403,
	"sudo_required":              403,
	"user_not_found":             404,
	"method_not_allowed":         405,
	"username_already_exists":    409,
	"phone_already_exists":       409,
	"email_already_exists":       409,
	"request_too_large":          413,
	"unsupported_media_type":     415,
	"resource_exhausted":         429,
	"cancelled":                  499, // the client hung up: no one reads it
	"internal":                   500,
	"unimplemented":              501,
	"unavailable":                503,
}

// rsaKey is generated once per test binary: RSA key generation costs tens
// of milliseconds under -race, and the key is not what these tests test.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// testClock is the injectable clock shared by the API, the store and the
// verifier. It starts at the real time so that Redis's own expiries and the
// clock agree until a test moves it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recordingSender is a real in-process notify.Sender: it keeps every
// message it is given and fails while told to.
type recordingSender struct {
	mu       sync.Mutex
	msgs     []notify.Message
	attempts []notify.Message // delivered or not
	fail     error
}

func (s *recordingSender) Send(_ context.Context, m notify.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, m)
	if s.fail != nil {
		return s.fail
	}
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *recordingSender) FailWith(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *recordingSender) Messages() []notify.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.Message(nil), s.msgs...)
}

func (s *recordingSender) Attempts() []notify.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.Message(nil), s.attempts...)
}

// Last returns the last delivered message, failing the test if none was.
func (s *recordingSender) Last(t testing.TB) notify.Message {
	t.Helper()
	msgs := s.Messages()
	if len(msgs) == 0 {
		t.Fatal("no verification code was delivered")
	}
	return msgs[len(msgs)-1]
}

// env is one test's running API.
type env struct {
	t      testing.TB
	redis  *redistest.Server
	store  *store.Store
	api    *API
	cfg    *config.Config
	clock  *testClock
	sender *recordingSender
	logs   *observer.ObservedLogs
	pubPEM []byte
	raw    *redis.Client
}

// envOption adjusts the environment before it is built.
type envOption func(*envSetup)

type envSetup struct {
	cfg          *config.Config
	noSender     bool
	storeTimeout time.Duration
	// waitReplicas and waitTimeout are the store's WAIT (withStoreWait).
	waitReplicas int
	waitTimeout  time.Duration
	metrics      *metrics.Set // withMetrics; nil: none
	remote       *token.RemoteJWKS
	codeKey      []byte       // withCodeKey
	hooks        []redis.Hook // withRedisHook
	// shared is another env's redis-server (withSharedRedis); nil: a
	// fresh one.
	shared *redistest.Server
}

// withSharedRedis runs the env on other's redis-server, as two authedge
// sites of one Caddy with different environment_ids may share one Redis;
// id is this env's environment_id.
func withSharedRedis(other *env, id string) envOption {
	return func(s *envSetup) { s.shared, s.cfg.EnvironmentID = other.redis, id }
}

// withRedisHook adds h to the store's Redis client, after the metrics'.
func withRedisHook(h redis.Hook) envOption {
	return func(s *envSetup) { s.hooks = append(s.hooks, h) }
}

// withCodeKey keys the stored code digests (Deps.CodeKey).
func withCodeKey(key []byte) envOption {
	return func(s *envSetup) { s.codeKey = key }
}

// withRemoteJWKS adds r's keys to the verifier's.
func withRemoteJWKS(r *token.RemoteJWKS) envOption {
	return func(s *envSetup) { s.remote = r }
}

// withConfig edits the configuration before ApplyDefaults.
func withConfig(f func(*config.Config)) envOption {
	return func(s *envSetup) { f(s.cfg) }
}

// withoutSender configures no code sender at all; verification and sudo
// must then be off for the config to load.
func withoutSender() envOption {
	return func(s *envSetup) {
		s.noSender = true
		s.cfg.Verification.Webhook = nil
		off := []string{}
		s.cfg.Verification.Required = &off
		s.cfg.Sudo.Sensitive = &[]string{}
	}
}

// verificationOff is `verification { required off }`.
func verificationOff() envOption {
	return withConfig(func(c *config.Config) { c.Verification.Required = &[]string{} })
}

// sudoOff is `sudo { sensitive off }`.
func sudoOff() envOption {
	return withConfig(func(c *config.Config) { c.Sudo.Sensitive = &[]string{} })
}

func withEditLimit(n int, window time.Duration) envOption {
	return withConfig(func(c *config.Config) {
		c.RateLimit.Edits = &config.Limit{Count: n, Window: caddy.Duration(window)}
	})
}

func withStoreTimeout(d time.Duration) envOption {
	return func(s *envSetup) { s.storeTimeout = d }
}

// withStoreWait makes every write script wait for n replicas; the env's
// Redis has none, so every write runs on it and is then unconfirmed (503).
func withStoreWait(n int, timeout time.Duration) envOption {
	return func(s *envSetup) { s.waitReplicas, s.waitTimeout = n, timeout }
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	e := &env{
		t:      t,
		clock:  &testClock{t: time.Now().Truncate(time.Second)},
		sender: &recordingSender{},
	}

	der, err := x509.MarshalPKIXPublicKey(&rsaKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	e.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	keyFile := filepath.Join(t.TempDir(), "issuer.pem")
	if err := os.WriteFile(keyFile, e.pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	setup := &envSetup{
		cfg: &config.Config{
			EnvironmentID: testEnvID,
			ClientIDs:     []string{otherClient},
			JWT: config.JWT{
				Issuer:     testIssuer,
				PublicKeys: []string{keyFile},
			},
			Redis: config.Redis{
				Timeout: caddy.Duration(storeTimeout),
			},
			// The webhook is never called: the API is given the recording
			// sender. It is here so that the default config (verification
			// of phone and email, sudo for both) validates.
			Verification: config.Verification{
				Webhook: &config.Webhook{URL: "http://127.0.0.1:9/unused"},
			},
		},
		storeTimeout: storeTimeout,
	}
	for _, opt := range opts {
		opt(setup)
	}
	srv := setup.shared
	if srv == nil {
		srv = redistest.Start(t)
	}
	e.redis = srv
	cfg := setup.cfg
	cfg.Redis.Addresses = []string{srv.Addr}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config does not validate: %v", err)
	}
	e.cfg = cfg

	st, err := store.New(store.Options{
		Addresses:     []string{srv.Addr},
		Prefix:        "authedge",
		EnvironmentID: cfg.EnvironmentID,
		Timeout:       setup.storeTimeout,
		WaitReplicas:  setup.waitReplicas,
		WaitTimeout:   setup.waitTimeout,
		Now:           e.clock.Now,
		Hooks:         append(redisHooks(setup.metrics), setup.hooks...),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.store = st

	tc := cfg.JWT.TokenConfig()
	tc.Now = e.clock.Now
	tc.Observer = tokenObserver(setup.metrics)
	tc.Remote = setup.remote
	verifier, err := token.New(tc)
	if err != nil {
		t.Fatal(err)
	}

	core, logs := observer.New(zapcore.DebugLevel)
	e.logs = logs
	deps := Deps{
		Verifier: verifier,
		Store:    st,
		Logger:   zap.New(core),
		Now:      e.clock.Now,
		Metrics:  setup.metrics,
		CodeKey:  setup.codeKey,
	}
	if !setup.noSender {
		deps.Sender = e.sender
	}
	api, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	e.api = api
	return e
}

// ---- tokens ----

// claims are a token's payload; claimOpt adjusts them.
type claims map[string]any

type claimOpt func(claims)

func withScope(scope string) claimOpt { return func(c claims) { c["scope"] = scope } }
func withDevice(id string) claimOpt   { return func(c claims) { c["device_id"] = id } }
func withClaim(name string, v any) claimOpt {
	return func(c claims) { c[name] = v }
}
func withoutClaim(name string) claimOpt { return func(c claims) { delete(c, name) } }
func withAuthTime(t time.Time) claimOpt {
	return func(c claims) { c["auth_time"] = t.Unix() }
}

// claimsFor is a valid payload for sub at the clock's time, for the env's
// environment.
func (e *env) claimsFor(sub string, opts ...claimOpt) claims {
	now := e.clock.Now()
	c := claims{
		"iss": testIssuer,
		"sub": sub,
		"aud": []string{e.cfg.EnvironmentID},
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// token mints an RS256 access token for sub.
func (e *env) token(sub string, opts ...claimOpt) string {
	return signRS256(e.t, e.claimsFor(sub, opts...))
}

func (e *env) adminToken() string { return e.token(adminUser, withScope("openid admin")) }

func signRS256(t testing.TB, c claims) string {
	t.Helper()
	return signRS256With(t, rsaKey(), c)
}

// signRS256With signs c with key, which the server may or may not know.
func signRS256With(t testing.TB, key *rsa.PrivateKey, c claims) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jws.Sign(payload, jws.WithKey(jwa.RS256, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// signHS256 signs with the given bytes as an HMAC secret: the classic
// confusion attack uses the issuer's public key PEM as that secret.
func signHS256(t testing.TB, c claims, secret []byte) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jws.Sign(payload, jws.WithKey(jwa.HS256, secret))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// unsigned builds an alg "none" token by hand: jwx refuses to make one.
func unsigned(t testing.TB, c claims) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// ---- requests ----

// reqOpt adjusts a request before it is served.
type reqOpt func(*http.Request)

func bearer(tok string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func header(name, value string) reqOpt {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func noHeader(name string) reqOpt {
	return func(r *http.Request) { r.Header.Del(name) }
}

func query(q string) reqOpt { return func(r *http.Request) { r.URL.RawQuery = q } }

// result is a served response, already checked against the rules every
// response obeys.
type result struct {
	status int
	header http.Header
	body   []byte
	// json is the decoded body.
	json map[string]any
}

// serve sends one request through Handles and ServeHTTP, as caddymodule does,
// and checks what docs/api.md#responses promises of every response: JSON,
// no-store, and for errors the exact catalog shape.
func (e *env) serve(method, path, body string, opts ...reqOpt) *result {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for _, opt := range opts {
		opt(r)
	}
	if !e.api.Handles(r) {
		e.t.Fatalf("%s %s: Handles reported false", method, path)
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	return checkResponse(e.t, w.Result())
}

func checkResponse(t testing.TB, resp *http.Response) *result {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := &result{status: resp.StatusCode, header: resp.Header, body: b}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("status %d: Cache-Control = %q, want no-store", res.status, got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("status %d: Content-Type = %q, want application/json", res.status, got)
	}
	if err := json.Unmarshal(b, &res.json); err != nil {
		t.Fatalf("status %d: body is not one JSON object: %v: %s", res.status, err, b)
	}
	if res.status >= 400 {
		checkErrorShape(t, res)
	}
	return res
}

// checkErrorShape: exactly {error, error_code, error_description}, a
// catalog code, and error_code equal to the HTTP status.
func checkErrorShape(t testing.TB, res *result) {
	t.Helper()
	keys := make([]string, 0, len(res.json))
	for k := range res.json {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "error,error_code,error_description" {
		t.Errorf("error body keys = %v, want exactly error, error_code, error_description: %s", keys, res.body)
	}
	code, _ := res.json["error"].(string)
	if want, ok := catalog[code]; !ok {
		t.Errorf("error %q is not in the catalog", code)
	} else if want != res.status {
		t.Errorf("error %q answered with status %d, catalog says %d", code, res.status, want)
	}
	if n, ok := res.json["error_code"].(float64); !ok || int(n) != res.status {
		t.Errorf("error_code = %v, want %d", res.json["error_code"], res.status)
	}
	if d, _ := res.json["error_description"].(string); strings.TrimSpace(d) == "" {
		t.Errorf("error_description is empty: %s", res.body)
	}
	if code == "resource_exhausted" || code == "unavailable" {
		if res.header.Get("Retry-After") == "" {
			t.Errorf("%s without Retry-After", code)
		}
	}
}

func (r *result) code() string {
	s, _ := r.json["error"].(string)
	return s
}

func (r *result) description() string {
	s, _ := r.json["error_description"].(string)
	return s
}

func (r *result) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

// wantOK fails the test unless the response is a 200.
func (r *result) wantOK(t testing.TB) *result {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	return r
}

// wantError fails the test unless the response is the given error.
func (r *result) wantError(t testing.TB, status int, code string) *result {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("got %d %s, want %d %s: %s", r.status, r.code(), status, code, r.body)
	}
	return r
}

// wantDescription fails the test unless the error description mentions all
// of words (a field name, typically).
func (r *result) wantDescription(t testing.TB, words ...string) *result {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(r.description(), w) {
			t.Errorf("error_description %q does not mention %q", r.description(), w)
		}
	}
	return r
}

// edit is POST basic/edit as sub.
func (e *env) edit(sub, body string, opts ...reqOpt) *result {
	e.t.Helper()
	return e.serve(http.MethodPost, pathEdit, body, append([]reqOpt{bearer(e.token(sub))}, opts...)...)
}

// editWith is POST basic/edit with the given access token.
func (e *env) editWith(tok, body string, opts ...reqOpt) *result {
	e.t.Helper()
	return e.serve(http.MethodPost, pathEdit, body, append([]reqOpt{bearer(tok)}, opts...)...)
}

// me is GET user/me as sub.
func (e *env) me(sub string) *result {
	e.t.Helper()
	return e.serve(http.MethodGet, pathMe, "", bearer(e.token(sub))).wantOK(e.t)
}

// jsonBody marshals v, for bodies that hold values a test computed.
func jsonBody(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ---- verification helpers ----

// sendCode asks for a code as sub and returns the response.
func (e *env) sendCode(sub, body string) *result {
	e.t.Helper()
	return e.serve(http.MethodPost, pathSend, body, bearer(e.token(sub)))
}

// verify trades a code for a verification token, without an access token
// as CloudBase's SDK does.
func (e *env) verify(id, code string) *result {
	e.t.Helper()
	return e.serve(http.MethodPost, pathVerify, jsonBody(e.t, map[string]string{
		"verification_id": id, "verification_code": code,
	}), noHeader("Authorization"))
}

// verificationToken runs send → verify for one contact and returns the
// verification token. field is "phone_number" or "email".
func (e *env) verificationToken(sub, field, value, target string) string {
	e.t.Helper()
	sent := e.sendCode(sub, jsonBody(e.t, map[string]string{field: value, "target": target})).wantOK(e.t)
	msg := e.sender.Last(e.t)
	if msg.VerificationID != sent.str("verification_id") {
		e.t.Fatalf("delivered verification_id %q, answered %q", msg.VerificationID, sent.str("verification_id"))
	}
	vt := e.verify(msg.VerificationID, msg.Code).wantOK(e.t).str("verification_token")
	if vt == "" {
		e.t.Fatal("verify answered no verification_token")
	}
	// Helpers set the scene; the 60 s send limit has its own test.
	e.forgetLastSend(msg.VerificationID)
	return vt
}

// sudoToken runs a CUR_USER verification on the bound contact of field and
// trades it for a sudo token.
func (e *env) sudoToken(sub, field string) string {
	e.t.Helper()
	vt := e.verificationToken(sub, field, "", "CUR_USER")
	st := e.serve(http.MethodPost, pathSudo, jsonBody(e.t, map[string]string{"verification_token": vt}),
		bearer(e.token(sub))).wantOK(e.t).str("sudo_token")
	if st == "" {
		e.t.Fatal("sudo answered no sudo_token")
	}
	return st
}

// bindPhone gives sub the phone through the whole verification flow, with
// sudo through sub's bound email if there is one and it is sensitive (a
// first phone beside it needs sudo).
func (e *env) bindPhone(sub, phone string) {
	e.t.Helper()
	vt := e.verificationToken(sub, "phone_number", phone, "ANY")
	body := map[string]string{"phone": phone, "verification_token": vt}
	e.sudoThroughOther(sub, channelEmail, body)
	e.edit(sub, jsonBody(e.t, body)).wantOK(e.t)
}

// bindEmail gives sub the email through the whole verification flow, with
// sudo through sub's bound phone if there is one and it is sensitive.
func (e *env) bindEmail(sub, email string) {
	e.t.Helper()
	vt := e.verificationToken(sub, "email", email, "ANY")
	body := map[string]string{"email": email, "verification_token": vt}
	e.sudoThroughOther(sub, channelPhone, body)
	e.edit(sub, jsonBody(e.t, body)).wantOK(e.t)
}

// sudoThroughOther adds to body a sudo token obtained through sub's bound
// contact on channel, if sub has one and the channel is sensitive.
func (e *env) sudoThroughOther(sub, channel string, body map[string]string) {
	e.t.Helper()
	p, _, err := e.store.Profile(context.Background(), sub)
	if err != nil {
		e.t.Fatal(err)
	}
	bound, field := p.Phone, "phone_number"
	if channel == channelEmail {
		bound, field = p.Email, "email"
	}
	if bound != "" && e.api.policy.isSensitive(channel) {
		body["sudo_token"] = e.sudoToken(sub, field)
	}
}

// rawRedis is a plain client of the test's Redis, for what no API does:
// moving Redis's own clock is impossible, so tests delete a timer instead.
func (e *env) rawRedis() *redis.Client {
	if e.raw == nil {
		e.raw = redis.NewClient(&redis.Options{Addr: e.redis.Addr})
		e.t.Cleanup(func() { _ = e.raw.Close() })
	}
	return e.raw
}

// redisState is what the env's Redis holds: every key with its DUMP, but
// the keys whose names contain one of skip (counters a test lets move).
// Tests compare two states to tell whether a request changed anything.
func (e *env) redisState(skip ...string) map[string]string {
	e.t.Helper()
	ctx := context.Background()
	rc := e.rawRedis()
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if !containsAny(k, skip) {
			out[k] = rc.Dump(ctx, k).Val()
		}
	}
	return out
}

// changedKey names a key whose value differs between states a and b, or
// that only one of them holds, leaving out the keys whose names contain
// one of allowed; "" if there is none.
func changedKey(a, b map[string]string, allowed ...string) string {
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			va, inA := a[k]
			vb, inB := b[k]
			if (va != vb || inA != inB) && !containsAny(k, allowed) {
				return k
			}
		}
	}
	return ""
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// forgetLastSend deletes the store's one-send-per-60-s marker of the
// contact that verification id was sent to: the one string key holding
// the verification ID. The daily counter is left alone.
func (e *env) forgetLastSend(id string) {
	e.t.Helper()
	rc := e.rawRedis()
	ctx := context.Background()
	found := 0
	iter := rc.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		if rc.Type(ctx, key).Val() != "string" {
			continue
		}
		if rc.Get(ctx, key).Val() == id {
			rc.Del(ctx, key)
			found++
		}
	}
	if err := iter.Err(); err != nil {
		e.t.Fatal(err)
	}
	if found != 1 {
		e.t.Fatalf("found %d send markers for one verification", found)
	}
}

// ---- logs ----

// logText renders every captured entry, message and fields, as one string
// per entry, so tests can search them.
func (e *env) logText() []string {
	var out []string
	for _, entry := range e.logs.All() {
		var b bytes.Buffer
		b.WriteString(entry.Level.String())
		b.WriteString(" ")
		b.WriteString(entry.Message)
		for k, v := range entry.ContextMap() {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		out = append(out, b.String())
	}
	return out
}

// assertLogsNeverContain fails for every captured log entry that holds one
// of secrets.
func (e *env) assertLogsNeverContain(t testing.TB, secrets ...string) {
	t.Helper()
	for _, line := range e.logText() {
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("a log entry holds the secret %q: %s", s, line)
			}
		}
	}
}

var errDeliveryDown = errors.New("delivery endpoint down")

// in is e reporting to t: a subtest's failures must be its own, since
// FailNow on the parent from a subtest's goroutine is not allowed.
func (e *env) in(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}
