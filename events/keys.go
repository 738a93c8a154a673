package events

// Keys names the Redis keys of one environment's events. They live here,
// not in store/keys.go, because only this package reads them: the stream
// is written by the store's scripts (store/keys.go documents it as theirs),
// and the dead-letter list and the delivery queues are the webhook
// worker's own bookkeeping. Every key carries the environment's hash tag,
// so that each script below touches one Redis Cluster slot:
//
//	<prefix>:{<env>}:events           stream  the events (written by the store's scripts)
//	<prefix>:{<env>}:events:dead      list    events whose delivery gave up, as delivered (JSON with its id)
//	<prefix>:{<env>}:events:inflight  hash    per-user delivery order of events read by the group, not yet acknowledged:
//	                                          u:<user> → their stream IDs, oldest first, space-separated;
//	                                          i:<id>   → the user of one such event;
//	                                          h:<id>   → a lease (Unix ms) on one such event trimmed from the stream while held
//
// The inflight hash holds only what is being delivered: a field is
// removed when its last event is acknowledged or dead-lettered, so it
// stays small (bounded by what the instances hold at once).
type Keys struct {
	Stream   string
	Dead     string
	InFlight string
}

// NewKeys returns the keys of environment env under prefix.
func NewKeys(prefix, env string) Keys {
	stream := prefix + ":{" + env + "}:events"
	return Keys{Stream: stream, Dead: stream + ":dead", InFlight: stream + ":inflight"}
}

// Group is the consumer group every instance joins. It is one name, not
// one per URL, so that a reload that changes the webhook URL carries on
// where the old one stopped, and so that the dead letters have one owner.
const Group = "authedge-webhook"
