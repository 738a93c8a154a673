package token

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"unsafe"

	"go.uber.org/zap"
)

// Verifier verifies access tokens. Safe for concurrent use.
type Verifier struct {
	s      *settings
	static *keySet // PEM files and the JWKS file: fixed for the Verifier's life
	remote *RemoteJWKS
	cache  *verifiedCache // nil when off
	obs    Observer       // nil when none
}

// New builds a Verifier: it reads and checks every key file now, so that a
// bad key fails the configuration, not a request.
func New(cfg Config) (*Verifier, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if len(cfg.PublicKeyFiles) == 0 && cfg.JWKSFile == "" && cfg.Remote == nil {
		return nil, errors.New("token: no key source: give a public key file, a JWKS file or a JWKS URL")
	}
	var keys []*publicKey
	for _, path := range cfg.PublicKeyFiles {
		k, err := loadPEMFile(path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	if cfg.JWKSFile != "" {
		logger := cfg.Logger
		if logger == nil {
			logger = zap.NewNop()
		}
		k, err := loadJWKSFile(cfg.JWKSFile, logger)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	v := &Verifier{s: s, static: newKeySet(keys), remote: cfg.Remote, obs: cfg.Observer}
	if s.cacheSize > 0 {
		v.cache = newVerifiedCache(s.cacheSize)
	}
	return v, nil
}

// Verify checks raw, the bearer token of a request for clientID, and
// returns its claims. Every failure is a *Error. ctx bounds only the wait
// for a remote JWKS refresh that a token no key verifies may cause.
func (v *Verifier) Verify(ctx context.Context, raw, clientID string) (*Claims, error) {
	c, err := v.verify(ctx, raw, clientID)
	if err != nil {
		return nil, err // a typed nil would not compare equal to nil
	}
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, raw, clientID string) (*Claims, *Error) {
	now := v.s.now()
	var remote *keySet
	var gen uint64
	if v.remote != nil {
		if remote = v.remote.current(); remote != nil {
			gen = remote.gen
		}
	}
	var key [sha256.Size]byte
	if v.cache != nil && len(raw) <= maxTokenSize {
		v.cache.observe(gen)
		key = tokenKey(raw)
		hit := v.cache.get(&key, gen)
		if v.obs != nil {
			v.obs.CacheLookup(hit != nil)
		}
		if hit != nil {
			c, err := v.s.accept(hit, now, clientID)
			if err == errExpired {
				v.cache.remove(&key)
			}
			return c, err
		}
	}

	tok, err := splitCompact(raw)
	if err != nil {
		return nil, err
	}
	defer tok.release()
	hdr, err := parseHeader(tok.header)
	if err != nil {
		return nil, err
	}
	alg := v.s.allowed(hdr.alg)
	if alg == nil {
		return nil, errAlgorithm
	}
	d := alg.hashInput(tok.signingInput)
	gen, err = v.checkDigest(ctx, &tok, &hdr, alg, remote, &d)
	if err != nil {
		return nil, err
	}
	checked, err := v.s.parseClaims(tok.payload)
	if err != nil {
		return nil, err
	}
	checked.claims.ContentDigest = contentDigest(alg, &tok, &d)
	c, err := v.s.accept(checked, now, clientID)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.observe(gen)
		v.cache.put(&key, gen, checked)
	}
	return c, nil
}

// checkSignature finds the keys that may have signed tok and tries them.
// A token with a kid is tried with the keys of that kid and with the keys
// that have none (PEM files); a token without a kid, with every key. Only
// keys that fit alg are tried. If none verified it (its kid unknown
// everywhere, or known but its keys replaced, or no kid at all), a remote
// JWKS is fetched again (rate-limited) before giving up. It returns the generation of the remote
// key set used.
func (v *Verifier) checkSignature(ctx context.Context, tok *compactJWS, hdr *joseHeader, alg *algorithm, remote *keySet) (uint64, *Error) {
	d := alg.hashInput(tok.signingInput)
	return v.checkDigest(ctx, tok, hdr, alg, remote, &d)
}

// checkDigest is checkSignature with the signing input's hash d already
// computed: Verify keeps it for Claims.ContentDigest.
func (v *Verifier) checkDigest(ctx context.Context, tok *compactJWS, hdr *joseHeader, alg *algorithm, remote *keySet, d *digest) (uint64, *Error) {
	var gen uint64
	if remote != nil {
		gen = remote.gen
	}
	ok, knownStatic, triedStatic := tryKeys(v.static, hdr.kid, alg, tok, d)
	if ok {
		return gen, nil
	}
	ok, knownRemote, triedRemote := tryKeys(remote, hdr.kid, alg, tok, d)
	if ok {
		return gen, nil
	}
	unknownKid := hdr.kid != "" && !knownStatic && !knownRemote
	// A token without a kid, or naming a kid whose keys do not verify it
	// (an issuer that replaced a key but kept its kid), may be signed by
	// a key rotated into the set since it was fetched, just as one naming
	// an unknown kid: it makes the same fetch, under the same limit, so
	// garbage gets no more fetches than made-up kids do. If it still
	// fails it is a bad signature (401), never 503: nothing says a key is
	// missing.
	if v.remote != nil {
		why := "for an unknown kid"
		switch {
		case hdr.kid == "":
			why = "for a token without a kid"
		case !unknownKid:
			why = "for a token its kid's keys do not verify"
		}
		if fresh := v.remote.refreshForMiss(ctx, why); fresh != remote {
			ok, knownRemote, triedRemote = tryKeys(fresh, hdr.kid, alg, tok, d)
			if ok {
				return fresh.gen, nil
			}
			// Only a token that names a kid can name one the set lacks.
			unknownKid = hdr.kid != "" && !knownStatic && !knownRemote
		}
	}
	switch {
	case unknownKid && v.remote != nil && v.remote.unreachable():
		// The set could not be fetched to look for the kid: the token
		// may be signed by a key rotated in since, whatever the keys
		// without a kid (PEM files) said of it.
		return 0, errKeysUnavailable
	case triedStatic || triedRemote:
		return 0, errSignature
	case unknownKid:
		return 0, errUnknownKey
	}
	return 0, errNoKey
}

// tryKeys tries the keys of set that may have signed tok. known reports
// whether set has a key with tok's kid, tried whether any key fitted alg.
func tryKeys(set *keySet, kid string, alg *algorithm, tok *compactJWS, d *digest) (ok, known, tried bool) {
	if set == nil {
		return false, false, false
	}
	lists := [2][]*publicKey{set.all}
	if kid != "" {
		lists = [2][]*publicKey{set.byKid[kid], set.anonymous}
		known = len(lists[0]) > 0
	}
	for _, list := range lists {
		for _, k := range list {
			if !alg.fits(k) {
				continue
			}
			tried = true
			if alg.verify(k, tok.signingInput, d, tok.signature) {
				return true, known, true
			}
		}
	}
	return false, known, tried
}

// contentDigest is the SHA-256 of tok's signing input, the token's name
// for revocation (store.TokenDigest): the signature's own hash d when the
// algorithm hashes with SHA-256 (RS256, ES256, PS256), else computed.
func contentDigest(alg *algorithm, tok *compactJWS, d *digest) [sha256.Size]byte {
	if alg.hash == crypto.SHA256 {
		return [sha256.Size]byte(d.bytes())
	}
	return sha256.Sum256(tok.signingInput)
}

// tokenKey is the cache key of raw. It hashes the string's bytes in place:
// []byte(raw) would copy the whole token to the heap on every cached
// request, the one allocation a cache hit need not make. sha256.Sum256
// neither keeps nor changes its input, so sharing the bytes is sound.
func tokenKey(raw string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}
