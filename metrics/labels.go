package metrics

// statusLabels are the HTTP statuses authedge's endpoints answer with
// (docs/api.md's error catalog, and 499 for a client that hung up), then
// "other" for anything else.
var statusLabels = [...]string{
	"200", "400", "401", "403", "404", "405", "409", "413", "415", "429", "499", "500", "501", "503", "other",
}

// statusIndex is the index in statusLabels of status's label.
func statusIndex(status int) int {
	switch status {
	case 200:
		return 0
	case 400:
		return 1
	case 401:
		return 2
	case 403:
		return 3
	case 404:
		return 4
	case 405:
		return 5
	case 409:
		return 6
	case 413:
		return 7
	case 415:
		return 8
	case 429:
		return 9
	case 499:
		return 10
	case 500:
		return 11
	case 501:
		return 12
	case 503:
		return 13
	}
	return len(statusLabels) - 1
}

// StatusLabel is the code label a request answered with status counts
// under.
func StatusLabel(status int) string { return statusLabels[statusIndex(status)] }

// TokenOutcome is how an access token check ended.
type TokenOutcome uint8

// The token check outcomes. A check is one bearer token presented to an
// endpoint or to the identity edge; a request without one is not counted.
const (
	// TokenValid: accepted.
	TokenValid TokenOutcome = iota
	// TokenExpired: past its exp (leeway included).
	TokenExpired
	// TokenBadSignature: a key fitted, the signature did not verify.
	TokenBadSignature
	// TokenUnknownKey: no configured key has its kid, or none fits its
	// algorithm.
	TokenUnknownKey
	// TokenRevoked: verified, then found revoked.
	TokenRevoked
	// TokenMalformed: not a compact JWS, a header or payload that is not
	// JSON, or a claim of the wrong type.
	TokenMalformed
	// TokenOther: any other refusal (issuer, audience, not yet valid,
	// algorithm not accepted, typ, crit, an unusable sub, another
	// device's token).
	TokenOther
	numTokenOutcomes
)

var tokenOutcomeNames = [numTokenOutcomes]string{
	"valid", "expired", "bad_signature", "unknown_key", "revoked", "malformed", "other",
}

// String is the outcome's label value.
func (o TokenOutcome) String() string {
	if o >= numTokenOutcomes {
		return "invalid"
	}
	return tokenOutcomeNames[o]
}

// Channel is where a verification code goes.
type Channel uint8

// The code channels, as the webhook message names them.
const (
	ChannelSMS Channel = iota
	ChannelEmail
	numChannels
)

// String is the channel's label value.
func (c Channel) String() string {
	switch c {
	case ChannelSMS:
		return "sms"
	case ChannelEmail:
		return "email"
	}
	return "invalid"
}

// ChannelOf maps the webhook message's channel name ("sms" or "email") to
// a Channel; ok is false for any other name.
func ChannelOf(name string) (c Channel, ok bool) {
	switch name {
	case "sms":
		return ChannelSMS, true
	case "email":
		return ChannelEmail, true
	}
	return 0, false
}

// SendOutcome is how a verification code send ended.
type SendOutcome uint8

// The send outcomes.
const (
	// SendDelivered: the sender took the code.
	SendDelivered SendOutcome = iota
	// SendFailed: the code certainly did not go out.
	SendFailed
	// SendUnknown: the request went out and no answer came back.
	SendUnknown
	// SendRateLimited: refused by a send limit before any delivery.
	SendRateLimited
	numSendOutcomes
)

var sendOutcomeNames = [numSendOutcomes]string{"delivered", "failed", "unknown", "rate_limited"}

// String is the outcome's label value.
func (o SendOutcome) String() string {
	if o >= numSendOutcomes {
		return "invalid"
	}
	return sendOutcomeNames[o]
}

// Refusal is why an edit (basic/edit, user/contact) was refused.
type Refusal uint8

// The refusal reasons. Invalid input, a bad token or a server failure is
// not an edit refused by a rule and is not counted here.
const (
	// RefusedConflict: the username, phone or email belongs to another
	// user.
	RefusedConflict Refusal = iota
	// RefusedRateLimit: the edit rate limit.
	RefusedRateLimit
	// RefusedVerification: a verification token was needed and missing,
	// or is not valid for this change.
	RefusedVerification
	// RefusedSudo: secondary verification (sudo) was needed.
	RefusedSudo
	numRefusals
)

var refusalNames = [numRefusals]string{"conflict", "rate_limit", "verification", "sudo"}

// String is the reason's label value.
func (r Refusal) String() string {
	if r >= numRefusals {
		return "invalid"
	}
	return refusalNames[r]
}

// EventOutcome is one step of a change event's webhook delivery.
type EventOutcome uint8

// The event delivery outcomes. An event is delivered once or dead-lettered
// once; failed counts every failed attempt before either.
const (
	// EventDelivered: the receiver answered 2xx.
	EventDelivered EventOutcome = iota
	// EventFailed: one attempt failed; the event will be tried again.
	EventFailed
	// EventDeadLettered: retries ran out (retry_for), or the event could
	// not be read; it went to the dead-letter list.
	EventDeadLettered
	numEventOutcomes
)

var eventOutcomeNames = [numEventOutcomes]string{"delivered", "failed", "dead_lettered"}

// String is the outcome's label value.
func (o EventOutcome) String() string {
	if o >= numEventOutcomes {
		return "invalid"
	}
	return eventOutcomeNames[o]
}

// redisCommand indexes redisCommandNames.
type redisCommand uint8

// redisCommandNames are the Redis commands counted under their own name:
// those authedge's store and events worker send. Any other is "other"
// (a command literally named "other" would join it, which is harmless).
var redisCommandNames = [...]string{
	"evalsha", "eval", "get", "mget", "hget", "hgetall", "ping", "scan",
	// WAIT follows each write with redis wait; TIME is the events
	// worker's clock.
	"wait", "time",
	"xadd", "xread", "xreadgroup", "xautoclaim", "xack", "xpending", "xrange", "xdel", "xgroup",
	"publish",
	// Sent by go-redis on each new connection.
	"hello",
	"other",
}

const (
	numRedisCommands = redisCommand(len(redisCommandNames))
	redisOther       = numRedisCommands - 1
)

var redisCommandIndex = func() map[string]redisCommand {
	m := make(map[string]redisCommand, len(redisCommandNames))
	for i, name := range redisCommandNames {
		m[name] = redisCommand(i)
	}
	return m
}()

// redisCommandOf maps a command name as go-redis gives it (lower case) to
// its label.
func redisCommandOf(name string) redisCommand {
	if c, ok := redisCommandIndex[name]; ok {
		return c
	}
	return redisOther
}

// RedisCommandLabel is the command label a Redis command named name is
// counted under.
func RedisCommandLabel(name string) string { return redisCommandNames[redisCommandOf(name)] }
