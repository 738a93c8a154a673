package token

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/httpcc"
	"github.com/lestrrat-go/httprc"
	"go.uber.org/zap"
)

// Remote JWKS timing. The periodic refresh follows the server's Cache-Control
// (never sooner than remoteMinRefresh, never later than remoteMaxRefresh:
// a key the provider withdraws stops working within it, whatever max-age
// the set was served with); a token no key verifies (its kid unknown,
// known, or absent) makes an extra fetch, at most once per
// remoteMissInterval (docs/configuration.md#remote-keys), so
// that tokens with made-up kids, or none, cannot turn authedge against the
// key server.
const (
	remoteRefreshWindow = time.Minute
	remoteMinRefresh    = 5 * time.Minute
	remoteMaxRefresh    = time.Hour
	remoteMissInterval  = 5 * time.Second
	remoteFetchTimeout  = 10 * time.Second
	maxJWKSSize         = 1 << 20
)

// RemoteJWKS is a remote JWK Set, fetched at start and kept fresh in the
// background by httprc, the refreshing cache under jwx's jwk.Cache (used
// directly so that the set is parsed key by key: see jwkset.go). One
// RemoteJWKS may serve several Verifiers at once (caddymodule shares one
// per URL across config reloads); each sees a new key set as soon as it is
// fetched. Close stops it.
type RemoteJWKS struct {
	url    string
	cache  *httprc.Cache
	client *fetchClient
	life   context.Context
	cancel context.CancelFunc
	logger *zap.Logger

	keys atomic.Pointer[keySet]
	// failing is set while the last fetch, periodic or for an unknown
	// kid, failed: a kid the set lacks may then be one it would have.
	failing atomic.Bool
	// fetchedAt is when the last fetch that succeeded ended, or the last
	// one outside httprc's schedule that failed, Unix ns (Refetch).
	fetchedAt atomic.Int64

	installMu sync.Mutex      // orders installs, so generations only grow
	skipped   map[string]bool // skipIDs of the keys the last install skipped
	// installedFetch is the number of the fetch whose set was installed
	// last (fetchClient.started). A fetch that started earlier but ended
	// later (a slow periodic one overtaken by one for a miss or a reload)
	// installs nothing: its set may still hold a key the newer one no
	// longer lists.
	installedFetch uint64

	now          func() time.Time
	missInterval time.Duration

	missMu   sync.Mutex
	lastMiss time.Time
	inflight *missFetch
}

// missFetch is one fetch outside httprc's schedule (for a token no key
// verified, or a config reload's Refetch), shared by every caller that asks while
// it runs.
type missFetch struct {
	done chan struct{}
	// why names the cause in the warning should the fetch fail.
	why string
}

// remoteOptions are the knobs tests turn; NewRemoteJWKS uses the defaults.
type remoteOptions struct {
	refreshWindow   time.Duration // how often httprc looks for due refreshes
	refreshInterval time.Duration // fixed interval; 0: from Cache-Control, at least remoteMinRefresh
	minRefresh      time.Duration // 0: remoteMinRefresh
	maxRefresh      time.Duration // 0: remoteMaxRefresh
	missInterval    time.Duration
	now             func() time.Time
	logger          *zap.Logger
}

// NewRemoteJWKS fetches the JWK Set at url and keeps it fresh until Close.
// ctx bounds the first fetch only, which must succeed and yield at least
// one public signature key. client may be nil; its timeout, if shorter than
// ten seconds, bounds each fetch. logger (nil: none) gets a warning for
// each key of the set that cannot be used, once while it stays in the set,
// and for every refresh that fails.
func NewRemoteJWKS(ctx context.Context, url string, client *http.Client, logger *zap.Logger) (*RemoteJWKS, error) {
	return newRemoteJWKS(ctx, url, client, remoteOptions{logger: logger})
}

func newRemoteJWKS(ctx context.Context, url string, client *http.Client, o remoteOptions) (*RemoteJWKS, error) {
	if o.refreshWindow == 0 {
		o.refreshWindow = remoteRefreshWindow
	}
	if o.missInterval == 0 {
		o.missInterval = remoteMissInterval
	}
	if o.minRefresh == 0 {
		o.minRefresh = remoteMinRefresh
	}
	if o.maxRefresh == 0 {
		o.maxRefresh = remoteMaxRefresh
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.logger == nil {
		o.logger = zap.NewNop()
	}
	if client == nil {
		client = &http.Client{}
	}
	client = keepingTLS(client)
	// The background goroutines live until Close, not until ctx ends:
	// ctx is the caller's, for the first fetch.
	life, cancel := context.WithCancel(context.Background())
	r := &RemoteJWKS{
		url:          url,
		client:       &fetchClient{life: life, client: client, maxFresh: o.maxRefresh},
		life:         life,
		cancel:       cancel,
		logger:       o.logger.With(zap.String("jwks_url", redactURL(url))),
		now:          o.now,
		missInterval: o.missInterval,
	}
	r.cache = httprc.NewCache(life,
		httprc.WithRefreshWindow(o.refreshWindow),
		httprc.WithErrSink(httprc.ErrSinkFunc(r.refreshFailed)))
	register := []httprc.RegisterOption{
		httprc.WithHTTPClient(r.client),
		httprc.WithTransformer(httprc.TransformFunc(r.transform)),
	}
	if o.refreshInterval > 0 {
		register = append(register, httprc.WithRefreshInterval(o.refreshInterval))
	} else {
		register = append(register, httprc.WithMinRefreshInterval(o.minRefresh))
	}
	if err := r.cache.Register(url, register...); err != nil {
		cancel()
		return nil, startError(url, err)
	}
	if _, err := r.cache.Get(ctx, url); err != nil {
		cancel()
		return nil, startError(url, err)
	}
	if len(r.keys.Load().all) == 0 {
		cancel()
		return nil, startError(url, errors.New("no public signature key in it"))
	}
	return r, nil
}

// startError is why the first fetch of url failed, naming the URL with
// its password hidden: the error fails the config, and Caddy prints and
// logs it. httprc quotes the URL as given, password included, so err's
// own text is redacted too; errors.Is and errors.As still see err.
func startError(url string, err error) error {
	shown := redactURL(url)
	return &redactedError{
		msg: "token: JWKS " + shown + ": " + strings.ReplaceAll(err.Error(), url, shown),
		err: err,
	}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactURL hides a password in url, for the log.
func redactURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Close stops the background refresh and any fetch in flight. The last
// keys fetched stay usable by Verifiers still holding r.
func (r *RemoteJWKS) Close() error {
	r.cancel()
	return nil
}

// current is the key set Verifiers use now.
func (r *RemoteJWKS) current() *keySet { return r.keys.Load() }

// transform installs the set of every response httprc fetches. An error
// keeps the keys installed before; httprc hands it to refreshFailed (or,
// for the first fetch, to NewRemoteJWKS).
func (r *RemoteJWKS) transform(_ string, res *http.Response) (any, error) {
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", res.Status)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	keys, skipped, err := parseJWKSet(body)
	if err != nil {
		return nil, err
	}
	r.failing.Store(false)
	r.fetchedAt.Store(r.now().UnixNano())
	return r.install(keys, skipped, fetchNumber(res)), nil
}

// refreshFailed logs a background refresh that failed. Verifiers go on
// with the keys fetched before, which may include one the provider has
// withdrawn: an operator must be told.
func (r *RemoteJWKS) refreshFailed(err error) {
	if r.life.Err() != nil {
		return // Close cut it short
	}
	r.failing.Store(true)
	r.logger.Warn("JWKS refresh failed; the keys fetched before stay in use", r.redactedError(err))
}

// redactedError is err for the log, with any password in the URL hidden
// (httprc quotes the URL in its errors as given).
func (r *RemoteJWKS) redactedError(err error) zap.Field {
	return zap.String("error", strings.ReplaceAll(err.Error(), r.url, redactURL(r.url)))
}

// install makes keys, fetched by fetch number fetch, the current set, and
// logs the keys skipped that the set before did not skip. A set equal to
// the current one keeps its generation, so a periodic refresh that changed
// nothing does not empty the Verifiers' caches. A set fetched before the
// current one is dropped.
func (r *RemoteJWKS) install(keys []*publicKey, skipped []skippedKey, fetch uint64) *keySet {
	next := newKeySet(keys)
	r.installMu.Lock()
	defer r.installMu.Unlock()
	cur := r.keys.Load()
	if fetch < r.installedFetch {
		return cur
	}
	r.installedFetch = fetch
	r.skipped = logSkipped(r.logger, skipped, r.skipped)
	if cur != nil {
		if cur.fingerprint == next.fingerprint {
			return cur
		}
		next.gen = cur.gen + 1
		if len(keys) == 0 {
			r.logger.Warn("JWKS has no key authedge can verify with: every token is refused until it has one")
		}
	} else {
		next.gen = 1
	}
	r.keys.Store(next)
	return next
}

// refreshForMiss fetches the set again because no key verified a token
// (why says whether it named a kid the set lacks, one it has, or none,
// for the log), unless such a fetch happened less than missInterval ago. Callers
// arriving while one runs wait for it instead of fetching. It returns the
// key set to use afterwards.
//
// It does not go through httprc's Refresh (startFetch says why).
func (r *RemoteJWKS) refreshForMiss(ctx context.Context, why string) *keySet {
	r.missMu.Lock()
	call := r.inflight
	if call == nil {
		now := r.now()
		// A clock that went back does not hold fetches off for ever.
		if elapsed := now.Sub(r.lastMiss); !r.lastMiss.IsZero() && elapsed >= 0 && elapsed < r.missInterval {
			r.missMu.Unlock()
			return r.current()
		}
		r.lastMiss = now
		call = r.startFetch(why)
	}
	r.missMu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
	}
	return r.current()
}

// Refetch fetches the set now, as a config reload asks (caddymodule): an
// operator who withdrew a key from the set reloads to have it refused at
// once, not at the next periodic refresh, up to an hour away. A fetch
// already running is joined, and a set fetched less than a second ago
// (by the reload's own first handler, say) is not fetched again, nor is
// one whose fetch failed that recently: each of a reload's handlers calls
// Refetch in turn, and a provider that hangs would hold the reload for
// each one's timeout. A fetch that fails keeps the set fetched before, is
// logged, and is returned.
func (r *RemoteJWKS) Refetch(ctx context.Context) error {
	if since := r.now().Sub(time.Unix(0, r.fetchedAt.Load())); since >= 0 && since < time.Second {
		return r.refetchError()
	}
	r.missMu.Lock()
	call := r.inflight
	if call == nil {
		call = r.startFetch("on a config reload")
	}
	r.missMu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.refetchError()
}

// refetchError is what Refetch returns once the fetch it waited for, or
// the one within the second before, has ended.
func (r *RemoteJWKS) refetchError() error {
	if r.unreachable() {
		return startError(r.url, errors.New("the fetch failed; the keys fetched before stay in use"))
	}
	return nil
}

// startFetch starts a fetch outside httprc's schedule; missMu is held. It
// does not go through httprc's Refresh: every Refresh also queues one more
// periodic refresh, so each call would add a fetch loop for ever.
func (r *RemoteJWKS) startFetch(why string) *missFetch {
	call := &missFetch{done: make(chan struct{}), why: why}
	r.inflight = call
	go r.runMissFetch(call)
	return call
}

// runMissFetch fetches outside any request's context: it is shared, and
// one caller giving up must not fail it for the others.
func (r *RemoteJWKS) runMissFetch(call *missFetch) {
	defer func() {
		r.missMu.Lock()
		r.inflight = nil
		r.missMu.Unlock()
		close(call.done)
	}()
	res, err := r.client.Get(r.url)
	if err == nil {
		_, err = r.transform(r.url, res)
	}
	if err != nil && r.life.Err() == nil {
		r.failing.Store(true)
		r.fetchedAt.Store(r.now().UnixNano())
		r.logger.Warn("JWKS refresh "+call.why+" failed; the keys fetched before stay in use", r.redactedError(err))
	}
}

// unreachable reports whether the last fetch of the set failed.
func (r *RemoteJWKS) unreachable() bool { return r.failing.Load() }

// maxJWKSRedirects bounds the redirects one fetch follows, as
// net/http's default does.
const maxJWKSRedirects = 10

// keepingTLS is a copy of client that follows a redirect only if it keeps
// the fetch as protected as the configured URL: from https, only to https;
// from plain http (loopback only, docs/configuration.md), to https or to
// the same host. jwks_url must be https because whoever is on the path of
// a plain-http fetch can swap the keys; a redirect to http would take the
// fetch there all the same. client's own CheckRedirect, if any, still
// applies.
func keepingTLS(client *http.Client) *http.Client {
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		from := via[0].URL
		to := req.URL
		if to.Scheme != "https" && (from.Scheme == "https" || to.Hostname() != from.Hostname()) {
			return fmt.Errorf("JWKS redirect to %s refused: keys are fetched over https only", redactURL(to.String()))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxJWKSRedirects {
			return fmt.Errorf("JWKS fetch stopped after %d redirects", maxJWKSRedirects)
		}
		return nil
	}
	return &c
}

// fetchClient is the HTTP client given to httprc. It bounds each fetch
// by a timeout and by Close (httprc's workers call Get without a
// context, so a hung server would otherwise outlive Close), caps the body,
// and always closes it, whatever the status. It also caps the freshness
// the answer claims, by which httprc schedules the next fetch, at maxFresh.
type fetchClient struct {
	life     context.Context
	client   *http.Client
	maxFresh time.Duration
	// started numbers the fetches in the order they start, whoever makes
	// them (httprc's schedule, a miss, a reload): install orders sets by it.
	started atomic.Uint64
}

// fetchNumberKey carries a fetch's number in its request's context, from
// which transform reads it off the response.
type fetchNumberKey struct{}

// fetchNumber is the number of the fetch that got res (0 if unknown).
func fetchNumber(res *http.Response) uint64 {
	if res.Request == nil {
		return 0
	}
	n, _ := res.Request.Context().Value(fetchNumberKey{}).(uint64)
	return n
}

var errJWKSTooLarge = errors.New("JWKS larger than 1 MiB")

// Get fetches url and returns the response with its body already read.
func (c *fetchClient) Get(url string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(c.life, remoteFetchTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, fetchNumberKey{}, c.started.Add(1))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSSize {
		return nil, errJWKSTooLarge
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	capFreshness(res.Header, c.maxFresh, time.Now())
	return res, nil
}

// capFreshness rewrites h so that httprc, which reads max-age and else
// Expires as it does here, schedules the next fetch no later than limit
// from now. A set served with a max-age of a day or a year would
// otherwise keep a key the provider has withdrawn in use that long:
// tokens naming it make no extra fetch, since the set still has their kid.
//
// A Cache-Control that httpcc cannot read is removed: httprc ignores one
// it gets an error for, so nothing else changes, but httpcc panics on
// some ("max-age=", an empty value), and httprc would parse it again on
// its own goroutine, where a panic ends the whole process.
func capFreshness(h http.Header, limit time.Duration, now time.Time) {
	var fresh time.Duration
	known := false
	if v := h.Get("Cache-Control"); v != "" {
		if dir, err := parseCacheControl(v); err != nil {
			h.Del("Cache-Control")
		} else if age, ok := dir.MaxAge(); ok {
			fresh, known = time.Duration(age)*time.Second, true
		}
	}
	if !known {
		if expires, err := http.ParseTime(h.Get("Expires")); err == nil {
			fresh, known = expires.Sub(now), true
		}
	}
	if known && fresh > limit {
		h.Set("Cache-Control", fmt.Sprintf("max-age=%d", int64(limit/time.Second)))
		h.Del("Expires")
	}
}

// parseCacheControl is httpcc.ParseResponse, with its panics (an empty
// directive value indexes an empty string) returned as errors.
func parseCacheControl(v string) (dir *httpcc.ResponseDirective, err error) {
	defer func() {
		if recover() != nil {
			dir, err = nil, errors.New("malformed Cache-Control")
		}
	}()
	return httpcc.ParseResponse(v)
}
