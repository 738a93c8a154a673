package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// The API reuses its calls, request and response buffers and edit bodies,
// the verifier its decode buffers, the store its batched requests: one
// reused while still in use would answer a user with another's profile.
// Users of tokens and bodies of different sizes call user/me, edit
// themselves (PATCH user/profile answers the profile) over real HTTP, and
// hang up at random moments; every answer a client does read must be its
// own user's.
func TestPooledObjectsNeverCrossUsers(t *testing.T) {
	e := newEnv(t, withEditLimit(1_000_000, time.Minute), withStoreTimeout(300*time.Millisecond))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !e.api.Handles(r) {
			http.NotFound(w, r)
			return
		}
		e.api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64

	const users = 16
	type user struct{ sub, token, nick, desc string }
	var us [users]user
	for i := range us {
		// Lengths vary, so that buffers are reused by bodies and tokens
		// both longer and shorter than the last ones they held.
		sub := fmt.Sprintf("pool-%02d-%s", i, strings.Repeat("x", i*7))
		us[i] = user{
			sub:   sub,
			token: e.token(sub, withClaim("pad", strings.Repeat("p", (i%5)*300))),
			nick:  fmt.Sprintf("nick %02d", i),
			desc:  "desc " + strings.Repeat(string(rune('a'+i)), 20+i*8),
		}
		body := fmt.Sprintf(`{"nickname":%q,"description":%q}`, us[i].nick, us[i].desc)
		e.serve(http.MethodPost, apiPrefix+"user/basic/edit", body, bearer(us[i].token)).wantOK(t)
	}

	raw := redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	t.Cleanup(func() { _ = raw.Close() })
	// Stalls make callers time out while their commands are queued or
	// in flight.
	stopStalls := redistest.Stalls(t, raw, 280*time.Millisecond, 100*time.Millisecond)

	var ends redistest.Outcomes
	check := func(u user, what string, body []byte) {
		var got struct {
			Sub         string `json:"sub"`
			Name        string `json:"name"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			ends.Report(fmt.Errorf("%s for %s: %v: %q", what, u.sub, err, body))
			return
		}
		if got.Sub != u.sub || got.Name != u.nick || got.Description != u.desc {
			ends.Report(fmt.Errorf("%s for %s answered %q", what, u.sub, body))
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 11))
			for time.Now().Before(deadline) {
				u := us[rng.IntN(users)]
				ctx, cancel := context.WithCancel(context.Background())
				if rng.IntN(3) == 0 {
					d := time.Duration(rng.IntN(2000)) * time.Microsecond
					go func() { time.Sleep(d); cancel() }()
				}
				var req *http.Request
				what := "user/me"
				switch rng.IntN(3) {
				case 0:
					req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+apiPrefix+"user/me", nil)
				case 1:
					what = "user/profile"
					body := fmt.Sprintf(`{"name":%q,"description":%q}`, u.nick, u.desc)
					req, _ = http.NewRequestWithContext(ctx, http.MethodPatch, srv.URL+apiPrefix+"user/profile", strings.NewReader(body))
				case 2:
					what = "user/basic/edit"
					body := fmt.Sprintf(`{"nickname":%q,"description":%q}`, u.nick, u.desc)
					req, _ = http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+apiPrefix+"user/basic/edit", strings.NewReader(body))
				}
				req.Header.Set("Authorization", "Bearer "+u.token)
				resp, err := client.Do(req)
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case rerr != nil:
						ends.Failed.Add(1)
					case resp.StatusCode != http.StatusOK:
						ends.Failed.Add(1)
						if resp.StatusCode == http.StatusServiceUnavailable {
							ends.TimedOut.Add(1)
						}
					case what == "user/basic/edit":
						ends.Answered.Add(1)
						if string(body) != "{}" {
							ends.Report(fmt.Errorf("%s for %s answered %q", what, u.sub, body))
						}
					default:
						ends.Answered.Add(1)
						check(u, what, body)
					}
				} else {
					ends.Failed.Add(1)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	paused := stopStalls()
	ends.Require(t, paused)
}
