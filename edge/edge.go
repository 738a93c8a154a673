package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/handler"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

// Authenticator verifies a request's bearer token as the API does.
// *handler.API implements it.
type Authenticator interface {
	Authenticate(r *http.Request) (*token.Claims, *handler.Error)
}

// Profiles reads stored profiles. *store.Store implements it.
type Profiles interface {
	Profile(ctx context.Context, userID string) (p store.Profile, ok bool, err error)
}

// Options are what an Edge is built from.
type Options struct {
	// Identity is the identity block, with config.ApplyDefaults applied
	// and config.Validate passed. Required.
	Identity *config.Identity
	// EnvironmentID names the assertion's issuer, authedge:<id>.
	EnvironmentID string
	// Auth verifies tokens. Required.
	Auth Authenticator
	// Profiles reads profiles for profile.<field> sources. Required.
	Profiles Profiles
	// Logger receives one line per refused request, at the level the
	// API logs its own (handler.Error's LogLevel): debug, but a warning
	// for an outage; nil: none.
	Logger *zap.Logger
	// Now is the clock of the assertion; nil: time.Now.
	Now func() time.Time
}

// Edge runs the app's requests through the identity pipeline. Safe for
// concurrent use; everything in it is built once, in New.
type Edge struct {
	auth     Authenticator
	profiles Profiles
	log      *zap.Logger
	now      func() time.Time

	rules rules
	// remove are the headers removed from every request: the configured
	// ones and the assertion's.
	remove []string
	// removeTrailing are the names removed from every request's
	// trailers: remove's, and Authorization with strip_authorization
	// (the app must not find the token there either).
	removeTrailing     []string
	headers            []headerPlan
	stripAuthorization bool
	signer             *signer // nil without an assertion block
	// profileNeeded: a header or an assertion claim reads the profile, so
	// a valid token costs a profile read (and needs Redis).
	profileNeeded bool
}

// headerPlan is one configured header: its canonical name and its source.
type headerPlan struct {
	name string
	src  source
}

// New builds an Edge: it compiles the path rules and loads the assertion
// keys. A key file that is not a usable key is an error naming the
// directive.
func New(o Options) (*Edge, error) {
	if o.Identity == nil || o.Auth == nil || o.Profiles == nil {
		return nil, errors.New("edge: an identity block, an Authenticator and Profiles are required")
	}
	id := o.Identity
	e := &Edge{
		auth:               o.Auth,
		profiles:           o.Profiles,
		log:                o.Logger,
		now:                o.Now,
		stripAuthorization: id.StripAuthorization,
	}
	if e.log == nil {
		e.log = zap.NewNop()
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.rules = compileRules(id)
	var err error
	for _, h := range id.Headers {
		src, err := parseSource(h.Source)
		if err != nil {
			return nil, fmt.Errorf("identity header %s: %w", h.Name, err)
		}
		name := http.CanonicalHeaderKey(h.Name)
		e.headers = append(e.headers, headerPlan{name: name, src: src})
		e.remove = append(e.remove, name)
		e.profileNeeded = e.profileNeeded || src.profile()
	}
	if id.Assertion != nil {
		if e.signer, err = newSigner(id.Assertion, o.EnvironmentID); err != nil {
			return nil, err
		}
		e.remove = append(e.remove, e.signer.header)
		for _, c := range e.signer.claims {
			e.profileNeeded = e.profileNeeded || c.src.profile()
		}
	}
	e.removeTrailing = e.remove
	if e.stripAuthorization {
		e.removeTrailing = append(slices.Clip(e.remove), authorizationHeader...)
	}
	return e, nil
}

// Serve runs r through the pipeline (docs/identity.md), changing r's
// headers in place. It returns the caller's identity (nil: anonymous) and
// whether r goes on to the app; when it does not, the answer (401, 403 or
// 503) has been written to w.
func (e *Edge) Serve(w http.ResponseWriter, r *http.Request) (*Identity, bool) {
	// 1. No client-sent copy of an identity header survives, whatever
	// happens next: not in the headers, nor in the trailers.
	removeHeaders(r.Header, e.remove)
	e.removeTrailers(r)
	// No upgrade to a protocol that carries HTTP: past a 101 the client
	// would send the app requests the edge never sees.
	removeHTTPUpgrades(r.Header)

	id, refusal := e.identify(r)
	if refusal != nil {
		refusal = handler.Settle(r, refusal)
		if ce := e.log.Check(refusal.LogLevel(), "app request refused"); ce != nil {
			ce.Write(zap.String("path", r.URL.Path), zap.Int("status", refusal.Status()),
				zap.String("error", refusal.Code()))
		}
		handler.WriteError(w, refusal)
		return nil, false
	}
	if id != nil {
		e.setHeaders(r, id)
	}
	// 5. Whether or not the token was valid.
	if e.stripAuthorization {
		removeHeaders(r.Header, authorizationHeader)
	}
	return id, true
}

var authorizationHeader = []string{"Authorization"}

// identify runs steps 2 to 4: the token, the path's rules, the profile. A
// refusal is only ever given on a protected path; elsewhere a request that
// fails any step is anonymous (nil, nil).
func (e *Edge) identify(r *http.Request) (*Identity, *handler.Error) {
	need := e.rules.match(r)
	authorization := r.Header.Values("Authorization")
	if !need.protected && len(authorization) == 0 {
		return nil, nil
	}
	claims, refusal := e.auth.Authenticate(r)
	if refusal != nil {
		if need.protected {
			return nil, refusal
		}
		return nil, nil
	}
	if need.protected {
		for _, scope := range need.scopes {
			if !hasScope(claims.Scopes, scope) {
				return nil, handler.InsufficientScope(scope, "this path needs the scope "+scope)
			}
		}
	}
	id := newIdentity(r.Context(), claims, authorization[0], e.profiles)
	if e.profileNeeded {
		if _, err := id.loadProfile(); err != nil {
			if !need.protected {
				return nil, nil
			}
			if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
				e.log.Error("profile read failed", zap.Error(err))
			}
			return nil, handler.Unavailable()
		}
	}
	return id, nil
}

// setHeaders is step 4: the configured headers and the assertion. A
// missing claim or an empty profile field leaves its header absent; so
// does a value a header cannot carry as it is (headerValue). The
// assertion carries such a value as it is.
func (e *Edge) setHeaders(r *http.Request, id *Identity) {
	for i := range e.headers {
		h := &e.headers[i]
		if v, ok := id.value(h.src); ok && headerValue(v.text) {
			r.Header[h.name] = []string{v.text}
		}
	}
	if e.signer != nil {
		assertion, err := e.signer.sign(id, e.now())
		if err != nil {
			// Signing with a loaded key does not fail but for a broken
			// random source; the app then gets no assertion, never a
			// forged one.
			e.log.Error("signing the identity assertion failed", zap.Error(err))
			return
		}
		r.Header[e.signer.header] = []string{assertion}
	}
}

// headerValue reports whether v reaches the app, as a header, unchanged.
// A control character (a description's newline) does not: Go's transport
// refuses to send a request holding one, so reverse_proxy would answer
// that user 502 on every request. Nor does a space or tab at either end:
// HTTP trims it from a field value (RFC 9110 5.5), and the app would read
// the subject "user-1 " as the other user "user-1". Nor, to the app's
// parser, does invalid UTF-8 (no source yields it: claims are decoded
// JSON, profile fields checked text; this keeps it so).
func headerValue(v string) bool {
	return v != "" && httpguts.ValidHeaderFieldValue(v) && utf8.ValidString(v) &&
		!isSpaceOrTab(v[0]) && !isSpaceOrTab(v[len(v)-1])
}

func isSpaceOrTab(c byte) bool { return c == ' ' || c == '\t' }

// removeHeaders deletes every header from h whose name is equivalent to
// one in names (config.SameHeaderName): in any case, and with '_' and '.' read as
// '-'. http.Header canonicalizes what the server parsed, but a handler
// before this one may have added a key in another case, which Go would
// forward as written; and Go keeps "x-user_id" as its own key "X-User_id",
// which CGI (php_fastcgi) and some app servers read as X-User-Id
// (HTTP_X_USER_ID). PHP reads "X.User.Id" so too: php_fastcgi passes it as
// HTTP_X.USER.ID, and PHP turns every '.' of a $_SERVER name into '_'.
// It also drops those names from the Connection header, or a client
// could list X-User-Id there and have reverse_proxy delete authedge's copy
// as hop-by-hop, leaving the client's '_' spelling (docs/identity.md).
func removeHeaders(h http.Header, names []string) {
	for k := range h {
		if matchesAny(k, names) {
			delete(h, k)
		}
	}
	editValues(h, "Connection", func(v string) string { return withoutConnectionTokens(v, names) })
}

// editValues replaces each value of the header name, in any case of the
// name, by what edit makes of it, dropping a value edit empties and the
// header when no value is left.
func editValues(h http.Header, name string, edit func(string) string) {
	for k, values := range h {
		if !strings.EqualFold(k, name) {
			continue
		}
		kept := values[:0]
		for _, v := range values {
			if v = edit(v); v != "" {
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 {
			delete(h, k)
		} else {
			h[k] = kept
		}
	}
}

// httpUpgrades are the names (before any '/', in any case) of the
// Upgrade protocols that carry HTTP requests: h2c (and h2, which some
// servers take for it, and the draft names of both, which carriesHTTP
// reads too), HTTP/<version> and RFC 2817's TLS/<version>. An
// app that accepts one answers 101 and then serves, over the tunnel
// reverse_proxy keeps open, whatever requests the client sends, with
// whatever identity headers, for protected paths too ("h2c smuggling").
// None of them is needed through a reverse proxy; WebSocket and other
// protocols that do not carry requests to the app's HTTP handler pass.
var httpUpgrades = []string{"h2c", "h2", "http", "tls"}

// removeHTTPUpgrades removes the httpUpgrades tokens from h's Upgrade
// header, and the header when no token is left, so that the request
// reaches the app as an ordinary one (a client such as curl --http2
// offering h2c gets its answer over HTTP/1.1, as the RFCs allow).
func removeHTTPUpgrades(h http.Header) { editValues(h, "Upgrade", withoutHTTPUpgrades) }

// withoutHTTPUpgrades returns the comma-separated Upgrade value v without
// its httpUpgrades tokens, or v itself when it has none.
func withoutHTTPUpgrades(v string) string {
	tokens := strings.Split(v, ",")
	kept := make([]string, 0, len(tokens))
	for _, t := range tokens {
		name, _, _ := strings.Cut(t, "/")
		if !carriesHTTP(strings.TrimSpace(name)) {
			kept = append(kept, t)
		}
	}
	if len(kept) == len(tokens) {
		return v
	}
	for i := range kept {
		kept[i] = strings.TrimSpace(kept[i])
	}
	kept = slices.DeleteFunc(kept, func(t string) bool { return t == "" })
	return strings.Join(kept, ", ")
}

// carriesHTTP reports whether the Upgrade protocol name (the part before
// any '/') is one of httpUpgrades, in any case, or a draft name of
// HTTP/2 (h2c-14 to h2c-17, h2-14 to h2-17, or any other h2c-... or
// h2-...): Jetty's h2c connection factory and Undertow's
// Http2UpgradeHandler take them when configured to (Undertow's own tests
// upgrade on h2c-17 as on h2c), and they open the same tunnel.
func carriesHTTP(name string) bool {
	if base, _, draft := strings.Cut(name, "-"); draft {
		return strings.EqualFold(base, "h2c") || strings.EqualFold(base, "h2")
	}
	return slices.ContainsFunc(httpUpgrades, func(u string) bool { return strings.EqualFold(name, u) })
}

// withoutConnectionTokens returns the comma-separated Connection value v
// without the tokens equivalent to one of names, or v itself when it has
// none.
func withoutConnectionTokens(v string, names []string) string {
	tokens := strings.Split(v, ",")
	kept := tokens[:0]
	for _, t := range tokens {
		if !matchesAny(strings.TrimSpace(t), names) {
			kept = append(kept, t)
		}
	}
	if len(kept) == len(tokens) {
		return v
	}
	return strings.TrimSpace(strings.Join(kept, ","))
}

// matchesAny reports whether the header name k is equivalent to one of
// names.
func matchesAny(k string, names []string) bool {
	for _, name := range names {
		if config.SameHeaderName(k, name) {
			return true
		}
	}
	return false
}

// removeTrailers keeps identity headers out of r's trailers, which
// reverse_proxy forwards: the names the client declared go now, and the
// values net/http fills in when the body is read to its end are removed
// at that moment, by a Read that returns io.EOF before anyone after it
// sees them.
func (e *Edge) removeTrailers(r *http.Request) {
	if len(r.Trailer) > 0 {
		removeHeaders(r.Trailer, e.removeTrailing)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &trailerFilter{ReadCloser: r.Body, r: r, names: e.removeTrailing}
}

// trailerFilter removes names from r.Trailer when the body ends.
type trailerFilter struct {
	io.ReadCloser
	r     *http.Request
	names []string
}

func (t *trailerFilter) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err == io.EOF && len(t.r.Trailer) > 0 {
		removeHeaders(t.r.Trailer, t.names)
	}
	return n, err
}

// hasScope reports whether the space-separated scopes hold want exactly.
func hasScope(scopes, want string) bool {
	for scopes != "" {
		var scope string
		scope, scopes, _ = strings.Cut(scopes, " ")
		if scope == want {
			return true
		}
	}
	return false
}
