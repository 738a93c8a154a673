package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tail writes the stream's events to out as JSON lines (Body: each with
// its id), those after from ("0" for all, "$" for only new ones), and
// follows the stream until ctx ends. An entry that is not a valid event is
// written as {"id":…,"invalid":<its text as a string>} rather than
// skipped, so a reader sees every ID. A redelivered event keeps its first
// id (Redeliver), older than its entry's: its line adds "stream_id", the
// entry's, so that from resumes after it.
func Tail(ctx context.Context, client redis.UniversalClient, keys Keys, from string, out io.Writer) error {
	if from == "" {
		from = "$"
	}
	if from != "$" {
		if _, ok := parseStreamID(from); !ok && from != "0" {
			return fmt.Errorf("events: --from %q is not a stream ID (such as 1700000000000-0), 0 or $", from)
		}
	}
	last := from
	if last == "$" {
		// "$" means what comes after the moment each read is sent: asked
		// again after a wait that found nothing, it would skip whatever was
		// appended between two reads. Pin it to the stream's end as it is
		// now, once.
		end, err := client.XRevRangeN(ctx, keys.Stream, "+", "-", 1).Result()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		case len(end) == 1:
			last = end[0].ID
		default:
			last = "0-0" // no stream, or an empty one: everything to come is new
		}
	}
	// Blocking a while at a time, not for ever: ctx is checked between
	// waits whatever the client's context settings.
	for {
		streams, err := client.XRead(ctx, &redis.XReadArgs{Streams: []string{keys.Stream, last}, Count: 500, Block: blockFor}).Result()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return err
		}
		for _, s := range streams {
			for _, m := range s.Messages {
				last = m.ID
				stored, _ := m.Values["event"].(string)
				body, id, err := Body(m.ID, stored)
				switch {
				case err != nil:
					// JSON's quoting, not Go's %q: its \x and \a escapes
					// are not JSON.
					body, _ = json.Marshal(struct {
						ID      string `json:"id"`
						Invalid string `json:"invalid"`
					}{m.ID, stored})
				case id != m.ID:
					// A redelivered dead letter: its id is the first one,
					// from before the entries printed ahead of it. Say
					// where it is, which is what --from resumes after.
					body = append(fmt.Appendf(body[:len(body)-1:len(body)-1], `,"stream_id":%q`, m.ID), '}')
				}
				if _, err := out.Write(append(body, '\n')); err != nil {
					return err
				}
			}
		}
	}
}

// Redeliver moves the dead letters back to the stream, oldest first, as
// new entries that keep their first id (and so their webhook-id); the
// stream is trimmed to about maxLen. It moves no more than the trim can
// take from entries the group is done with (redeliverScript): more would
// trim events not delivered yet, the backlog or the ones it moved, after
// they left the list. The rest stay dead letters, for another run once
// these are delivered. It returns how many moved. Events appended while
// it runs keep their place: a dead letter comes after them.
func Redeliver(ctx context.Context, client redis.UniversalClient, keys Keys, maxLen int64) (int, error) {
	if maxLen < 1 {
		return 0, errors.New("events: the stream's length must be at least 1")
	}
	// Without the group, the events moved would come before it: a worker
	// creates a missing group from the time it starts, which may be after
	// them. Created first, at the stream's end, it hands them out.
	err := client.XGroupCreateMkStream(ctx, keys.Stream, Group, "$").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return 0, err
	}
	total := 0
	for int64(total) < maxLen {
		step := min(500, maxLen-int64(total))
		n, err := redeliverScript.Run(ctx, client, []string{keys.Stream, keys.InFlight, keys.Dead}, maxLen, step, Group).Int()
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

// DeadLetters returns how many events wait in the dead-letter list.
func DeadLetters(ctx context.Context, client redis.UniversalClient, keys Keys) (int64, error) {
	return client.LLen(ctx, keys.Dead).Result()
}

// Lag is the age of the oldest event the group has handed out and not yet
// acknowledged, read from its stream ID's time: how far the webhook is
// behind (for metrics). 0 when nothing is pending; events not yet read by
// any instance are not counted.
func Lag(ctx context.Context, client redis.UniversalClient, keys Keys, now time.Time) (time.Duration, error) {
	p, err := client.XPending(ctx, keys.Stream, Group).Result()
	if err != nil {
		if strings.HasPrefix(err.Error(), "NOGROUP") {
			return 0, nil
		}
		return 0, err
	}
	id, ok := parseStreamID(p.Lower)
	if p.Count == 0 || !ok {
		return 0, nil
	}
	return max(now.Sub(time.UnixMilli(int64(id.ms))), 0), nil
}
