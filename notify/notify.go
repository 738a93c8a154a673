// Package notify delivers verification codes: a webhook sender that POSTs
// signed JSON, and a development sender that writes codes to the log.
package notify

import "context"

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

// Sender delivers a code. An error means the code did not reach its
// recipient; the caller then forgets the code.
type Sender interface {
	Send(ctx context.Context, m Message) error
}
