package events

import "go.uber.org/zap"

// claimBatch is how many events one XAUTOCLAIM step moves at most.
const claimBatch = 100

// claimLoop, every ClaimIdle/3, first marks this instance's held events
// as alive, then takes over the events that other instances left idle for
// ClaimIdle: theirs died, or lost Redis for that long. Then it removes
// the consumers left empty for forgetAfter ClaimIdles.
func (w *Worker) claimLoop() {
	defer w.wg.Done()
	select {
	case <-w.ctx.Done():
		return
	case <-w.ready:
	}
	for w.sleep(w.o.ClaimIdle / 3) {
		w.touch()
		w.claim()
		w.forgetConsumers()
	}
}

// forgetAfter is how many ClaimIdles a consumer holding nothing may go
// without reading before it is removed from the group. A live instance
// reads at least every blockFor, or holds events; each instance that
// died names a consumer of its own (host, process, random part), and
// without this the group would list them all for good.
const forgetAfter = 10

// forgetConsumers removes the consumers of dead instances once they hold
// nothing (claim took their events over).
func (w *Worker) forgetConsumers() {
	n, err := forgetConsumersScript.Run(w.ctx, w.o.Client, []string{w.o.Keys.Stream},
		Group, w.o.Consumer, (forgetAfter * w.o.ClaimIdle).Milliseconds()).Int()
	if err != nil {
		w.redisTrouble(err)
		return
	}
	if n > 0 {
		w.logger.Info("events: removed consumers of instances gone from the group", zap.Int("count", n))
	}
}

// touch resets the idle time of the events this instance holds, and
// renews its lease on those trimmed from the stream (touchScript).
func (w *Worker) touch() {
	w.mu.Lock()
	ids := make([]any, 0, len(w.held))
	for id := range w.held {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	// A lease lasts one ClaimIdle, renewed every third of one.
	lease := w.o.ClaimIdle.Milliseconds()
	keys := []string{w.o.Keys.Stream, w.o.Keys.InFlight}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		batch := append([]any{Group, w.o.Consumer, lease}, ids[:n]...)
		ids = ids[n:]
		if err := touchScript.Run(w.ctx, w.o.Client, keys, batch...).Err(); err != nil {
			w.redisTrouble(err)
			return
		}
	}
}

// claim takes over the events idle for ClaimIdle, however many this
// instance holds: MaxHeld bounds what it reads, not what it rescues. A
// full instance's events may all wait behind heads that a dead one holds
// (the group hands a user's events to whoever reads next), and if it took
// none of them over, those users' delivery would stall for good.
func (w *Worker) claim() {
	k := w.o.Keys
	cursor := "0-0"
	for w.ctx.Err() == nil {
		reply, err := claimScript.Run(w.ctx, w.o.Client, []string{k.Stream, k.InFlight},
			Group, w.o.Consumer, w.o.ClaimIdle.Milliseconds(), cursor, claimBatch).Slice()
		if err != nil {
			w.redisTrouble(err)
			return
		}
		if len(reply) != 3 {
			return
		}
		cursor, _ = reply[0].(string)
		list, _ := reply[1].([]any)
		for _, item := range list {
			f, _ := item.([]any)
			if len(f) != 3 {
				continue
			}
			id, _ := f[0].(string)
			stored, _ := f[1].(string)
			user, _ := f[2].(string)
			w.add(id, stored, user, false)
		}
		if len(list) > 0 {
			w.logger.Info("events: took over events another instance left", zap.Int("count", len(list)))
		}
		// An instance died holding these, and the stream was trimmed past
		// them before anyone took them over: nobody has their bodies any
		// more, so they can be neither delivered nor dead-lettered. Say
		// which, so that the loss is not silent.
		if trimmed, _ := reply[2].([]any); len(trimmed) > 0 {
			ids := make([]string, 0, len(trimmed))
			for _, id := range trimmed {
				s, _ := id.(string)
				ids = append(ids, s)
			}
			w.logger.Warn("events: events trimmed from the stream before their delivery; lost (raise stream_max_len)",
				zap.Strings("event_ids", ids))
		}
		if cursor == "0-0" || cursor == "" {
			return
		}
	}
}
