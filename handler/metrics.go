package handler

import (
	"errors"
	"net/http"
	"strings"

	"github.com/authedge/caddy-authedge/metrics"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

// editEndpoints are the endpoints whose refusals by a rule count as edits
// refused (docs/metrics.md): every endpoint that runs the edit script and
// spends the edit limit.
var editEndpoints = map[string]bool{"user.basic.edit": true, "user.contact": true, "user.profile": true}

// apiMetrics is what the API reports to its metrics, resolved in New: the
// per-request cost is a nil check and an atomic add.
type apiMetrics struct {
	set *metrics.Set // nil: metrics off
	// endpoints holds each endpoint's request counters.
	endpoints map[*endpoint]*metrics.Endpoint
}

func newAPIMetrics(set *metrics.Set) apiMetrics {
	o := apiMetrics{set: set}
	if set == nil {
		return o
	}
	o.endpoints = make(map[*endpoint]*metrics.Endpoint, len(endpoints))
	for _, ep := range endpoints {
		o.endpoints[ep] = set.Endpoint(ep.name)
	}
	return o
}

// answered counts a request to ep and its answer: 200, or err's status.
// Every endpoint answers a success with 200.
func (o *apiMetrics) answered(ep *endpoint, err *apiError) {
	if o.set == nil {
		return
	}
	status := http.StatusOK
	if err != nil {
		status = err.status
		if editEndpoints[ep.name] {
			if r, ok := refusalOf(err); ok {
				o.set.EditRefused(r)
			}
		}
	}
	o.endpoints[ep].Answered(status)
}

// refusalOf says which rule refused an edit, from the catalog code of its
// answer; ok is false for an answer that is not a rule's refusal (bad
// input, bad token, a server failure).
func refusalOf(err *apiError) (metrics.Refusal, bool) {
	switch {
	case err.status == http.StatusConflict && strings.HasSuffix(err.code, "_already_exists"):
		return metrics.RefusedConflict, true
	case err.status == http.StatusTooManyRequests:
		return metrics.RefusedRateLimit, true
	case err.code == errVerificationRequired.code, err.code == errInvalidVerificationToken.code:
		return metrics.RefusedVerification, true
	case err.code == errSudoRequired.code:
		return metrics.RefusedSudo, true
	}
	return 0, false
}

// tokenChecked counts a bearer token's check: err is Verify's error, nil
// if it accepted the token.
func (o *apiMetrics) tokenChecked(err error) {
	if o.set == nil {
		return
	}
	o.set.TokenChecked(tokenOutcome(err))
}

// tokenRefused counts a token Verify accepted and authenticate refused
// (an unusable sub, another device's token).
func (o *apiMetrics) tokenRefused(outcome metrics.TokenOutcome) {
	o.set.TokenChecked(outcome) // nil-safe
}

// tokenOutcome maps Verify's result to the metric's outcome.
func tokenOutcome(err error) metrics.TokenOutcome {
	if err == nil {
		return metrics.TokenValid
	}
	switch token.KindOf(err) {
	case token.KindExpired:
		return metrics.TokenExpired
	case token.KindBadSignature:
		return metrics.TokenBadSignature
	case token.KindUnknownKey, token.KindKeysUnavailable:
		return metrics.TokenUnknownKey
	case token.KindMalformed:
		return metrics.TokenMalformed
	}
	return metrics.TokenOther
}

// codeSent counts a code send on channel (the message's "sms" or
// "email").
func (o *apiMetrics) codeSent(channel string, outcome metrics.SendOutcome) {
	if o.set == nil {
		return
	}
	if ch, ok := metrics.ChannelOf(channel); ok {
		o.set.CodeSent(ch, outcome)
	}
}

// sendRefused counts a send the store refused by a limit.
func (o *apiMetrics) sendRefused(channel string, err error) {
	var limited *store.RateLimitedError
	if errors.As(err, &limited) {
		o.codeSent(channel, metrics.SendRateLimited)
	}
}
