// Package notify delivers verification codes: a webhook sender that POSTs
// signed JSON, and a development sender that writes codes to the log.
package notify

import (
	"context"
	"errors"
)

// Message is one code to deliver. Its JSON form is the webhook body.
type Message struct {
	VerificationID string `json:"verification_id"`
	// Channel is "sms" or "email".
	Channel string `json:"channel"`
	// To is the contact in its stored display form.
	To   string `json:"to"`
	Code string `json:"code"`
	// Usage is the client's usage string, or "".
	Usage string `json:"usage"`
	// ExpiresIn is the code's lifetime in seconds.
	ExpiresIn int `json:"expires_in"`
}

// Sender delivers a code. An error means the delivery failed; unless it
// is a *DeliveryError with Outcome Unknown (see MaybeDelivered), the code
// certainly did not reach its recipient.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Outcome is what a failed delivery leaves known.
type Outcome int

const (
	// Failed: the receiver certainly did not take the message (it could
	// not be reached, or it answered something other than 2xx).
	Failed Outcome = iota + 1
	// Unknown: the request went out whole and no answer came back (a
	// timeout, a reset connection): the receiver may have sent the code.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Failed:
		return "failed"
	case Unknown:
		return "unknown"
	}
	return "invalid"
}

// DeliveryError is a failed delivery and what is known of its outcome.
type DeliveryError struct {
	Outcome Outcome
	Err     error
}

func (e *DeliveryError) Error() string { return e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }

// MaybeDelivered reports whether a Send error leaves open that the
// recipient got the code: a *DeliveryError with Outcome Unknown. Any other
// error is a definite failure.
func MaybeDelivered(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Outcome == Unknown
}
