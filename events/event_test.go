package events

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestBody(t *testing.T) {
	tests := []struct{ stored, body, id, err string }{
		{`{"type":"user.updated","user_id":"u"}`, `{"id":"1-0","type":"user.updated","user_id":"u"}`, "1-0", ""},
		{` {} `, `{"id":"1-0"}`, "1-0", ""},
		{`{ }`, `{"id":"1-0"}`, "1-0", ""},
		{`{"id":"9-9","user_id":"u"}`, `{"id":"9-9","user_id":"u"}`, "9-9", ""},
		{`{"id":""}`, "", "", "id is empty"},
		{`{"id":5}`, "", "", "id is not a string"},
		// Names are exact: encoding/json's struct decoding took "ID" for
		// the id, and the webhook-id then named no member of the body.
		{`{"ID":"9-9"}`, `{"id":"1-0","ID":"9-9"}`, "1-0", ""},
		{`{"id":"9-9","Id":"8-8"}`, `{"id":"9-9","Id":"8-8"}`, "9-9", ""},
		// A null id was read as absent, and a second id put first: a
		// receiver keeping the last one read null.
		{`{"id":null}`, "", "", "id is not a string"},
		{`{"id":"9-9","id":"8-8"}`, "", "", "id is given twice"},
		{`[1]`, "", "", "not a JSON object"},
		{``, "", "", "not a JSON object"},
		{`{"a":`, "", "", "not a JSON object"},
	}
	for _, tt := range tests {
		body, id, err := Body("1-0", tt.stored)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.stored, err, tt.err)
			}
			continue
		}
		if err != nil || string(body) != tt.body || id != tt.id {
			t.Errorf("%q: %s %q %v, want %s %q", tt.stored, body, id, err, tt.body, tt.id)
		}
	}
}

// FuzzBody: whatever is stored, Body returns valid JSON whose id is the
// webhook-id it returns, or an error.
func FuzzBody(f *testing.F) {
	f.Add(`{"type":"user.updated","user_id":"u"}`)
	f.Add(`{"id":"2-0"}`)
	f.Add(`{}`)
	f.Add(`{"id":null}`)
	f.Add(`{"Id":"2-0"}`)
	f.Add(`{"id":"2-0","id":"3-0"}`)
	f.Fuzz(func(t *testing.T, stored string) {
		body, id, err := Body("1700000000000-3", stored)
		if err != nil {
			return
		}
		// The body has exactly one member named exactly "id", the
		// webhook-id: encoding/json's struct decoding would match "ID" too.
		var ids []string
		dec := json.NewDecoder(strings.NewReader(string(body)))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("%q gave %s, not an object", stored, body)
		}
		for dec.More() {
			name, _ := dec.Token()
			var value json.RawMessage
			if err := dec.Decode(&value); err != nil {
				t.Fatalf("%q gave %s: %v", stored, body, err)
			}
			var s string
			if name == "id" {
				if json.Unmarshal(value, &s) != nil {
					t.Fatalf("%q gave %s, whose id is not a string", stored, body)
				}
				ids = append(ids, s)
			}
		}
		if !json.Valid(body) || len(ids) != 1 || ids[0] != id || id == "" {
			t.Fatalf("%q gave %s, id %q", stored, body, id)
		}
	})
}

func TestTail(t *testing.T) {
	f := newFixture(t)
	first := f.add(t, "u1", 1)
	f.client.XAdd(t.Context(), &redis.XAddArgs{Stream: f.keys.Stream, Values: []string{"event", "not json"}})
	var out syncBuffer
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- Tail(ctx, f.client, f.keys, "0", &out) }()
	third := ""
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 3 {
		if third == "" && strings.Count(out.String(), "\n") == 2 {
			third = f.add(t, "u1", 2) // followed, not only read
		}
		if time.Now().After(deadline) {
			t.Fatalf("tail printed %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], `{"id":"`+first+`","type":"user.updated"`) ||
		!strings.Contains(lines[1], `"invalid":"not json"`) ||
		!strings.HasPrefix(lines[2], `{"id":"`+third+`"`) {
		t.Errorf("tail printed:\n%s", out.String())
	}
	// --from <id> resumes after it.
	var after syncBuffer
	tctx, tcancel := contextWithTimeout(t, 300*time.Millisecond)
	defer tcancel()
	if err := Tail(tctx, f.client, f.keys, first, &after); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(after.String(), first) || !strings.Contains(after.String(), third) {
		t.Errorf("--from %s printed %q", first, after.String())
	}
	if err := Tail(tctx, f.client, f.keys, "yesterday", &after); err == nil {
		t.Error("--from yesterday accepted")
	}
}

// appendAfterIdleRead appends an event once, just after an XREAD that
// found nothing new returns: in the gap before the next XREAD.
type appendAfterIdleRead struct {
	f     *fixture
	t     *testing.T
	added chan string
	once  sync.Once
}

func (h *appendAfterIdleRead) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *appendAfterIdleRead) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *appendAfterIdleRead) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "xread" && errors.Is(err, redis.Nil) {
			h.once.Do(func() { h.added <- h.f.add(h.t, "u1", 1) })
		}
		return err
	}
}

// TestTailFromNowMissesNothing: without --from, tail follows from the
// stream's end as it was when it started; an event appended between two
// of its blocking reads is printed too, not skipped by a read that asks
// for "$" (only what comes after the moment it is sent) again.
func TestTailFromNowMissesNothing(t *testing.T) {
	f := newFixture(t)
	f.add(t, "u0", 1) // history: not printed
	h := &appendAfterIdleRead{f: f, t: t, added: make(chan string, 1)}
	srv := f.client.(*redis.Client).Options().Addr
	tailClient := redis.NewClient(&redis.Options{Addr: srv, Protocol: 2})
	defer tailClient.Close()
	tailClient.AddHook(h)
	var out syncBuffer
	// Generous: it only bounds a failure; the test ends once the event is
	// printed, after two or three blocking reads.
	ctx, cancel := contextWithTimeout(t, 10*time.Second+3*blockFor)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Tail(ctx, tailClient, f.keys, "", &out) }()
	id := <-h.added
	for !strings.Contains(out.String(), id) {
		select {
		case err := <-done:
			t.Fatalf("tail ended (%v) without printing %s, appended between two reads; printed %q", err, id, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("tail printed %q, want only the new event", out.String())
	}
}

// TestTailResumesAfterARedeliveredEvent: a redelivered dead letter keeps
// its first id, older than its place in the stream. Its line printed only
// that id, so resuming with --from the last ID printed (as the docs say)
// went back to before it and printed the events after it again. Its line
// says where it is in the stream: resuming from there prints nothing
// twice.
func TestTailResumesAfterARedeliveredEvent(t *testing.T) {
	f := newFixture(t)
	f.add(t, "u1", 1)
	f.add(t, "u1", 2)
	f.client.RPush(t.Context(), f.keys.Dead, `{"id":"1-0","type":"user.updated","user_id":"u0","changes":{}}`)
	if n, err := Redeliver(t.Context(), f.client, f.keys, 1000); err != nil || n != 1 {
		t.Fatalf("Redeliver: %d, %v", n, err)
	}
	tail := func(from string) []string {
		t.Helper()
		var out syncBuffer
		ctx, cancel := contextWithTimeout(t, 300*time.Millisecond)
		defer cancel()
		if err := Tail(ctx, f.client, f.keys, from, &out); err != nil {
			t.Fatal(err)
		}
		return strings.Fields(out.String())
	}
	lines := tail("0")
	if len(lines) != 3 {
		t.Fatalf("tail --from 0 printed %q", lines)
	}
	var last struct {
		ID       string `json:"id"`
		StreamID string `json:"stream_id"`
	}
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil || last.ID != "1-0" {
		t.Fatalf("the redelivered event printed as %s (%v), want its first id 1-0", lines[2], err)
	}
	resume := last.ID
	if last.StreamID != "" {
		resume = last.StreamID
	}
	if again := tail(resume); len(again) != 0 {
		t.Errorf("resuming after the last line printed, from %s, printed again:\n%s", resume, strings.Join(again, "\n"))
	}
}

// TestTailInvalidLineIsJSON: an entry that is not a valid event prints
// as {"id":…,"invalid":<its text>}, quoted with Go's %q, whose escapes
// (\x01, \a, \v, \xff) are not JSON's: the line broke a JSON-lines reader.
func TestTailInvalidLineIsJSON(t *testing.T) {
	f := newFixture(t)
	stored := "not json \x01\a\v\xff \u2028 <b>"
	id, err := f.client.XAdd(t.Context(), &redis.XAddArgs{Stream: f.keys.Stream, Values: []string{"event", stored}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	ctx, cancel := contextWithTimeout(t, 300*time.Millisecond)
	defer cancel()
	if err := Tail(ctx, f.client, f.keys, "0", &out); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(out.String(), "\n")
	var got struct{ ID, Invalid string }
	if err := json.Unmarshal([]byte(line), &got); err != nil || got.ID != id || !strings.HasPrefix(got.Invalid, "not json \x01\a\v") {
		t.Fatalf("tail printed %s (%v), want a JSON line with id %s and the text", line, err, id)
	}
}
