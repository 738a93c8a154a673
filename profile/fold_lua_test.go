package profile

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// TestFoldKeyMatchesRedisLua checks FoldKey against the real thing: store
// scripts recompute index keys with string.lower, so the two must agree on
// every byte value.
func TestFoldKeyMatchesRedisLua(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	inputs := []string{
		string(all),
		"ZhangSan@Example.COM",
		"ÄÖÜ İSTANBUL \u212a ǅ",
		"Ｆｕｌｌｗｉｄｔｈ",
	}
	for _, in := range inputs {
		got, err := rdb.Eval(ctx, "return string.lower(ARGV[1])", nil, in).Text()
		if err != nil {
			t.Fatal(err)
		}
		if want := FoldKey(in); got != want {
			t.Errorf("Lua string.lower(%q) = %q, FoldKey = %q", in, got, want)
		}
	}
}
