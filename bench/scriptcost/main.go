// Command scriptcost drives edits through the module's own store code
// (store.Edit, as basic/edit calls it in bench/run.sh's scenario 3: a new
// user's first edit of nickname and username, a rate limit, the
// request's origin), so that bench/scriptcost.sh can count what each edit
// costs redis-server in instructions under callgrind. Instructions, not
// time: on a shared machine a script's µs move by half between runs, its
// instruction count by a few hundred (docs/DECISIONS.md, "Counted in
// instructions, not time").
//
//	scriptcost -addr 127.0.0.1:6379 -record history -start 0 -n 2000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authedge/caddy-authedge/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "scriptcost:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis address")
	record := flag.String("record", "history", "what each edit records: none, history or events (history and a change event)")
	start := flag.Int("start", 0, "index of the first user: each edit is a new user's first")
	n := flag.Int("n", 2000, "edits")
	workers := flag.Int("concurrency", 16, "concurrent edits (the store pipelines them)")
	flag.Parse()

	var origin *store.Origin
	var events store.EventStream
	switch *record {
	case "none":
	case "history":
		origin = benchOrigin()
	case "events":
		origin = benchOrigin()
		events = store.EventStream{MaxLen: 1000000}
	default:
		return fmt.Errorf("-record %q: want none, history or events", *record)
	}
	if *n <= 0 || *workers <= 0 {
		return errors.New("need -n > 0 and -concurrency > 0")
	}

	st, err := store.New(store.Options{
		Addresses:     []string{*addr},
		Prefix:        "authedge",
		EnvironmentID: "bench-env",
		// Redis under callgrind runs some fifty times slower.
		Timeout: time.Minute,
	})
	if err != nil {
		return err
	}
	defer st.Close()

	ctx := context.Background()
	var next atomic.Int64
	next.Store(int64(*start))
	end := int64(*start + *n)
	var wg sync.WaitGroup
	errs := make(chan error, *workers)
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= end {
					return
				}
				user := fmt.Sprintf("bench-user-%09d", i)
				nickname, username := "Bench User "+user[11:], fmt.Sprintf("bench_%09d", i)
				res, err := st.Edit(ctx, store.Edit{
					Actor: user, Target: user, CreateIfMissing: true,
					RateLimit: store.Limit{Count: 100000000, Window: time.Minute},
					Changes:   store.Changes{Nickname: &nickname, Username: &username},
					Origin:    origin, Events: events,
				})
				if err == nil && !res.Created {
					err = errors.New("the user already had a profile: use a fresh Redis or another -start")
				}
				if err != nil {
					errs <- fmt.Errorf("edit %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// benchOrigin is what the handler records of one of bench/run.sh's wrk
// requests: its client ID, no device, the loopback address, no user
// agent.
func benchOrigin() *store.Origin {
	return &store.Origin{ClientID: "bench-env", IP: "127.0.0.1"}
}
