package caddymodule

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/spf13/cobra"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/authedge/caddy-authedge/internal/pemkey"
	"github.com/authedge/caddy-authedge/internal/secret"
	"github.com/authedge/caddy-authedge/token"
)

// Development defaults of the token command. They match the {$VAR:default}
// values of Caddyfile.example, and read the same variables, so that a
// token minted in the same shell is accepted by the example config.
const (
	devIssuerVar   = "AUTHEDGE_ISSUER"
	devIssuer      = "https://dev.authedge.local"
	devAudienceVar = "AUTHEDGE_ENV"
	devAudience    = "dev-env"

	// Key file names written by keygen, in the directory given.
	privateKeyFile = "dev-key.pem"
	publicKeyFile  = "dev-key.pub.pem"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "authedge-token",
		Usage: "--key <private.pem> --sub <user-id> [--scope <scopes>] [--iss <issuer>] [--aud <aud>] [--ttl <duration>] [--device-id <id>] [--kid <kid>] [--alg <alg>]",
		Short: "Mints a development access token for authedge (keygen: makes a key pair)",
		Long: `
Mints a signed JWT access token for trying authedge out, and prints it.
It is a development tool: real tokens come from your identity provider.

The algorithm follows the key: RS256 for RSA, ES256/ES384/ES512 for
P-256/P-384/P-521, EdDSA for Ed25519. --alg picks another that fits the
key (RS384 or PS256 for RSA, say); one that does not is refused. The key
file may hold other PEM blocks (EC PARAMETERS, a certificate) beside it.

--iss defaults to $AUTHEDGE_ISSUER, else ` + devIssuer + `;
--aud defaults to $AUTHEDGE_ENV, else ` + devAudience + `
(the token's aud must hold the environment_id or client_id, unless the
jwt block sets audience). The token also carries iat, exp, auth_time
(now) and a random jti.

    caddy authedge-token keygen --out .dev
    caddy authedge-token --key .dev/` + privateKeyFile + ` --sub user-1
    caddy authedge-token --key .dev/` + privateKeyFile + ` --sub root --scope admin

The keygen subcommand writes a fresh key pair to <dir>/` + privateKeyFile + `
(private, mode 0600) and <dir>/` + publicKeyFile + ` (for jwt public_key),
RSA unless --type says otherwise. It keeps a pair already there; with
--type, only one of that type: a pair of another type is refused (remove
it to make the new one).
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Args = cobra.NoArgs
			cmd.Flags().String("key", "", "PEM file of the private key to sign with (required)")
			cmd.Flags().String("sub", "", "the user ID: the token's sub claim (required)")
			cmd.Flags().String("scope", "", `space-separated scopes, such as "admin"`)
			cmd.Flags().String("iss", "", "issuer: the jwt block's issuer")
			cmd.Flags().StringSlice("aud", nil, "audience: the environment_id or a client_id (repeatable)")
			cmd.Flags().Duration("ttl", time.Hour, "how long the token is valid")
			cmd.Flags().String("device-id", "", "binds the token to this x-device-id (claim device_id)")
			cmd.Flags().String("kid", "", "key ID to put in the token's header")
			cmd.Flags().String("alg", "", "signing algorithm; default: the one that fits the key")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdMintToken)

			keygen := &cobra.Command{
				Use:   "keygen --out <dir> [--type rsa|ec|ed25519]",
				Short: "Writes a development key pair for authedge-token and jwt public_key",
				Args:  cobra.NoArgs,
				RunE:  caddycmd.WrapCommandFuncForCobra(cmdKeygen),
			}
			keygen.Flags().String("out", "", "directory to write the key pair in (required)")
			keygen.Flags().String("type", "rsa", "rsa (RSA-2048, RS256), ec (P-256, ES256) or ed25519 (EdDSA)")
			cmd.AddCommand(keygen)
		},
	})
}

func cmdMintToken(fl caddycmd.Flags) (int, error) {
	opts := mintOptions{
		keyFile:  fl.String("key"),
		subject:  fl.String("sub"),
		scope:    fl.String("scope"),
		issuer:   fl.String("iss"),
		ttl:      fl.Duration("ttl"),
		deviceID: fl.String("device-id"),
		kid:      fl.String("kid"),
		alg:      fl.String("alg"),
	}
	aud, err := fl.GetStringSlice("aud")
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	opts.audience = aud
	if opts.issuer == "" {
		opts.issuer = envOr(devIssuerVar, devIssuer)
	}
	if len(opts.audience) == 0 {
		opts.audience = []string{envOr(devAudienceVar, devAudience)}
	}
	raw, err := mintToken(opts, time.Now())
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	fmt.Println(raw)
	return caddy.ExitCodeSuccess, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// mintOptions are the claims and signing choices of one token.
type mintOptions struct {
	keyFile  string
	subject  string
	scope    string
	issuer   string
	audience []string
	ttl      time.Duration
	deviceID string
	kid      string
	alg      string
}

// mintToken signs a token as the options say, issued at now.
func mintToken(o mintOptions, now time.Time) (string, error) {
	switch {
	case o.keyFile == "":
		return "", errors.New("--key is required: the PEM file of a private key (make one with `caddy authedge-token keygen --out <dir>`)")
	case o.subject == "":
		return "", errors.New("--sub is required: the user ID")
	case o.ttl <= 0:
		return "", errors.New("--ttl must be positive")
	}
	// A JSON string holds only UTF-8: the encoder would sign U+FFFD in
	// place of each bad byte, a token for another user or scope.
	for _, a := range []struct{ flag, v string }{{"--sub", o.subject}, {"--scope", o.scope},
		{"--iss", o.issuer}, {"--aud", strings.Join(o.audience, ",")}, {"--device-id", o.deviceID}, {"--kid", o.kid}} {
		if !utf8.ValidString(a.v) {
			return "", fmt.Errorf("%s is not UTF-8 text", a.flag)
		}
	}
	pemBytes, err := os.ReadFile(o.keyFile)
	if err != nil {
		return "", fmt.Errorf("reading --key: %w", err)
	}
	key, alg, err := parseSigningKey(pemBytes)
	if err != nil {
		return "", fmt.Errorf("--key %s: %w", o.keyFile, err)
	}
	if o.alg != "" {
		if err := checkAlgFits(o.alg, key); err != nil {
			return "", err
		}
		alg = jwa.SignatureAlgorithm(o.alg)
	}
	if o.kid != "" {
		if err := key.Set(jwk.KeyIDKey, o.kid); err != nil {
			return "", err
		}
	}

	b := jwt.NewBuilder().
		Issuer(o.issuer).
		Subject(o.subject).
		Audience(o.audience).
		IssuedAt(now).
		Expiration(now.Add(o.ttl)).
		JwtID(secret.ID()).
		Claim("auth_time", now.Unix())
	if o.scope != "" {
		b = b.Claim("scope", o.scope)
	}
	if o.deviceID != "" {
		b = b.Claim("device_id", o.deviceID)
	}
	tok, err := b.Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		return "", fmt.Errorf("signing with %s: %w", alg, err)
	}
	return string(signed), nil
}

// checkAlgFits refuses an --alg that authedge would refuse the token for,
// by token's own rule: none, HMAC, an algorithm it does not know, or one
// that does not fit the key (jwx would sign ES384 with a P-256 key all the
// same, printing a token no verifier accepts).
func checkAlgFits(alg string, key jwk.Key) error {
	pub, err := jwk.PublicRawKeyOf(key)
	if err != nil {
		return err
	}
	if err := token.CheckAlgorithmFits(alg, pub); err != nil {
		return fmt.Errorf("--alg: %w", err)
	}
	if alg == "Ed25519" {
		// authedge accepts RFC 9864's name, but jwx v2 cannot sign under
		// it; the algorithm is the same.
		return errors.New("--alg: Ed25519: give EdDSA, the same algorithm on this key, which authedge accepts " +
			"under either name (this command cannot sign under the name Ed25519)")
	}
	return nil
}

// parseSigningKey reads the PEM private key (PKCS #8, PKCS #1 or SEC 1) in
// pemBytes and picks the algorithm that fits it.
func parseSigningKey(pemBytes []byte) (jwk.Key, jwa.SignatureAlgorithm, error) {
	block, err := pemkey.Block(pemBytes, true)
	if err != nil {
		return nil, "", err
	}
	raw, _, err := jwk.DecodePEM(pem.EncodeToMemory(block))
	if err != nil {
		return nil, "", err
	}
	var alg jwa.SignatureAlgorithm
	switch k := raw.(type) {
	case *rsa.PrivateKey:
		alg = jwa.RS256
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jwa.ES256
		case elliptic.P384():
			alg = jwa.ES384
		case elliptic.P521():
			alg = jwa.ES512
		default:
			return nil, "", errors.New("unsupported EC curve")
		}
	case ed25519.PrivateKey:
		alg = jwa.EdDSA
	default:
		return nil, "", fmt.Errorf("unsupported key type %T", raw)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, "", err
	}
	return key, alg, nil
}

func cmdKeygen(fl caddycmd.Flags) (int, error) {
	dir := fl.String("out")
	if dir == "" {
		return caddy.ExitCodeFailedStartup, errors.New("--out is required: the directory to write the key pair in")
	}
	// Without --type any pair already there will do (dev.sh runs keygen
	// on every start); with it, the pair must be of the type asked for.
	keyType := ""
	if fl.Changed("type") {
		keyType = fl.String("type")
	}
	created, err := keygen(dir, keyType)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	priv, pub := filepath.Join(dir, privateKeyFile), filepath.Join(dir, publicKeyFile)
	if created {
		fmt.Printf("wrote %s (private: keep it out of version control) and %s (use it as jwt public_key)\n", priv, pub)
	} else {
		fmt.Printf("kept the existing key pair %s and %s\n", priv, pub)
	}
	return caddy.ExitCodeSuccess, nil
}

// keygenAlgs are the key types keygen makes, by the algorithm that fits
// each key.
var keygenAlgs = map[string]jwa.SignatureAlgorithm{"rsa": jwa.RS256, "ec": jwa.ES256, "ed25519": jwa.EdDSA}

// keygen writes a new key pair of the given type ("": RSA) to dir, unless
// both files already exist (then it reports false). An existing pair of
// another type than keyType, when one is given, is an error: keeping it
// would hand an RSA user an EC key, silently. One file without the other
// is an error: replacing it would silently break the pair.
func keygen(dir, keyType string) (bool, error) {
	priv, pub := filepath.Join(dir, privateKeyFile), filepath.Join(dir, publicKeyFile)
	if _, ok := keygenAlgs[keyType]; !ok && keyType != "" {
		return false, fmt.Errorf("--type %q: want rsa, ec or ed25519", keyType)
	}
	privExists, err := exists(priv)
	if err != nil {
		return false, err
	}
	pubExists, err := exists(pub)
	if err != nil {
		return false, err
	}
	switch {
	case privExists && pubExists:
		if keyType == "" {
			return false, nil
		}
		pemBytes, err := os.ReadFile(priv)
		if err != nil {
			return false, err
		}
		_, alg, err := parseSigningKey(pemBytes)
		if err != nil {
			return false, fmt.Errorf("%s: %w", priv, err)
		}
		if alg != keygenAlgs[keyType] {
			return false, fmt.Errorf("%s and %s already hold an %s key pair, not the %s (%s) one --type asks for: "+
				"remove them to make a new pair, or leave out --type to keep them", priv, pub, alg, keyType, keygenAlgs[keyType])
		}
		return false, nil
	case privExists || pubExists:
		return false, fmt.Errorf("only one of %s and %s exists; remove it to make a new pair", priv, pub)
	}

	var key crypto.Signer
	switch keyType {
	case "rsa", "":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ec":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return false, fmt.Errorf("--type %q: want rsa, ec or ed25519", keyType)
	}
	if err != nil {
		return false, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return false, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return false, err
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	// O_EXCL: never overwrite a key that appeared meanwhile.
	if err := writeNew(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return false, err
	}
	if err := writeNew(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		_ = os.Remove(priv)
		return false, err
	}
	return true, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
