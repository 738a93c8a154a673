package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/spf13/cobra"

	"github.com/authedge/caddy-authedge/token"
)

func TestTokenCommandIsRegistered(t *testing.T) {
	cmd, ok := caddycmd.Commands()["authedge-token"]
	if !ok {
		t.Fatal("caddy authedge-token is not registered")
	}
	if cmd.CobraFunc == nil {
		t.Fatal("authedge-token has no command")
	}
	// Build it as caddy's CLI does, and look for what it must offer.
	cobraCmd := &cobra.Command{Use: cmd.Name}
	cmd.CobraFunc(cobraCmd)
	var keygen *cobra.Command
	for _, sub := range cobraCmd.Commands() {
		if sub.Name() == "keygen" {
			keygen = sub
		}
	}
	if keygen == nil || keygen.Flags().Lookup("out") == nil || keygen.Flags().Lookup("type") == nil {
		t.Errorf("authedge-token lacks its keygen subcommand with --out and --type: %v", cobraCmd.Commands())
	}
	for _, flag := range []string{"key", "sub"} {
		if cobraCmd.Flags().Lookup(flag) == nil {
			t.Errorf("authedge-token lacks --%s", flag)
		}
	}
}

func TestKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", ".dev")
	created, err := keygen(dir, "rsa")
	if err != nil || !created {
		t.Fatalf("keygen = %v, %v; want a new pair", created, err)
	}
	priv, pub := filepath.Join(dir, privateKeyFile), filepath.Join(dir, publicKeyFile)
	for file, mode := range map[string]os.FileMode{priv: 0o600, pub: 0o644, dir: 0o700} {
		info, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may only take permissions away.
		if got := info.Mode().Perm(); got&^mode != 0 {
			t.Errorf("%s has mode %v, want at most %v", file, got, mode)
		}
	}
	before, _ := os.ReadFile(priv)

	// A second run keeps the pair, without --type or with its type.
	for _, keyType := range []string{"", "rsa"} {
		created, err = keygen(dir, keyType)
		if err != nil || created {
			t.Fatalf("second keygen --type %q = %v, %v; want the pair kept", keyType, created, err)
		}
	}
	// Asked for another type, it neither keeps the RSA pair in silence (the
	// user would sign with a key they did not ask for) nor replaces it.
	for _, keyType := range []string{"ec", "ed25519", "dsa"} {
		created, err = keygen(dir, keyType)
		if err == nil || created {
			t.Errorf("keygen --type %s over an RSA pair = %v, %v; want refused", keyType, created, err)
		}
	}
	if _, err := keygen(dir, "ec"); err == nil || !strings.Contains(err.Error(), priv) || !strings.Contains(err.Error(), pub) ||
		!strings.Contains(err.Error(), "RS256") {
		t.Errorf("keygen --type ec over an RSA pair: %v; want the files and their type named", err)
	}
	if after, _ := os.ReadFile(priv); string(after) != string(before) {
		t.Error("second keygen replaced the private key")
	}

	// Half a pair is refused, not completed with a key that does not match.
	if err := os.Remove(pub); err != nil {
		t.Fatal(err)
	}
	if _, err := keygen(dir, "rsa"); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Errorf("keygen with half a pair: %v", err)
	}
	if _, err := os.Stat(pub); err == nil {
		t.Error("keygen completed half a pair")
	}

	if _, err := keygen(t.TempDir(), "dsa"); err == nil || !strings.Contains(err.Error(), `--type "dsa"`) {
		t.Errorf("keygen --type dsa: %v", err)
	}
}

// Through the CLI: a run without --type keeps any pair (dev.sh runs
// keygen on every start, whatever pair the user made), one with --type
// only a pair of that type.
func TestKeygenCommandType(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) error {
		cobraCmd := &cobra.Command{Use: "authedge-token"}
		caddycmd.Commands()["authedge-token"].CobraFunc(cobraCmd)
		cobraCmd.SetArgs(append([]string{"keygen", "--out", dir}, args...))
		cobraCmd.SetOut(io.Discard)
		cobraCmd.SetErr(io.Discard)
		return cobraCmd.Execute()
	}
	if err := run("--type", "ec"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{nil, {"--type", "ec"}} {
		if err := run(args...); err != nil {
			t.Errorf("keygen %v over an EC pair: %v, want it kept", args, err)
		}
	}
	if err := run("--type", "rsa"); err == nil || !strings.Contains(err.Error(), "ES256 key pair") {
		t.Errorf("keygen --type rsa over an EC pair: %v, want refused", err)
	}
}

// Tokens minted with each key type verify with authedge's own verifier,
// configured with the public key as `jwt public_key`.
func TestMintTokenVerifies(t *testing.T) {
	for keyType, wantAlg := range map[string]string{"rsa": "RS256", "ec": "ES256", "ed25519": "EdDSA"} {
		t.Run(keyType, func(t *testing.T) {
			priv, pub := devKeys(t, keyType)
			now := time.Now()
			raw, err := mintToken(mintOptions{
				keyFile:  priv,
				subject:  "user-1",
				scope:    "profile admin",
				issuer:   "https://dev.authedge.local",
				audience: []string{"dev-env"},
				ttl:      time.Hour,
				deviceID: "dev-1",
				kid:      "k1",
			}, now)
			if err != nil {
				t.Fatal(err)
			}
			header := decodeSegment(t, raw, 0)
			if header["alg"] != wantAlg || header["kid"] != "k1" {
				t.Errorf("header %v, want alg %s and kid k1", header, wantAlg)
			}
			payload := decodeSegment(t, raw, 1)
			if payload["auth_time"] == nil || payload["jti"] == nil || payload["iat"] == nil {
				t.Errorf("payload lacks auth_time, jti or iat: %v", payload)
			}

			v, err := token.New(token.Config{Issuer: "https://dev.authedge.local", PublicKeyFiles: []string{pub}})
			if err != nil {
				t.Fatal(err)
			}
			claims, err := v.Verify(context.Background(), raw, "dev-env")
			if err != nil {
				t.Fatalf("authedge refuses the minted token: %v", err)
			}
			if claims.Subject != "user-1" || !claims.Admin || claims.DeviceID != "dev-1" {
				t.Errorf("claims = %+v", claims)
			}
			if d := claims.Expiry.Sub(now); d < 59*time.Minute || d > time.Hour+time.Second {
				t.Errorf("expiry %v after now, want 1h", d)
			}
			if _, err := v.Verify(context.Background(), raw, "other-client"); err == nil {
				t.Error("the token verified for a client_id not in its aud")
			}
		})
	}
}

func TestMintTokenErrors(t *testing.T) {
	priv, pub := devKeys(t, "ec")
	ok := mintOptions{keyFile: priv, subject: "u", issuer: "i", audience: []string{"a"}, ttl: time.Hour}
	tests := []struct {
		name string
		edit func(o *mintOptions)
		want string
	}{
		{name: "no key", edit: func(o *mintOptions) { o.keyFile = "" }, want: "--key is required"},
		{name: "no sub", edit: func(o *mintOptions) { o.subject = "" }, want: "--sub is required"},
		{name: "zero ttl", edit: func(o *mintOptions) { o.ttl = 0 }, want: "--ttl must be positive"},
		{name: "missing key file", edit: func(o *mintOptions) { o.keyFile = filepath.Join(t.TempDir(), "x.pem") }, want: "reading --key"},
		{name: "public key", edit: func(o *mintOptions) { o.keyFile = pub }, want: "this is a public key"},
		{name: "alg none", edit: func(o *mintOptions) { o.alg = "none" }, want: `--alg: "none" is never accepted`},
		{name: "alg HS256", edit: func(o *mintOptions) { o.alg = "HS256" }, want: `--alg: "HS256" is never accepted`},
		{name: "alg that does not fit the key", edit: func(o *mintOptions) { o.alg = "RS256" }, want: "--alg: RS256 does not fit the key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.edit(&o)
			raw, err := mintToken(o, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("mintToken = %q, %v; want error %q", raw, err, tt.want)
			}
		})
	}

	// Encrypted keys, PKCS #8 and the legacy Proc-Type form, are named
	// as such rather than failing in the PEM parser.
	for name, block := range map[string]*pem.Block{
		"pkcs8": {Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x00}},
		"legacy": {Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"},
			Bytes: make([]byte, 16)},
	} {
		file := filepath.Join(t.TempDir(), name+".pem")
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		o := ok
		o.keyFile = file
		if _, err := mintToken(o, time.Now()); err == nil || !strings.Contains(err.Error(), "encrypted") {
			t.Errorf("%s encrypted key: %v", name, err)
		}
	}

	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(notPEM, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := ok
	o.keyFile = notPEM
	if _, err := mintToken(o, time.Now()); err == nil {
		t.Error("mintToken accepted a file that is not PEM")
	}
}

func decodeSegment(t *testing.T, raw string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// An --alg that does not fit the key is refused: jwx would sign ES384 with
// a P-256 key, or ES512 with a P-384 one, and print a token authedge
// refuses (an EC algorithm is defined on one curve) with exit status 0.
func TestMintTokenAlgMustFitKey(t *testing.T) {
	keys := map[string][2]string{}
	for _, keyType := range []string{"rsa", "ec", "ed25519"} {
		priv, pub := devKeys(t, keyType)
		keys[keyType] = [2]string{priv, pub}
	}
	tests := []struct {
		keyType, alg string
		want         string // "" if it must mint a token authedge accepts
	}{
		{"ec", "ES256", ""},
		{"ec", "ES384", "--alg: ES384 does not fit the key"},
		{"ec", "ES512", "--alg: ES512 does not fit the key"},
		{"ec", "RS256", "--alg: RS256 does not fit the key"},
		{"ec", "EdDSA", "--alg: EdDSA does not fit the key"},
		{"rsa", "RS384", ""},
		{"rsa", "PS256", ""},
		{"rsa", "PS512", ""},
		{"rsa", "ES256", "--alg: ES256 does not fit the key"},
		{"rsa", "EdDSA", "--alg: EdDSA does not fit the key"},
		{"ed25519", "EdDSA", ""},
		{"ed25519", "ES256", "--alg: ES256 does not fit the key"},
		{"ed25519", "RS256", "--alg: RS256 does not fit the key"},
		{"ed25519", "Ed25519", "--alg: Ed25519: give EdDSA"},
		{"ec", "Ed25519", "--alg: Ed25519 does not fit the key"},
		{"rsa", "RS1", `unknown algorithm "RS1"`},
		{"rsa", "rs256", `unknown algorithm "rs256"`},
		{"ec", "hs256", `--alg: "hs256" is never accepted`},
		{"ec", "NONE", `--alg: "NONE" is never accepted`},
	}
	for _, tt := range tests {
		t.Run(tt.keyType+"/"+tt.alg, func(t *testing.T) {
			k := keys[tt.keyType]
			raw, err := mintToken(mintOptions{
				keyFile: k[0], subject: "user-1", issuer: "https://dev.authedge.local",
				audience: []string{"dev-env"}, ttl: time.Hour, alg: tt.alg,
			}, time.Now())
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("mintToken = %.20q…, %v; want error %q", raw, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := decodeSegment(t, raw, 0)["alg"]; got != tt.alg {
				t.Errorf("alg %v, want %s", got, tt.alg)
			}
			algs := []string{tt.alg}
			v, err := token.New(token.Config{Issuer: "https://dev.authedge.local", PublicKeyFiles: []string{k[1]}, Algorithms: algs})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), raw, "dev-env"); err != nil {
				t.Errorf("authedge refuses the minted token: %v", err)
			}
		})
	}
}

// The key file may hold more PEM blocks than the key: `openssl ecparam
// -genkey` writes an EC PARAMETERS block before the EC PRIVATE KEY, and a
// certificate is often kept in the same file as its key.
func TestMintTokenFindsTheKeyAmongPEMBlocks(t *testing.T) {
	priv, pub := devKeys(t, "ec")
	der, err := os.ReadFile(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(der)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	// The named curve P-256, as `openssl ecparam -name prime256v1` writes it.
	params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}})
	sec1PEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})

	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"ecparam.pem":   append(params, sec1PEM...),
		"pub-first.pem": append(append([]byte{}, pubPEM...), der...),
		"with-text.pem": append([]byte("a comment openssl keeps\n"), sec1PEM...),
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name)
			if err := os.WriteFile(file, content, 0o600); err != nil {
				t.Fatal(err)
			}
			raw := devToken(t, file)
			v, err := token.New(token.Config{Issuer: "https://dev.authedge.local", PublicKeyFiles: []string{pub}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), raw, "dev-env"); err != nil {
				t.Errorf("authedge refuses the minted token: %v", err)
			}
		})
	}
}

// FuzzParseSigningKey: any file content is read or refused without a
// panic, and a key read comes with an algorithm authedge accepts.
func FuzzParseSigningKey(f *testing.F) {
	dir := f.TempDir()
	for _, keyType := range []string{"rsa", "ec", "ed25519"} {
		sub := filepath.Join(dir, keyType)
		if _, err := keygen(sub, keyType); err != nil {
			f.Fatal(err)
		}
		for _, name := range []string{privateKeyFile, publicKeyFile} {
			b, err := os.ReadFile(filepath.Join(sub, name))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, alg, err := parseSigningKey(data)
		if err != nil {
			return
		}
		if key == nil {
			t.Fatal("no key and no error")
		}
		if err := token.CheckAlgorithm(alg.String()); err != nil {
			t.Fatalf("picked %s: %v", alg, err)
		}
		// And it fits the key, by the verifier's own rule: a token signed
		// with it is one authedge can accept.
		pub, err := jwk.PublicRawKeyOf(key)
		if err != nil {
			t.Fatalf("a key with no public part: %v", err)
		}
		if err := token.CheckAlgorithmFits(alg.String(), pub); err != nil {
			t.Fatalf("picked %s for a %T: %v", alg, pub, err)
		}
	})
}
