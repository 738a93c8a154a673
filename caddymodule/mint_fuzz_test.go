package caddymodule

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/token"
)

// FuzzMintToken: whatever --sub, --scope, --device-id, --iss, --aud and
// --kid `caddy authedge-token` is given, a token it prints is one
// authedge accepts for that issuer and audience, with the subject, scopes
// and device it was asked for; an argument authedge would refuse the
// token for is refused when minting, not by the edge later.
func FuzzMintToken(f *testing.F) {
	f.Add("user-1", "profile admin", "dev-1", "https://dev.authedge.local", "dev-env", "k1")
	f.Add("用户-ü", "", "", "iss", "aud", "")
	f.Add("u\x00", "a  b", "d\n", "i", "a", "k\"")
	f.Add(" ", " ", " ", " ", " ", " ")
	f.Add("user-\xff", "admin\xfe", "d", "i", "a", "") // JSON cannot hold it as given
	dir := f.TempDir()
	if _, err := keygen(dir, "ed25519"); err != nil {
		f.Fatal(err)
	}
	priv, pub := filepath.Join(dir, privateKeyFile), filepath.Join(dir, publicKeyFile)
	now := time.Now()
	// The fuzz body passes over whatever mintToken refuses: a plain token
	// must mint, or refusing everything would pass.
	if _, err := mintToken(mintOptions{keyFile: priv, subject: "user-1", scope: "profile admin",
		issuer: "https://dev.authedge.local", audience: []string{"dev-env"}, ttl: time.Hour, deviceID: "dev-1", kid: "k1"}, now); err != nil {
		f.Fatalf("a plain token was refused: %v", err)
	}
	f.Fuzz(func(t *testing.T, sub, scope, device, iss, aud, kid string) {
		if aud == "" {
			return // --aud "" is no audience: the default one is minted
		}
		raw, err := mintToken(mintOptions{keyFile: priv, subject: sub, scope: scope, issuer: iss,
			audience: []string{aud}, ttl: time.Hour, deviceID: device, kid: kid}, now)
		if err != nil {
			return
		}
		v, err := token.New(token.Config{Issuer: iss, PublicKeyFiles: []string{pub},
			Now: func() time.Time { return now }})
		if err != nil {
			return // an issuer no verifier can be configured with
		}
		c, err := v.Verify(context.Background(), raw, aud)
		if err != nil {
			t.Fatalf("sub %q scope %q device %q iss %q aud %q kid %q: minted a token authedge refuses: %v",
				sub, scope, device, iss, aud, kid, err)
		}
		if c.Subject != sub || c.Scopes != scope || c.DeviceID != device {
			t.Fatalf("asked sub %q scope %q device %q, authedge reads %q %q %q", sub, scope, device, c.Subject, c.Scopes, c.DeviceID)
		}
	})
}
