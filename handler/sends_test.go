package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/notify"
)

// The send path's abuse cases (docs/webhooks.md): deliveries that outlive
// their client, outcomes that count or not, and the limits per caller,
// per owner and per client IP.

// blockingReceiver is a real webhook receiver: it records each delivery,
// tells the test it has one, then holds its answer (200) until released.
type blockingReceiver struct {
	srv     *httptest.Server
	got     chan notify.Message
	release chan struct{}
	once    sync.Once
}

func newBlockingReceiver(t *testing.T) *blockingReceiver {
	t.Helper()
	b := &blockingReceiver{got: make(chan notify.Message, 16), release: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m notify.Message
		_ = json.Unmarshal(body, &m)
		b.got <- m
		select {
		case <-b.release:
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(b.srv.Close)
	t.Cleanup(b.Release) // runs before Close: handlers return
	return b
}

func (b *blockingReceiver) Release() { b.once.Do(func() { close(b.release) }) }

// useWebhook makes the env deliver through a real notify.Webhook.
func (e *env) useWebhook(url string, timeout time.Duration) {
	e.t.Helper()
	w, err := notify.NewWebhook(url, "whsec_"+"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", nil, timeout)
	if err != nil {
		e.t.Fatal(err)
	}
	e.api.deps.Sender = w
}

func withContext(ctx context.Context) reqOpt {
	return func(r *http.Request) { *r = *r.WithContext(ctx) }
}

func remoteAddr(addr string) reqOpt { return func(r *http.Request) { r.RemoteAddr = addr } }

// forgetCallerMinute deletes a caller's sends of the last minute: a test
// sending more than five codes as one caller is about another limit.
func (e *env) forgetCallerMinute(sub string) {
	e.t.Helper()
	e.rawRedis().Del(context.Background(), "authedge:{"+testEnvID+"}:cm:"+sub)
}

// forgetLookups deletes every client IP's lookup count: a test sending
// more than rate_limit lookups codes from one IP is about another limit.
func (e *env) forgetLookups() {
	e.t.Helper()
	ctx := context.Background()
	keys, err := e.rawRedis().Keys(ctx, "authedge:{"+testEnvID+"}:lk:*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	if len(keys) > 0 {
		e.rawRedis().Del(ctx, keys...)
	}
}

// TestClientHangUpDoesNotUncount: a client that disconnects while its code
// is being delivered changes nothing: the delivery goes on, the receiver
// has the code, and the send counts (the second within 60 s is 429). Before
// the delivery was detached from the client, the hang-up cancelled it and
// the send was un-counted, so hanging up made sends free.
func TestClientHangUpDoesNotUncount(t *testing.T) {
	e := newEnv(t)
	recv := newBlockingReceiver(t)
	e.useWebhook(recv.srv.URL, 5*time.Second)
	body := `{"phone_number":"+86 13000000000"}`

	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	go func() {
		<-recv.got // the receiver has the message...
		hangUp()   // ...and the client goes away
		time.Sleep(100 * time.Millisecond)
		recv.Release()
	}()
	e.serve(http.MethodPost, pathSend, body, bearer(e.token("u1")), withContext(ctx)).wantOK(t)

	res := e.sendCode("u1", body).wantError(t, 429, "resource_exhausted")
	if secs, _ := strconv.Atoi(res.header.Get("Retry-After")); secs < 55 || secs > 60 {
		t.Fatalf("Retry-After = %q, want the rest of the 60 s", res.header.Get("Retry-After"))
	}
	// Another caller too: the 60 s marker is the contact's.
	e.sendCode("u2", body).wantError(t, 429, "resource_exhausted")
}

// TestUnknownOutcomeCounts: a delivery that went out and got no answer is
// 503, its code is not kept, and the send counts.
func TestUnknownOutcomeCounts(t *testing.T) {
	e := newEnv(t)
	recv := newBlockingReceiver(t) // never released: every attempt times out
	e.useWebhook(recv.srv.URL, 400*time.Millisecond)
	e.sendCode("u1", `{"email":"a@example.com"}`).wantError(t, 503, "unavailable")
	m := <-recv.got
	if m.Code == "" {
		t.Fatal("the receiver got no code")
	}
	e.verify(m.VerificationID, m.Code).wantError(t, 400, "invalid_verification_code")
	e.sendCode("u1", `{"email":"a@example.com"}`).wantError(t, 429, "resource_exhausted")
	found := false
	for _, line := range e.logText() {
		if strings.Contains(line, "outcome") && strings.Contains(line, "unknown") {
			found = true
		}
	}
	if !found {
		t.Error("the unknown outcome was not logged")
	}
}

// TestDefiniteFailureDoesNotCount: a receiver that answers non-2xx, or a
// 3xx, certainly sent nothing: 503, and an immediate retry is allowed.
func TestDefiniteFailureDoesNotCount(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError, http.StatusFound, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			e := newEnv(t)
			var mu sync.Mutex
			answer := status
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if answer >= 300 && answer < 400 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(answer)
			}))
			t.Cleanup(srv.Close)
			e.useWebhook(srv.URL, 2*time.Second)
			e.sendCode("u1", `{"email":"a@example.com"}`).wantError(t, 503, "unavailable")
			mu.Lock()
			answer = http.StatusOK
			mu.Unlock()
			e.sendCode("u1", `{"email":"a@example.com"}`).wantOK(t)
		})
	}
}

// TestFailedDeliveriesBoundedPerCaller: a definite failure un-counts the
// send, but it still takes its place in the caller's minute, so a
// receiver that refuses deliveries (down, overloaded, or refusing one
// number) gets at most five attempts a minute from one caller, not one
// per request: before, 60 requests from one caller made 60 deliveries
// (180 POSTs to a receiver answering 5xx) and 120 warnings in the log.
// The contact's own limits and the caller's day are not spent.
func TestFailedDeliveriesBoundedPerCaller(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	hits, answer := 0, http.StatusBadRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hits++
		w.WriteHeader(answer)
	}))
	t.Cleanup(srv.Close)
	e.useWebhook(srv.URL, 2*time.Second)
	for range 5 {
		e.sendCode("u1", `{"email":"a@example.com"}`).wantError(t, 503, "unavailable")
	}
	mu.Lock()
	answer = http.StatusOK
	mu.Unlock()
	e.sendCode("u1", `{"email":"a@example.com"}`).wantError(t, 429, "resource_exhausted")
	mu.Lock()
	if hits != 5 {
		t.Errorf("the receiver got %d deliveries, want 5", hits)
	}
	mu.Unlock()
	// Another caller may still send to that contact, and so may the
	// caller once its minute has passed.
	e.sendCode("u2", `{"email":"a@example.com"}`).wantOK(t)
	e.forgetCallerMinute("u1")
	e.sendCode("u1", `{"email":"b@example.com"}`).wantOK(t)
}

// TestCallerSendLimits: one caller, five codes a minute over all contacts.
func TestCallerSendLimits(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.sendCode("u1", fmt.Sprintf(`{"email":"c%d@example.com"}`, i)).wantOK(t)
	}
	res := e.sendCode("u1", `{"email":"c5@example.com"}`).wantError(t, 429, "resource_exhausted")
	if secs, _ := strconv.Atoi(res.header.Get("Retry-After")); secs < 1 || secs > 60 {
		t.Fatalf("Retry-After = %q, want within the minute", res.header.Get("Retry-After"))
	}
	e.sendCode("u2", `{"email":"c5@example.com"}`).wantOK(t)

	// Thirty a day: the minute passes (its counter deleted) and more go,
	// up to thirty, then none for the day.
	for i := 6; i <= 30; i++ {
		if i%5 == 1 {
			e.forgetCallerMinute("u1")
			e.forgetLookups()
		}
		e.sendCode("u1", fmt.Sprintf(`{"email":"c%d@example.com"}`, i)).wantOK(t)
	}
	e.forgetCallerMinute("u1")
	res = e.sendCode("u1", `{"email":"c99@example.com"}`).wantError(t, 429, "resource_exhausted")
	if secs, _ := strconv.Atoi(res.header.Get("Retry-After")); secs <= 3600 {
		t.Fatalf("Retry-After = %q, want the rest of the day", res.header.Get("Retry-After"))
	}
}

// TestStrangerCannotSpendOwnersBudget: a stranger spends ten sends in a day
// on the victim's phone; the victim's own CUR_USER code still goes out and
// still buys a sudo token.
func TestStrangerCannotSpendOwnersBudget(t *testing.T) {
	e := newEnv(t)
	e.bindPhone("victim", "+86 13000000000")
	// Binding took one send of the day (an ANY by the victim).
	for i := 2; i <= 10; i++ {
		e.forgetCallerMinute("stranger")
		e.sendCode("stranger", `{"phone_number":"+86 13000000000","target":"ANY"}`).wantOK(t)
		e.forgetLastSend(e.sender.Last(t).VerificationID)
	}
	e.forgetCallerMinute("stranger")
	e.sendCode("stranger", `{"phone_number":"+86 13000000000","target":"ANY"}`).wantError(t, 429, "resource_exhausted")
	e.sendCode("victim", `{"phone_number":"+86 13000000000","target":"ANY"}`).wantError(t, 429, "resource_exhausted")

	e.sendCode("victim", `{"phone_number":"","target":"CUR_USER"}`).wantOK(t)
	msg := e.sender.Last(t)
	vt := e.verify(msg.VerificationID, msg.Code).wantOK(t).str("verification_token")
	e.serve(http.MethodPost, pathSudo, jsonBody(t, map[string]string{"verification_token": vt}), bearer(e.token("victim"))).wantOK(t)
}

// TestVerifyIPLimit: twenty wrong codes an hour from one client IP; past
// that the IP is refused, right code or not, while another IP is not.
func TestVerifyIPLimit(t *testing.T) {
	e := newEnv(t)
	e.sendCode("u1", `{"email":"a@example.com"}`).wantOK(t)
	msg := e.sender.Last(t)
	verifyFrom := func(addr, id, code string) *result {
		return e.serve(http.MethodPost, pathVerify, jsonBody(t, map[string]string{
			"verification_id": id, "verification_code": code,
		}), noHeader("Authorization"), remoteAddr(addr))
	}
	const attacker = "203.0.113.9:4000"
	e.wrongCodes(t, 20, func(id, code string) *result { return verifyFrom(attacker, id, code) })
	res := verifyFrom(attacker, msg.VerificationID, msg.Code).wantError(t, 429, "resource_exhausted")
	if secs, _ := strconv.Atoi(res.header.Get("Retry-After")); secs < 3500 || secs > 3600 {
		t.Fatalf("Retry-After = %q, want the rest of the hour", res.header.Get("Retry-After"))
	}
	// Another port of the same IP is the same IP.
	verifyFrom("203.0.113.9:5000", msg.VerificationID, msg.Code).wantError(t, 429, "resource_exhausted")
	// The refusal spent nothing: the user, elsewhere, verifies.
	verifyFrom("198.51.100.1:1234", msg.VerificationID, msg.Code).wantOK(t)
}

// TestVerifyIPLimitUsesClientIP: the limit keys on Deps.ClientIP (Caddy's
// client IP behind trusted proxies), and an IPv6 /64 is one client.
func TestVerifyIPLimitUsesClientIP(t *testing.T) {
	e := newEnv(t)
	e.api.deps.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client-IP") }
	wrong := func(ip string) *result {
		return e.serve(http.MethodPost, pathVerify, jsonBody(t, map[string]string{
			"verification_id": "AAAAAAAAAAAAAAAAAAAAAA", "verification_code": "123456",
		}), noHeader("Authorization"), header("X-Test-Client-IP", ip))
	}
	// Twenty addresses of one /64, all from one RemoteAddr.
	i := 0
	e.wrongCodes(t, 20, func(id, code string) *result {
		i++
		return e.serve(http.MethodPost, pathVerify, jsonBody(t, map[string]string{
			"verification_id": id, "verification_code": code,
		}), noHeader("Authorization"), header("X-Test-Client-IP", fmt.Sprintf("2001:db8:1:2::%x", i)))
	})
	wrong("2001:db8:1:2:ffff::1").wantError(t, 429, "resource_exhausted")
	wrong("2001:db8:1:3::1").wantError(t, 400, "invalid_verification_code")
	wrong("192.0.2.1").wantError(t, 400, "invalid_verification_code")
}

// wrongCodes makes n wrong guesses through verify, each answered 400, at
// live verifications of codes sent to addresses of its own (an unknown or
// closed verification_id is no guess and does not count): five a
// verification, the fifth of which closes it.
func (e *env) wrongCodes(t testing.TB, n int, verify func(id, code string) *result) {
	t.Helper()
	for sent := 0; n > 0; sent++ {
		e.sendCode("guesser", fmt.Sprintf(`{"email":"guess-%d@example.com"}`, sent)).wantOK(t)
		msg := e.sender.Last(t)
		for range min(n, 5) {
			verify(msg.VerificationID, wrongCode(msg.Code)).wantError(t, 400, "invalid_verification_code")
			n--
		}
	}
}

func TestIPLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":               "192.0.2.1",
		"::ffff:192.0.2.1":        "192.0.2.1",
		"2001:db8::1":             "2001:db8::/64",
		"2001:db8:0:0:ffff::1":    "2001:db8::/64",
		"fe80::1%eth0":            "fe80::/64",
		"":                        "",
		"not an ip":               "not an ip",
		"2001:db8:aaaa:bbbb:cc::": "2001:db8:aaaa:bbbb::/64",
	} {
		if got := ipLimitKey(in); got != want {
			t.Errorf("ipLimitKey(%q) = %q, want %q", in, got, want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	if got := remoteHost(r); got != "2001:db8::1" {
		t.Errorf("remoteHost = %q", got)
	}
}

// FuzzIPLimitKey: whatever the client IP says (behind trusted proxies it
// comes from a header), the key is an address, a /64, or the input itself.
func FuzzIPLimitKey(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "::ffff:1.2.3.4", "fe80::1%eth0", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ip string) {
		key := ipLimitKey(ip)
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			if key != ip {
				t.Fatalf("unparsable %q keyed as %q", ip, key)
			}
			return
		}
		if p, err := netip.ParsePrefix(key); err == nil {
			if p.Bits() != 64 || !p.Contains(addr.WithZone("")) {
				t.Fatalf("%q keyed as %q", ip, key)
			}
			return
		}
		if a, err := netip.ParseAddr(key); err != nil || !a.Is4() || a != addr.Unmap() {
			t.Fatalf("%q keyed as %q", ip, key)
		}
	})
}

// TestUnknownVerificationIDsLockNobodyOut: a verification_id nobody was
// given (or one already closed) can never be right, so guessing with it
// gains nothing, and counting it against the IP let anyone, without an
// account or a code of their own, shut an IP out of verify for an hour
// with 20 made-up requests (a web page can make its visitors' browsers
// send them: verify takes text/plain without a token). Only wrong codes
// of live verifications count.
func TestUnknownVerificationIDsLockNobodyOut(t *testing.T) {
	e := newEnv(t)
	const shared = "203.0.113.9:4000"
	verifyFrom := func(id, code string) *result {
		return e.serve(http.MethodPost, pathVerify, jsonBody(t, map[string]string{
			"verification_id": id, "verification_code": code,
		}), noHeader("Authorization"), remoteAddr(shared))
	}
	for i := range 50 {
		id := fmt.Sprintf("AAAAAAAAAAAAAAAAAAAA%02d", i) // well-formed, unknown
		verifyFrom(id, "123456").wantError(t, 400, "invalid_verification_code")
	}
	// A verification closed by 5 wrong codes is unknown from then on.
	e.sendCode("u1", `{"email":"closed@example.com"}`).wantOK(t)
	closed := e.sender.Last(t)
	wrong := wrongCode(closed.Code)
	for range 5 {
		verifyFrom(closed.VerificationID, wrong).wantError(t, 400, "invalid_verification_code")
	}
	for range 20 {
		verifyFrom(closed.VerificationID, wrong).wantError(t, 400, "invalid_verification_code")
	}
	// The user behind the same address verifies their code.
	e.sendCode("u2", `{"email":"b@example.com"}`).wantOK(t)
	msg := e.sender.Last(t)
	verifyFrom(msg.VerificationID, msg.Code).wantOK(t)
}

// TestUnconfirmedSendCountsNothing: a send whose store script ran but
// whose answer did not come back as a success (here `wait 1` with no
// replica to confirm it; a Redis reply lost to the timeout is the same)
// is 503 and delivers nothing, so it must leave nothing behind: no code,
// no 60 s marker, no daily count, no caller slot. Were they left on the
// master, every retry while a replica lagged would spend the contact's
// and the caller's budgets on codes nobody was sent.
func TestUnconfirmedSendCountsNothing(t *testing.T) {
	e := newEnv(t, withStoreWait(1, 20*time.Millisecond))
	for _, body := range []string{
		`{"phone_number":"+86 13000000000"}`,
		`{"email":"a@example.com","target":"NOT_USER"}`,
	} {
		e.sendCode("u1", body).wantError(t, 503, "unavailable")
	}
	if n := len(e.sender.Attempts()); n != 0 {
		t.Fatalf("%d codes delivered for unconfirmed sends", n)
	}
	// The clean-up runs after the answer, so that the 503 is not delayed.
	var keys []string
	for deadline := time.Now().Add(3 * time.Second); ; {
		var err error
		if keys, err = e.rawRedis().Keys(context.Background(), "authedge:*").Result(); err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("an unconfirmed send left %v", keys)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCurUserSendToContactMovedMeanwhile: the caller's bound email is
// bound by someone else between the handler's read of the profile and
// the send's script (a hook makes the move just before the script runs).
// No code goes to the contact, nothing is counted in its owner budget, and
// the answer is the one for a channel with nothing bound.
func TestCurUserSendToContactMovedMeanwhile(t *testing.T) {
	h := &beforeScript{marker: ":vso:"}
	e := newEnv(t, withRedisHook(redistest.CommandHook(h.check)))
	e.me("alice").wantOK(t)
	e.editWith(e.adminToken(), `{"user_id":"alice","email":"a@example.com"}`).wantOK(t)
	raw := e.rawRedis()
	h.run = func(keys, argv []string) {
		// KEYS[4] is the contact's index bucket, ARGV[4] its key.
		raw.HSet(context.Background(), keys[3], argv[3], "mallory")
	}
	before := len(e.sender.Messages())
	e.sendCode("alice", `{"email":"","target":"CUR_USER"}`).wantError(t, 400, "invalid_argument").wantDescription(t, "email")
	if h.fired != 1 {
		t.Fatalf("the hook fired %d times", h.fired)
	}
	if n := len(e.sender.Messages()); n != before {
		t.Fatalf("a code was delivered to a contact no longer the caller's: %+v", e.sender.Messages()[before:])
	}
	if n, _ := raw.Keys(context.Background(), "authedge:{"+testEnvID+"}:v[ds]o:*").Result(); len(n) != 0 {
		t.Errorf("the owner's budget was counted: %v", n)
	}
}

// beforeScript is a go-redis hook that, once, runs run just before the
// first script whose keys include one containing marker, with its KEYS
// and ARGV: what another request would do at that moment.
type beforeScript struct {
	marker string
	run    func(keys, argv []string)
	mu     sync.Mutex
	fired  int
}

func (h *beforeScript) check(cmd redis.Cmder) {
	name := cmd.Name()
	if name != "evalsha" && name != "eval" {
		return
	}
	args := make([]string, 0, len(cmd.Args()))
	for _, a := range cmd.Args() {
		// The store sends its keys and strings as pointers (store/scripts.go).
		if p, ok := a.(*string); ok {
			a = *p
		}
		args = append(args, fmt.Sprint(a))
	}
	if len(args) < 3 {
		return
	}
	n, err := strconv.Atoi(args[2])
	if err != nil || len(args) < 3+n {
		return
	}
	keys, argv := args[3:3+n], args[3+n:]
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.run == nil || h.fired > 0 {
		return
	}
	for _, k := range keys {
		if strings.Contains(k, h.marker) {
			h.fired++
			h.run(keys, argv)
			return
		}
	}
}

// hangUpSender is a code receiver that is down: each delivery certainly
// fails, and the client hangs up while it is under way.
type hangUpSender struct{ hangUp context.CancelFunc }

func (s hangUpSender) Send(context.Context, notify.Message) error {
	s.hangUp()
	return &notify.DeliveryError{Outcome: notify.Failed, Err: fmt.Errorf("connection refused")}
}

// TestFailedDeliveryIs503AfterAHangUp: a code delivery that fails is the
// receiver's outage, whether or not the client is still there: 503, as the
// access log and the metrics must show it. 499 cancelled is for a client
// whose hang-up ended the wait on Redis (docs/api.md); the delivery runs
// detached from the client, so its hang-up changed nothing. It was 499,
// which hid a receiver outage from everything that counts 503s as long as
// clients gave up before the delivery did.
func TestFailedDeliveryIs503AfterAHangUp(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, withMetrics(reg))
	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	e.api.deps.Sender = hangUpSender{hangUp}

	e.serve(http.MethodPost, pathSend, `{"phone_number":"+86 13000000000"}`, bearer(e.token("u1")), withContext(ctx)).
		wantError(t, http.StatusServiceUnavailable, "unavailable")
	checkMetrics(t, reg, []want{
		{"authedge_requests_total", requests("verification", "503"), 1},
		{"authedge_requests_total", requests("verification", "499"), 0},
	})
}

// TestContactProbesSpendIPLookups: is_user and NOT_USER's 409 tell whether
// a contact is registered, so every account behind one client IP spends
// that IP's lookups (the budget checkIfUserExist spends) with them: a
// fifth throwaway account gets 429, with the rest of the window as
// Retry-After, before any 409 and with nothing sent. Another IP, and the
// owner's own CUR_USER code, are not held back, and a caller past their
// own limit gets that 429 first.
func TestContactProbesSpendIPLookups(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) {
		c.RateLimit.Lookups = &config.Limit{Count: 4, Window: caddy.Duration(time.Hour)}
	}))
	e.bindPhone("owner", "+86 13000000000")
	const attacker = "203.0.113.9:4000"
	sendFrom := func(addr, sub, body string) *result {
		return e.serve(http.MethodPost, pathSend, body, bearer(e.token(sub)), remoteAddr(addr))
	}
	probe := `{"phone_number":"+8613000000000","target":"NOT_USER"}`
	e.serve(http.MethodGet, pathUserExists+"?username=someone", "", noHeader("Authorization"), remoteAddr(attacker)).wantOK(t)
	sendFrom(attacker, "a1", probe).wantError(t, 409, "phone_already_exists")
	sendFrom(attacker, "a2", probe).wantError(t, 409, "phone_already_exists")
	if res := sendFrom(attacker, "a3", `{"email":"a3@example.com"}`).wantOK(t); res.json["is_user"] != false {
		t.Fatalf("ANY to a free address: %s", res.body)
	}
	sent := len(e.sender.Attempts())
	res := sendFrom(attacker, "a4", probe).wantError(t, 429, "resource_exhausted")
	if secs, _ := strconv.Atoi(res.header.Get("Retry-After")); secs < 3500 || secs > 3600 {
		t.Fatalf("Retry-After = %q, want the rest of the lookups' hour", res.header.Get("Retry-After"))
	}
	sendFrom(attacker, "a4", `{"email":"a4@example.com"}`).wantError(t, 429, "resource_exhausted")
	if n := len(e.sender.Attempts()) - sent; n != 0 {
		t.Fatalf("%d codes sent past the IP's lookups", n)
	}
	// Nothing of the refusals counted against the caller.
	if n, _ := e.rawRedis().Exists(context.Background(), "authedge:{"+testEnvID+"}:cm:a4").Result(); n != 0 {
		t.Error("a send refused for the IP's lookups took a slot of the caller's")
	}
	// The same budget: checkIfUserExist is refused too.
	e.serve(http.MethodGet, pathUserExists+"?username=someone", "", noHeader("Authorization"), remoteAddr(attacker)).
		wantError(t, 429, "resource_exhausted")

	sendFrom("198.51.100.1:1234", "a4", probe).wantError(t, 409, "phone_already_exists")
	sendFrom(attacker, "owner", `{"phone_number":"","target":"CUR_USER"}`).wantOK(t)

	// A caller past their own limit (five codes a minute, asked from
	// elsewhere) gets their own 429: a minute, not the IP's hour.
	for i := range 5 {
		sendFrom(fmt.Sprintf("192.0.2.%d:1234", 10+i), "busy", fmt.Sprintf(`{"email":"busy%d@example.com"}`, i)).wantOK(t)
	}
	res = sendFrom(attacker, "busy", probe).wantError(t, 429, "resource_exhausted")
	if secs, _ := strconv.Atoi(res.header.Get("Retry-After")); secs < 1 || secs > 60 {
		t.Fatalf("Retry-After = %q, want the caller's minute", res.header.Get("Retry-After"))
	}
}
