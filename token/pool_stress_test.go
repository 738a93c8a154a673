package token

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// Tokens are decoded into pooled buffers, and verified ones cached: a
// claim left pointing into a buffer that the next token reuses would name
// another user. Many users' tokens, of sizes around the buffers' and with
// escaped subjects as well as plain ones, are verified at once, with the
// cache off and with one so small that every token keeps being evicted
// and verified again; every answer must be its own token's.
func TestPooledBuffersNeverCrossTokens(t *testing.T) {
	for _, size := range []int{-1, 4} {
		t.Run(fmt.Sprint("cache", size), func(t *testing.T) {
			c := newClock()
			cfg := baseConfig(t, c)
			cfg.CacheSize = size
			cfg.DeviceClaim = "device_id"
			v := newVerifier(t, cfg)
			type user struct {
				raw, sub, scope, device string
			}
			users := make([]user, 24)
			for i := range users {
				u := user{
					sub:    fmt.Sprintf("user-%02d-%s", i, strings.Repeat("s", i*5)),
					scope:  "openid " + strings.Repeat(string(rune('a'+i)), 10+i*3),
					device: fmt.Sprintf("device-%02d", i),
				}
				if i%4 == 3 {
					u.sub += "\n\u00e9" // escaped in JSON: decoded apart
				}
				cl := validClaims()
				cl["sub"], cl["scope"], cl["device_id"] = u.sub, u.scope, u.device
				// Around the pooled buffers' 2 KiB and 8 KiB.
				cl["pad"] = strings.Repeat("p", []int{0, 900, 1800, 7000}[i%4])
				u.raw = mint(t, jwa.EdDSA, keys().ed, cl, nil)
				users[i] = u
			}
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 3))
					for range 400 {
						u := users[rng.IntN(len(users))]
						got, err := v.Verify(t.Context(), u.raw, testClient)
						if err == nil && (got.Subject != u.sub || got.Scopes != u.scope || got.DeviceID != u.device) {
							err = fmt.Errorf("%q: claims %+v", u.sub, got)
						}
						if err != nil {
							select {
							case errs <- err:
							default:
							}
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
