package token

import "errors"

// Kind sorts why a token was refused into a small fixed set, for metrics
// (docs/metrics.md): the descriptions are for people and may change.
type Kind uint8

// The kinds of refusal.
const (
	// KindOther is every refusal not sorted below: wrong issuer or
	// audience, not yet valid, issued or signed-in in the future, an
	// algorithm not accepted, a typ or crit header refused, and any error
	// that is not a *Error.
	KindOther Kind = iota
	// KindMalformed: not a compact JWS, a header or claims that are not a
	// JSON object, a claim of the wrong type or given twice, or a required
	// claim (exp, sub, aud) missing.
	KindMalformed
	// KindExpired: past exp, leeway included.
	KindExpired
	// KindBadSignature: a configured key fitted, and the signature did not
	// verify with any that did.
	KindBadSignature
	// KindUnknownKey: no configured key has the token's kid, or none fits
	// its algorithm.
	KindUnknownKey
	// KindKeysUnavailable: no configured key has the token's kid, and the
	// remote JWKS, which may have it by now, could not be fetched: the
	// token may be good, so it is refused as a fault on this side (503),
	// not as the caller's (401), which would sign the caller out.
	KindKeysUnavailable
)

// KindOf sorts a Verify error. Every *Error Verify returns is one of the
// package's fixed values, so this is a comparison, not a parse.
func KindOf(err error) Kind {
	var e *Error
	if !errors.As(err, &e) {
		return KindOther
	}
	switch e {
	case errExpired:
		return KindExpired
	case errSignature:
		return KindBadSignature
	case errUnknownKey, errNoKey:
		return KindUnknownKey
	case errKeysUnavailable:
		return KindKeysUnavailable
	case errNoToken, errTooLarge, errMalformed, errBadHeader, errBadClaims, errNoExp, errNoSub, errNoAud:
		return KindMalformed
	}
	for _, c := range errClaim {
		if e == c {
			return KindMalformed
		}
	}
	return KindOther
}
