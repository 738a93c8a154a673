package metrics

import "time"

// EventObserver is what the change events worker reports (docs/metrics.md).
// *Set implements it, and a nil *Set is a valid one that records nothing,
// so the worker can take an EventObserver in its options and call it
// without checking.
//
// Where the worker calls it:
//   - EventDelivery(EventDelivered) when a POST is answered 2xx;
//   - EventDelivery(EventFailed) for each failed attempt that will be
//     retried;
//   - EventDelivery(EventDeadLettered) when an event goes to the
//     dead-letter list (retry_for ran out, or it could not be read);
//   - EventLag(age) every 5 s with the age of the oldest event handed out
//     and not yet acknowledged (the time in its stream ID against now;
//     zero when none is pending), and zero when the worker stops. The
//     gauge shows the last report, so one instance that is behind shows
//     it until the next report.
type EventObserver interface {
	EventDelivery(o EventOutcome)
	EventLag(age time.Duration)
}

var _ EventObserver = (*Set)(nil)

// EventDelivery counts one step of a change event's delivery (see
// EventOutcome).
func (s *Set) EventDelivery(o EventOutcome) {
	if s == nil || o >= numEventOutcomes {
		return
	}
	s.delivered[o].Inc()
}

// EventLag reports the age of the oldest change event not yet delivered
// (zero when none is pending); a negative age (clocks apart) counts as 0.
// It is one reporter of those EventLagOf makes.
func (s *Set) EventLag(age time.Duration) {
	if s == nil {
		return
	}
	s.setLag(&s.lagOwn, age)
}

// EventLagOf returns a reporter of its own for one events worker (one
// environment's webhook): the gauge shows the largest lag reported by the
// process's workers, each by its last report, so that with several
// environments it says whether any is behind rather than flip between
// them. A report of 0 (caught up, or the worker stopped) takes that
// worker's away. Nil Set: a reporter that records nothing.
func (s *Set) EventLagOf() func(time.Duration) {
	if s == nil {
		return func(time.Duration) {}
	}
	src := new(int)
	return func(age time.Duration) { s.setLag(src, age) }
}

func (s *Set) setLag(src *int, age time.Duration) {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	if age > 0 {
		s.lags[src] = age
	} else {
		delete(s.lags, src)
	}
	var largest time.Duration
	for _, a := range s.lags {
		largest = max(largest, a)
	}
	s.eventLag.Set(largest.Seconds())
}
