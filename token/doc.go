// Package token verifies JWT access tokens: key sources (PEM files, a JWKS
// file, a remote JWKS kept fresh by httprc), the per-request check, and a
// bounded cache of verified tokens. It knows nothing about HTTP.
//
// jwx loads and refreshes keys; the per-request path is a lean one of its
// own (jws.go, jsonobject.go, claims.go) because verifying with jwt.Parse
// costs about twice a bare signature check, and this check runs on every
// request. RSA signatures are checked by rsa.go on the key's modulus in
// Montgomery form, prepared once when the key is loaded (crypto/rsa
// prepares it on every call, a third of its cost), with the standard
// library's own arithmetic (filippo.io/bigmod) and every check crypto/rsa
// makes; Wycheproof's vectors and a differential fuzz target hold it to
// crypto/rsa's answers. So the lean path, claims included, costs about
// 0.85× a bare crypto/rsa.VerifyPKCS1v15 for RS256
// (BenchmarkRS256OverBare).
//
// Where docs/api.md#authorization is silent, this package chooses to be
// strict:
//
//   - The token is compact JWS: three non-empty parts of the base64url
//     alphabet, strictly decoded (no padding, no stray bits, no line
//     breaks), at most 64 KiB. So one token has exactly one spelling, and
//     its SHA-256 (the cache key) identifies it.
//   - The alg header picks among the configured algorithms only; none and
//     HMAC can never be configured. EdDSA and Ed25519 (RFC 9864's name
//     for EdDSA on Ed25519) are one algorithm, either name allowing both,
//     in the configuration and in a JWK's alg alike. Keys are never
//     taken from the token (jwk, jku, x5c, x5u are ignored). Any crit header is refused: no
//     extension is understood. A typ header, if present, must be JWT or
//     at+jwt (RFC 9068), with or without "application/".
//   - A token with a kid is checked with the JWKS keys of that kid and
//     with the keys that have none (PEM files, kid-less JWKs); a token
//     without a kid, with every key. Only keys that fit the algorithm are
//     tried (family, curve, and the JWK's own alg if it names one). A kid
//     unknown to every source makes a remote JWKS fetch again, at most once
//     per 5 s, concurrent misses sharing the one fetch; so does, under
//     the same limit, a token without a kid that no key verifies, or one
//     whose kid's keys do not verify it (its key may have just been
//     rotated in, under a kid of its own or the old key's). Each is then
//     tried once more.
//   - RSA keys shorter than 2048 bits are refused when loaded (RFC 7518
//     3.3), and longer than 8192 (crypto/tls's bound: a check costs about
//     the cube of the size), and so are those crypto/rsa never verifies with (an even
//     modulus, an even exponent, e < 3 or e ≥ 2³¹); EC keys must be on P-256, P-384 or P-521 with a valid point,
//     and an Ed25519 key may not be of small order (32 zero bytes, say),
//     for which anyone can make a signature that verifies.
//     A key file holding a private or symmetric key fails the
//     configuration. A JWK Set is read key by key, not with jwk.Parse
//     (which fails the whole set on one key it cannot parse): a key of a
//     kind authedge does not verify with (an unknown kty such as ML-DSA's
//     AKP, another curve or alg, an encryption key) is skipped, in a
//     remote set and a JWKS file alike, and logged at warn once while it
//     stays in the set. A remote set also skips broken, private and
//     symmetric keys; a file with one fails the configuration. Every
//     failed refresh of a remote set is logged at warn; the keys fetched
//     before stay in use until one succeeds.
//   - Claim names are matched exactly (JSON is case-sensitive, unlike
//     encoding/json's struct decoding), and a claim authedge reads may
//     appear only once, so that no other parser can see another user:
//     nor may a name encoding/json's struct decoding would read as one
//     ("SUB", or "\u017fub", which it folds to "sub"), whether or not the
//     claim itself is there.
//     For the same reason a string read (iss, sub, aud, scope, the device
//     claim, alg, kid, typ) holding invalid UTF-8 or an unpaired UTF-16
//     surrogate escape ("\ud800") is refused: encoding/json would turn
//     either into U+FFFD, making different values equal.
//     iss, sub (a non-empty string), aud and exp are required; exp > now -
//     leeway; nbf, iat and auth_time, if present, ≤ now + leeway (a future
//     auth_time would make every sudo check pass). A device claim present
//     but empty is refused rather than read as absent.
//   - A verified token is cached by its SHA-256 until it expires or the
//     key set changes; time and audience are checked again on every hit.
package token
