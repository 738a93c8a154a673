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
func (s *Set) EventLag(age time.Duration) {
	if s == nil {
		return
	}
	s.eventLag.Set(max(age, 0).Seconds())
}
