package caddymodule

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/internal/redistest"
)

// backgroundConfig returns configs, on the Redis at redisAddr, that run
// every part of a handler that works in the background (a remote JWKS and
// its refresher, an events worker with a webhook to a receiver that takes
// every event), and a token they accept: what the reload tests load again
// and again.
func backgroundConfig(t *testing.T) (cfg func(redisAddr string) config.Config, token string) {
	t.Helper()
	priv, pub := devKeys(t, "rsa")
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(receiver.Close)
	jwksURL, _ := jwksServer(t)
	t.Setenv("RELOAD_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	return func(redisAddr string) config.Config {
		c := baseConfig(pub, redisAddr)
		c.JWT.JWKSURL = jwksURL
		c.Events = &config.Events{Webhook: &config.Webhook{URL: receiver.URL, Secret: "{env.RELOAD_TEST_SECRET}"}}
		return c
	}, devToken(t, priv)
}

// poolSize is the number of entries in p.
func poolSize(p *caddy.UsagePool) int {
	n := 0
	p.Range(func(_, _ any) bool { n++; return true })
	return n
}

// Reloads that fail half-way, a first handler provisioned (a new Redis,
// environment, events worker) and the second refused, release what the
// first built: the config before them keeps serving, nothing stays
// connected to the Redis only they named, and once the last config is
// unloaded the shared pools and the events URL claims are empty.
func TestFailedReloadsReleaseWhatTheyProvisioned(t *testing.T) {
	srvA, srvB := redistest.Start(t), redistest.Start(t)
	background, raw := backgroundConfig(t)
	good := func(addr, env string) config.Config {
		c := background(addr)
		c.EnvironmentID = env
		return c
	}
	type loaded struct {
		hs     []*Handler
		cancel context.CancelFunc
	}
	// load provisions one config of cfgs' handlers as Caddy does: a
	// handler that fails is cleaned up by the loader, those before it by
	// the config's cancel, and a config that loads is started.
	load := func(cfgs ...config.Config) (loaded, error) {
		cfgCtx, err := caddy.ProvisionContext(nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := caddy.NewContext(cfgCtx)
		l := loaded{cancel: cancel}
		for _, c := range cfgs {
			h := &Handler{Config: c}
			if err := h.Provision(ctx); err != nil {
				_ = h.Cleanup()
				for _, h := range l.hs {
					_ = h.Cleanup()
				}
				cancel()
				return loaded{}, err
			}
			l.hs = append(l.hs, h)
		}
		startConfig(t, ctx)
		return l, nil
	}
	unload := func(l loaded) {
		for _, h := range l.hs {
			if err := h.Cleanup(); err != nil {
				t.Error(err)
			}
		}
		l.cancel()
	}
	serves := func(l loaded, when string) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		w := httptest.NewRecorder()
		if err := l.hs[0].ServeHTTP(w, r, &nextHandler{}); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: user/me = %d, %v: %s", when, w.Code, err, w.Body)
		}
	}

	// Counted from what earlier tests of the package may have left.
	j0, b0, e0, u0 := poolSize(jwksPool), poolSize(backendPool), poolSize(eventsPool), eventsURLCount()
	cur, err := load(good(srvA.Addr, "dev-env"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		// The second handler's events URL differs from the first's.
		otherURL := good(srvB.Addr, "env-b")
		otherURL.Events.Webhook.URL += "/other"
		// The second handler's key file is missing.
		noKey := good(srvB.Addr, "env-c")
		noKey.JWT.PublicKeys = []string{t.TempDir() + "/missing.pem"}
		for _, bad := range []config.Config{otherURL, noKey} {
			if _, err := load(good(srvB.Addr, "env-b"), bad); err == nil {
				t.Fatal("a config with a bad second handler loaded")
			}
			serves(cur, "after a failed reload")
		}
		// A good reload, which replaces the events worker every time.
		next := good(srvA.Addr, "dev-env")
		next.Events.RetryFor = caddy.Duration(time.Hour * time.Duration(2+i))
		n, err := load(next)
		if err != nil {
			t.Fatal(err)
		}
		unload(cur)
		cur = n
		serves(cur, "after a reload")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := redistest.Command(srvB.Addr, "CLIENT", "LIST")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(out, "id=") == 1 { // this CLIENT LIST's own
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections left to the Redis only failed configs named:\n%s", out)
		}
	}
	if j, b, e, u := poolSize(jwksPool)-j0, poolSize(backendPool)-b0, poolSize(eventsPool)-e0, eventsURLCount()-u0; j != 1 || b != 1 || e != 1 || u != 1 {
		t.Errorf("one config loaded: %d remote JWKS, %d backends, %d events workers, %d events URL claims; want one of each", j, b, e, u)
	}
	unload(cur)
	if j, b, e, u := poolSize(jwksPool)-j0, poolSize(backendPool)-b0, poolSize(eventsPool)-e0, eventsURLCount()-u0; j != 0 || b != 0 || e != 0 || u != 0 {
		t.Errorf("no config loaded: %d remote JWKS, %d backends, %d events workers, %d events URL claims left", j, b, e, u)
	}
}

func eventsURLCount() int {
	eventsURLs.Lock()
	defer eventsURLs.Unlock()
	return len(eventsURLs.m)
}
