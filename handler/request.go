package handler

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/authedge/caddy-authedge/metrics"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

// maxBodyBytes bounds every request body (docs/api.md#request-bodies).
const maxBodyBytes = 64 << 10

// call is one intercepted request as it moves through the checks of
// docs/api.md#order-of-checks: each step fills in what the next one needs.
type call struct {
	r        *http.Request
	endpoint string // the endpoint's name, for logs
	body     []byte
	clientID string
	deviceID string
	claims   *token.Claims // nil on the endpoints that need no token
	// token is the verified access token as presented (signout revokes it).
	token string
	// bodyBuffer holds body; ServeHTTP returns it to buffers.
	bodyBuffer *[]byte
	// origin is the request's, for the history and change events: here
	// rather than allocated apart.
	origin store.Origin
}

// readBody applies step 1's content-type and size rules. The body is read
// into buf, a buffer from buffers that the caller returns once the
// request is answered: nothing decoded from a body aliases it
// (encoding/json copies strings and raw messages).
func readBody(r *http.Request, buf *[]byte) ([]byte, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !plainContentType(ct) {
		mediaType, params, err := mime.ParseMediaType(ct)
		if err != nil || (mediaType != "application/json" && mediaType != "text/plain") {
			return nil, errUnsupportedMediaType
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, errUnsupportedCharset
		}
	}
	// A coded body (gzip, br, ...) is not the JSON it decodes to, and one
	// that only claims a coding must not be read as if it had none.
	for _, coding := range r.Header.Values("Content-Encoding") {
		if coding = strings.TrimSpace(coding); coding != "" && !strings.EqualFold(coding, "identity") {
			return nil, errContentEncoding
		}
	}
	if r.ContentLength > maxBodyBytes {
		return nil, errTooLarge
	}
	// Read one byte past the limit so a chunked body that is too large is
	// told apart from one that is exactly at it.
	body := (*buf)[:0]
	defer func() { *buf = body }()
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)]
		}
		n, err := r.Body.Read(body[len(body):min(cap(body), maxBodyBytes+1)])
		body = body[:len(body)+n]
		if len(body) > maxBodyBytes { // the byte past the limit, with EOF or not
			return nil, errTooLarge
		}
		if err == io.EOF {
			return body, nil
		}
		if err != nil {
			// A handler before this one may bound bodies more tightly
			// (Caddy's request_body max_size): its limit is the one met.
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return nil, newError(http.StatusRequestEntityTooLarge, "request_too_large",
					"the request body exceeds this server's limit of "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes")
			}
			return nil, invalidArgument("the request body could not be read")
		}
	}
}

// plainContentType reports whether ct is one of the forms clients send,
// accepted as mime.ParseMediaType would accept it, without its
// allocations (a map of parameters and a lowercased copy of the type):
// application/json or text/plain, alone or with charset=utf-8, in any
// case. Anything else goes through mime.ParseMediaType.
func plainContentType(ct string) bool {
	mediaType, params, hasParams := strings.Cut(ct, ";")
	mediaType = strings.TrimRight(mediaType, " ")
	if !strings.EqualFold(mediaType, "application/json") && !strings.EqualFold(mediaType, "text/plain") {
		return false
	}
	params = strings.Trim(params, " ")
	return !hasParams || strings.EqualFold(params, "charset=utf-8")
}

// Request bodies are read, and response bodies built, in reused buffers:
// a fresh one for every edit was two allocations (the buffer and its
// reader), and a profile's answer one, garbage the collector paid for
// under load. Write copies what it is given (io.Writer's contract), so a
// response's buffer is free again once written.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledBuffer bounds the buffers kept: a rare large body is left to
// the collector rather than held by the pool.
const maxPooledBuffer = 8 << 10

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	buffers.Put(b)
}

// clientID resolves step 2's client_id: absent or empty means the
// environment itself.
func (a *API) clientID(r *http.Request) (string, *apiError) {
	if r.URL.RawQuery == "" {
		return a.cfg.EnvironmentID, nil
	}
	id, err := clientIDParam(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	if id == "" {
		return a.cfg.EnvironmentID, nil
	}
	if _, ok := a.clientIDs[id]; !ok {
		return "", invalidArgument("client_id is not a client of this environment")
	}
	return id, nil
}

// clientIDParam is the client_id of a raw query string. URL.Query
// silently drops a pair it cannot parse and keeps the first of two, where
// the app behind, or a proxy, may split on ';' or keep the last: a
// client_id given twice, in a pair with a ';', or that does not unescape
// is refused, so that no reader can take another client than the one the
// token's audience was checked for. Other parameters are not this
// check's business (the identity edge passes the app's queries on).
func clientIDParam(rawQuery string) (string, *apiError) {
	var id string
	found := false
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		for part := range strings.SplitSeq(pair, ";") {
			key, value, _ := strings.Cut(part, "=")
			if k, err := url.QueryUnescape(key); err != nil || k != "client_id" {
				continue
			}
			if found {
				return "", invalidArgument("client_id: given more than once")
			}
			found = true
			v, err := url.QueryUnescape(value)
			if err != nil || strings.Contains(pair, ";") {
				return "", invalidArgument("client_id: malformed in the query string")
			}
			id = v
		}
	}
	return id, nil
}

// deviceID reads step 2's x-device-id: empty means absent.
func deviceID(r *http.Request) (string, *apiError) {
	if len(r.Header["X-Device-Id"]) > 1 {
		// As with Authorization: the app behind may read another one
		// than the one held to the token's device claim here.
		return "", invalidArgument("x-device-id: given more than once")
	}
	id := r.Header.Get("X-Device-Id")
	if id == "" {
		return "", nil
	}
	if !validDeviceID(id) {
		return "", invalidArgument("x-device-id must be 1 to 128 characters of A-Z a-z 0-9 . _ : -")
	}
	return id, nil
}

func validDeviceID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// errManyAuthorizations answers a request with more than one
// Authorization header. No token was judged, so its challenge is RFC 6750
// 3.1's invalid_request (the request "uses more than one method for
// including an access token"), not invalid_token: a client that drops a
// refused token keeps its good one.
var errManyAuthorizations = func() *apiError {
	e := unauthenticated("the request has more than one Authorization header")
	e.challenge = `Bearer realm="authedge", error="invalid_request", error_description=` + quoteHeader(e.description)
	return e
}()

// authenticate is step 3: the bearer token, its audience for clientID, and
// its device binding.
func (a *API) authenticate(c *call) *apiError {
	if len(c.r.Header["Authorization"]) > 1 {
		// Which one counts is the reader's guess: the app behind, or a
		// proxy, may take another than the one verified here.
		return errManyAuthorizations
	}
	raw, ok := bearerToken(c.r.Header.Get("Authorization"))
	if !ok {
		return errMissingToken
	}
	claims, err := a.deps.Verifier.Verify(c.r.Context(), raw, c.clientID)
	if err != nil {
		a.obs.tokenChecked(err)
		if token.KindOf(err) == token.KindKeysUnavailable {
			return errKeysUnavailable
		}
		var te *token.Error
		if errors.As(err, &te) {
			return unauthenticated(te.Description)
		}
		return unauthenticated("the access token could not be verified")
	}
	// The subject names the caller's profile and counters in Redis keys:
	// it is held to the bound an admin's user_id is.
	if !validUserID(claims.Subject) {
		a.obs.tokenRefused(metrics.TokenOther)
		return unauthenticated("the access token's sub is not a usable user ID (at most 256 bytes, no control characters)")
	}
	// A bound token needs the same header (token refuses an empty claim).
	if claims.DeviceID != "" && claims.DeviceID != c.deviceID {
		a.obs.tokenRefused(metrics.TokenOther)
		return unauthenticated("the access token is bound to another device (x-device-id)")
	}
	if err := a.checkRevoked(c.r.Context(), raw, claims); err != nil {
		return err
	}
	a.obs.tokenChecked(nil)
	c.claims = claims
	c.token = raw
	return nil
}

// bearerToken extracts the token of an RFC 6750 Authorization header; the
// scheme is case-insensitive.
func bearerToken(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	raw := strings.TrimSpace(header[len(scheme):])
	return raw, raw != ""
}
