package handler

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/metrics"
	"github.com/authedge/caddy-authedge/notify"
	"github.com/authedge/caddy-authedge/token"
)

// withMetrics gives the API, its verifier and its store one fresh Set,
// registered in reg.
func withMetrics(reg *prometheus.Registry) envOption {
	return func(s *envSetup) {
		s.metrics = metrics.New()
		if err := s.metrics.Register(reg); err != nil {
			panic(err)
		}
	}
}

func redisHooks(s *metrics.Set) []redis.Hook {
	if s == nil {
		return nil
	}
	return []redis.Hook{s.RedisHook()}
}

func tokenObserver(s *metrics.Set) token.Observer {
	if s == nil {
		return nil // not a typed nil in the interface
	}
	return s
}

// metricValue reads one counter (or a histogram's count) from reg; -1 if
// the series is absent.
func metricValue(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.Histogram != nil {
				return float64(m.GetHistogram().GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

type want struct {
	name   string
	labels map[string]string
	value  float64
}

func checkMetrics(t *testing.T, reg prometheus.Gatherer, wants []want) {
	t.Helper()
	for _, w := range wants {
		if got := metricValue(t, reg, w.name, w.labels); got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
}

func requests(endpoint, code string) map[string]string {
	return map[string]string{"endpoint": endpoint, "code": code}
}

func outcome(o string) map[string]string { return map[string]string{"outcome": o} }
func reason(r string) map[string]string  { return map[string]string{"reason": r} }

// TestMetricsOfAScriptedMix: each request of a mix moves exactly the
// counters it should.
func TestMetricsOfAScriptedMix(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, withMetrics(reg), withEditLimit(3, time.Minute))

	e.edit("alice", `{"username":"alice"}`).wantOK(t)
	e.edit("bob", `{"username":"alice"}`).wantError(t, http.StatusConflict, "username_already_exists")
	expired := signRS256(t, e.claimsFor("alice", withClaim("exp", e.clock.Now().Add(-time.Hour).Unix())))
	e.editWith(expired, `{"nickname":"A"}`).wantError(t, http.StatusUnauthorized, "unauthenticated")
	badSig := signRS256With(t, otherKey(), e.claimsFor("alice"))
	e.editWith(badSig, `{"nickname":"A"}`).wantError(t, http.StatusUnauthorized, "unauthenticated")
	e.serve(http.MethodGet, pathMe, "", bearer("not-a-token")).wantError(t, http.StatusUnauthorized, "unauthenticated")
	e.serve(http.MethodGet, pathMe, "", noHeader("Authorization")).wantError(t, http.StatusUnauthorized, "unauthenticated")
	e.edit("alice", `{"nickname":"A2"}`).wantOK(t)
	e.edit("alice", `{"nickname":"A3"}`).wantOK(t)
	e.edit("alice", `{"nickname":"A4"}`).wantError(t, http.StatusTooManyRequests, "resource_exhausted")
	e.edit("carol", `{"email":"carol@example.com"}`).wantError(t, http.StatusBadRequest, "verification_required")
	e.edit("carol", `{"nickname":""}`).wantError(t, http.StatusBadRequest, "invalid_argument")
	e.me("alice")
	e.serve(http.MethodPut, pathMe, "").wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")

	checkMetrics(t, reg, []want{
		{"authedge_requests_total", requests("user.basic.edit", "200"), 3},
		{"authedge_requests_total", requests("user.basic.edit", "409"), 1},
		{"authedge_requests_total", requests("user.basic.edit", "401"), 2},
		{"authedge_requests_total", requests("user.basic.edit", "429"), 1},
		{"authedge_requests_total", requests("user.basic.edit", "400"), 2},
		{"authedge_requests_total", requests("user.me", "200"), 1},
		{"authedge_requests_total", requests("user.me", "401"), 2},
		{"authedge_requests_total", requests("user.me", "405"), 1},
		{"authedge_requests_total", requests("user.contact", "200"), 0},
		// Only the tokens sent count: the request without one is no check.
		{"authedge_token_checks_total", outcome("valid"), 8},
		{"authedge_token_checks_total", outcome("expired"), 1},
		{"authedge_token_checks_total", outcome("bad_signature"), 1},
		{"authedge_token_checks_total", outcome("malformed"), 1},
		{"authedge_token_checks_total", outcome("unknown_key"), 0},
		{"authedge_token_checks_total", outcome("revoked"), 0},
		{"authedge_token_checks_total", outcome("other"), 0},
		{"authedge_edits_refused_total", reason("conflict"), 1},
		{"authedge_edits_refused_total", reason("rate_limit"), 1},
		{"authedge_edits_refused_total", reason("verification"), 1},
		{"authedge_edits_refused_total", reason("sudo"), 0},
	})
	// The store's commands went through the hook.
	if got := metricValue(t, reg, "authedge_redis_command_duration_seconds", map[string]string{"command": "evalsha"}); got < 1 {
		t.Errorf("no EVALSHA timed: %v", got)
	}
	hits := metricValue(t, reg, "authedge_token_cache_lookups_total", map[string]string{"result": "hit"})
	misses := metricValue(t, reg, "authedge_token_cache_lookups_total", map[string]string{"result": "miss"})
	if hits+misses != 11 || hits < 1 {
		t.Errorf("cache hits %v misses %v: every token sent is one lookup, and alice's repeats hit", hits, misses)
	}
}

// TestMetricsOfOtherTokenRefusals: a token the verifier accepts that
// authenticate refuses (another device's) is one check, "other".
func TestMetricsOfOtherTokenRefusals(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, withMetrics(reg))
	e.serve(http.MethodGet, pathMe, "", bearer(e.token("dave", withDevice("phone-1"))), header("X-Device-Id", "phone-2")).
		wantError(t, http.StatusUnauthorized, "unauthenticated")
	checkMetrics(t, reg, []want{
		{"authedge_token_checks_total", outcome("other"), 1},
		{"authedge_token_checks_total", outcome("valid"), 0},
	})
}

// TestMetricsOfARevokedToken: a token the verifier accepts and the
// revocations refuse is one check, "revoked", not also "valid".
func TestMetricsOfARevokedToken(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, withMetrics(reg))
	tok := e.token("gus")
	e.serve(http.MethodPost, pathSignout, `{}`, bearer(tok)).wantOK(t)
	e.meWith(tok).wantRevoked(t)
	checkMetrics(t, reg, []want{
		{"authedge_token_checks_total", outcome("valid"), 1},
		{"authedge_token_checks_total", outcome("revoked"), 1},
		{"authedge_requests_total", requests("user.signout", "200"), 1},
		{"authedge_requests_total", requests("user.me", "401"), 1},
	})
}

// TestMetricsOfSudoRefusal: replacing a bound email without sudo.
func TestMetricsOfSudoRefusal(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, withMetrics(reg))
	e.bindEmail("erin", "erin@example.com")
	vt := e.verificationToken("erin", "email", "erin2@example.com", "ANY")
	e.edit("erin", jsonBody(t, map[string]string{"email": "erin2@example.com", "verification_token": vt})).
		wantError(t, http.StatusForbidden, "sudo_required")
	// user/contact's refusals count as edits refused too.
	e.serve(http.MethodPatch, pathContact, `{"email":"erin3@example.com"}`, bearer(e.token("erin"))).
		wantError(t, http.StatusForbidden, "sudo_required")
	checkMetrics(t, reg, []want{
		{"authedge_edits_refused_total", reason("sudo"), 2},
		{"authedge_requests_total", requests("user.contact", "403"), 1},
		{"authedge_code_sends_total", map[string]string{"channel": "email", "outcome": "delivered"}, 2},
	})
}

// TestMetricsOfProfileEditRefusals: PATCH user/profile is an edit (the
// same script, the same edit limit), so its refusals by a rule count as
// edits refused, as basic/edit's and user/contact's do.
func TestMetricsOfProfileEditRefusals(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, withMetrics(reg), withEditLimit(2, time.Minute))
	e.edit("alice", `{"username":"alice"}`).wantOK(t)
	e.setProfile("bob", `{"username":"alice"}`).wantError(t, http.StatusConflict, "username_already_exists")
	e.setProfile("bob", `{"name":"Bob"}`).wantOK(t)
	e.setProfile("bob", `{"name":"Bobby"}`).wantError(t, http.StatusTooManyRequests, "resource_exhausted")
	checkMetrics(t, reg, []want{
		{"authedge_requests_total", requests("user.profile", "409"), 1},
		{"authedge_requests_total", requests("user.profile", "429"), 1},
		{"authedge_edits_refused_total", reason("conflict"), 1},
		{"authedge_edits_refused_total", reason("rate_limit"), 1},
	})
}

// TestMetricsOfCodeSends: delivered, failed, unknown and rate-limited
// sends, by channel.
func TestMetricsOfCodeSends(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, withMetrics(reg))
	e.sendCode("fay", `{"phone_number":"+86 13800000001"}`).wantOK(t)
	// The same number again within 60 s.
	e.sendCode("fay", `{"phone_number":"+86 13800000001"}`).wantError(t, http.StatusTooManyRequests, "resource_exhausted")
	e.sender.FailWith(errors.New("receiver down"))
	e.sendCode("fay", `{"email":"fay@example.com"}`).wantError(t, http.StatusServiceUnavailable, "unavailable")
	e.sender.FailWith(&notify.DeliveryError{Outcome: notify.Unknown, Err: errors.New("timeout")})
	e.sendCode("fay", `{"email":"fay2@example.com"}`).wantError(t, http.StatusServiceUnavailable, "unavailable")
	sends := func(ch, o string) map[string]string { return map[string]string{"channel": ch, "outcome": o} }
	checkMetrics(t, reg, []want{
		{"authedge_code_sends_total", sends("sms", "delivered"), 1},
		{"authedge_code_sends_total", sends("sms", "rate_limited"), 1},
		{"authedge_code_sends_total", sends("email", "failed"), 1},
		{"authedge_code_sends_total", sends("email", "unknown"), 1},
		{"authedge_code_sends_total", sends("email", "delivered"), 0},
		{"authedge_requests_total", requests("verification", "429"), 1},
		{"authedge_requests_total", requests("verification", "503"), 2},
	})
}

// TestRefusalOf maps the catalog to the refusal reasons.
func TestRefusalOf(t *testing.T) {
	cases := []struct {
		err    *apiError
		reason string
	}{
		{conflict("username"), "conflict"},
		{conflict("phone"), "conflict"},
		{conflict("email"), "conflict"},
		{resourceExhausted(time.Second), "rate_limit"},
		{errVerificationRequired, "verification"},
		{errInvalidVerificationToken, "verification"},
		{errSudoRequired, "sudo"},
		{invalidArgument("nickname: too long"), ""},
		{unauthenticated("token expired"), ""},
		{errMissingToken, ""},
		{permissionDenied("only an admin may edit another user"), ""},
		{errUserNotFound, ""},
		{unavailable(), ""},
		{internalError(), ""},
		{errTooLarge, ""},
	}
	for _, c := range cases {
		r, ok := refusalOf(c.err)
		got := ""
		if ok {
			got = r.String()
		}
		if got != c.reason {
			t.Errorf("refusalOf(%s) = %q, want %q", c.err.code, got, c.reason)
		}
	}
}

// TestTokenOutcome maps token's kinds to the metric's outcomes.
func TestTokenOutcome(t *testing.T) {
	if got := tokenOutcome(nil); got != metrics.TokenValid {
		t.Errorf("nil: %v", got)
	}
	if got := tokenOutcome(errors.New("not a *token.Error")); got != metrics.TokenOther {
		t.Errorf("a foreign error: %v", got)
	}
	e := newEnv(t)
	for raw, want := range map[string]metrics.TokenOutcome{
		"x.y": metrics.TokenMalformed,
		signRS256With(t, otherKey(), e.claimsFor("u")):                                         metrics.TokenBadSignature,
		signRS256(t, e.claimsFor("u", withClaim("exp", e.clock.Now().Add(-time.Hour).Unix()))): metrics.TokenExpired,
		signRS256(t, e.claimsFor("u", withClaim("iss", "https://elsewhere.example"))):          metrics.TokenOther,
	} {
		_, err := e.api.deps.Verifier.Verify(t.Context(), raw, testEnvID)
		if got := tokenOutcome(err); got != want {
			t.Errorf("%v: %v, want %v", err, got, want)
		}
	}
}

// BenchmarkServeMeMetrics is BenchmarkServeMe with metrics on: run both in
// one go (-bench 'ServeMe') to see what metrics cost per request.
func BenchmarkServeMeMetrics(b *testing.B) {
	e := newEnv(b, withMetrics(prometheus.NewRegistry()))
	e.api.log = zap.NewNop()
	auth := "Bearer " + e.token("bench-reader")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if code := serveBench(e, http.MethodGet, pathMe, auth, ""); code != http.StatusOK {
			b.Fatalf("me %d: status %d", i, code)
		}
	}
}

// TestClientThatHungUpIs499: a request whose client hung up while it
// waited on Redis is answered and counted 499 (Caddy's "client closed
// request"), not 503: an operator alerting on 503s must not be paged for
// clients that went away.
func TestClientThatHungUpIs499(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, withMetrics(reg))
	tok := e.token("u1")
	e.meWith(tok).wantOK(t)
	e.meWith(tok, hungUp).wantError(t, 499, "cancelled")
	checkMetrics(t, reg, []want{
		{"authedge_requests_total", requests("user.me", "200"), 1},
		{"authedge_requests_total", requests("user.me", "499"), 1},
		{"authedge_requests_total", requests("user.me", "503"), 0},
	})
}

// TestRedisMetricsNameTheStoresCommands: the commands the store sends for
// requests are timed under their own names (docs/metrics.md), not under
// "other": user/query by IDs reads the profiles with MGET, as a token
// check that asks Redis reads the revocations.
func TestRedisMetricsNameTheStoresCommands(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, withMetrics(reg))

	e.edit("alice", `{"nickname":"Alice"}`).wantOK(t)
	e.me("alice")
	e.serve(http.MethodGet, pathQueryUsers+"?id=alice,bob", "", bearer(e.adminToken())).wantOK(t)

	if got := metricValue(t, reg, "authedge_redis_command_duration_seconds", map[string]string{"command": "mget"}); got < 1 {
		t.Errorf("MGET timed %v times under its own name", got)
	}
	if got := metricValue(t, reg, "authedge_redis_command_duration_seconds", map[string]string{"command": "other"}); got != 0 {
		t.Errorf("%v of the store's commands timed as other", got)
	}
}
