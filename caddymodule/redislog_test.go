//go:build linux

package caddymodule

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// go-redis has one logger for the whole process. Loading authedge must not
// replace it: another plugin's client in the same binary keeps logging as
// go-redis does, to stderr. (authedge used to install its own from init().)
func TestGoRedisLoggerIsLeftAlone(t *testing.T) {
	// go-redis's default logger writes to file descriptor 2, which it took
	// at start: read what reaches it through a pipe put in its place.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(w.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			_ = syscall.Dup3(saved, 2, 0)
			_ = syscall.Close(saved)
			_ = w.Close()
		}
	}
	defer restore()

	// Another plugin's client, dialing a port nobody listens on.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialerRetries: 1, MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err == nil {
		t.Fatal("ping of 127.0.0.1:1 succeeded")
	}
	_ = client.Close()
	restore()

	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "failed to dial") {
		t.Errorf("go-redis's failed dial did not reach stderr: its process-wide logger was replaced; stderr had:\n%s", out)
	}
}
