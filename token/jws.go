package token

import (
	"encoding/base64"
	"strings"
	"sync"
)

// maxTokenSize bounds the work one Authorization header can cause. Real
// access tokens are a few kilobytes at most.
const maxTokenSize = 64 << 10

// b64 is base64url without padding, strict: trailing bits must be zero, so
// a token has exactly one spelling (RFC 7515 2 and appendix C).
var b64 = base64.RawURLEncoding.Strict()

// compactJWS is a compact-serialized JWS split and decoded (RFC 7515 7.1).
type compactJWS struct {
	signingInput []byte // "header.payload", as signed
	header       []byte
	payload      []byte
	signature    []byte
	// buf holds the parts; release returns it to compactBuffers.
	buf *[]byte
}

// The parts of each new token were a fresh buffer, about the token's size
// (a kilobyte), per verification: they are decoded into reused ones.
// Nothing keeps them past the verification: the header's and the claims'
// values are copied out, and the signature checks read them only.
var compactBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledCompact bounds the buffers kept; a rare larger token's is left
// to the collector.
const maxPooledCompact = 8 << 10

// release gives tok's buffer back; tok must not be used after it.
func (tok *compactJWS) release() {
	putCompactBuffer(tok.buf)
	*tok = compactJWS{}
}

// putCompactBuffer returns bufp to compactBuffers unless it is too large
// to keep (or nil).
func putCompactBuffer(bufp *[]byte) {
	if bufp != nil && cap(*bufp) <= maxPooledCompact {
		compactBuffers.Put(bufp)
	}
}

// Failures of the token's form, shared: they carry no detail of the token.
var (
	errNoToken    = refuse("no token")
	errTooLarge   = refuse("token too large")
	errMalformed  = refuse("malformed token")
	errBadHeader  = refuse("malformed token header")
	errBadClaims  = refuse("malformed token claims")
	errCrit       = refuse("unsupported critical header parameter")
	errTyp        = refuse("not an access token (typ)")
	errAlgorithm  = refuse("algorithm not accepted")
	errUnknownKey = refuse("unknown signing key")
	errNoKey      = refuse("no key for this token's algorithm")
	errSignature  = refuse("invalid signature")

	errKeysUnavailable = refuse("the token's signing key is not among the keys known, and the key set could not be fetched to look for it")
)

// splitCompact splits and decodes raw. Only the base64url alphabet and two
// dots are allowed: the strict decoder refuses every other byte but CR and
// LF, which it skips, and a token must not have two spellings. Counting
// the dots and looking for CR and LF are three vectorized scans; a check
// of each byte cost twice as much (BenchmarkSplitCompact).
func splitCompact(raw string) (compactJWS, *Error) {
	if raw == "" {
		return compactJWS{}, errNoToken
	}
	if len(raw) > maxTokenSize {
		return compactJWS{}, errTooLarge
	}
	if strings.Count(raw, ".") != 2 || strings.IndexByte(raw, '\r') >= 0 || strings.IndexByte(raw, '\n') >= 0 {
		return compactJWS{}, errMalformed
	}
	first := strings.IndexByte(raw, '.')
	second := first + 1 + strings.IndexByte(raw[first+1:], '.')
	h, p, s := raw[:first], raw[first+1:second], raw[second+1:]
	if h == "" || p == "" || s == "" {
		return compactJWS{}, errMalformed
	}
	// One buffer for the signing input and the three decoded parts.
	size := second + b64.DecodedLen(len(h)) + b64.DecodedLen(len(p)) + b64.DecodedLen(len(s))
	bufp := compactBuffers.Get().(*[]byte)
	if cap(*bufp) < size {
		*bufp = make([]byte, size)
	}
	buf := (*bufp)[:size]
	signingInput := buf[:copy(buf, raw[:second]):second]
	buf = buf[second:]
	var parts [3][]byte
	for i, part := range [3]string{h, p, s} {
		n, err := b64.Decode(buf, []byte(part))
		if err != nil {
			putCompactBuffer(bufp)
			return compactJWS{}, errMalformed
		}
		parts[i], buf = buf[:n:n], buf[n:]
	}
	return compactJWS{
		signingInput: signingInput,
		header:       parts[0],
		payload:      parts[1],
		signature:    parts[2],
		buf:          bufp,
	}, nil
}

// joseHeader is what authedge reads of a JOSE header. Key-carrying
// parameters (jwk, jku, x5u, x5c) are deliberately ignored: keys come from
// the configuration only.
type joseHeader struct {
	alg string
	kid string
}

// parseHeader reads alg, kid, typ and crit, each at most once.
func parseHeader(data []byte) (joseHeader, *Error) {
	var h joseHeader
	var seen [4]bool
	var fail *Error
	once := func(i int) bool {
		if seen[i] {
			fail = errBadHeader
			return false
		}
		seen[i] = true
		return true
	}
	err := walkObject(data, func(name, value []byte) error {
		var ok bool
		switch {
		case nameIs(name, "alg"):
			if once(0) {
				h.alg, ok = jsonString(value)
			}
		case nameIs(name, "kid"):
			if once(1) {
				h.kid, ok = jsonString(value)
			}
		case nameIs(name, "typ"):
			if once(2) {
				var typ string
				typ, ok = jsonString(value)
				if ok && !accessTokenType(typ) {
					fail = errTyp
				}
			}
		case nameIs(name, "crit"):
			// authedge understands no extension, so any crit is one it
			// must refuse (RFC 7515 4.1.11).
			if once(3) {
				fail = errCrit
			}
		default:
			ok = true
		}
		if fail == nil && !ok {
			fail = errBadHeader
		}
		if fail != nil {
			return fail
		}
		return nil
	})
	if fail != nil {
		return joseHeader{}, fail
	}
	if err != nil || !seen[0] {
		return joseHeader{}, errBadHeader
	}
	return h, nil
}

// accessTokenType reports whether a typ header fits an access token: JWT
// (RFC 7519 5.1) or at+jwt (RFC 9068 2.1), with or without "application/".
// Other explicit types (dpop+jwt, logout+jwt, secevent+jwt...) are JWTs
// meant for something else and must not pass as access tokens (RFC 8725
// 3.11).
func accessTokenType(typ string) bool {
	t := strings.ToLower(typ)
	t = strings.TrimPrefix(t, "application/")
	return t == "jwt" || t == "at+jwt"
}
