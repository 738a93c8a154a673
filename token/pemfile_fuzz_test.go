package token

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadPEMFile: a public_key file is read or refused with a reason,
// never a panic; what is read is one usable public key per PEM block of
// the file (none silently dropped), each the key that block holds.
func FuzzLoadPEMFile(f *testing.F) {
	k := keys()
	block := func(typ string, pub crypto.PublicKey) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			f.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	rsaBlock, ecBlock, edBlock := block("PUBLIC KEY", &k.rsa.PublicKey), block("PUBLIC KEY", &k.ec256.PublicKey), block("PUBLIC KEY", k.ed.Public())
	f.Add(rsaBlock)
	f.Add(append(append(append([]byte{}, ecBlock...), edBlock...), rsaBlock...))
	f.Add(append([]byte("\n\n"), edBlock...))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)}))
	f.Add(block("RSA PUBLIC KEY", &k.rsa.PublicKey))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 0}}))
	f.Add(append(append([]byte{}, ecBlock...), "trailing"...))
	f.Add([]byte(`{"kty":"EC"}`))
	path := filepath.Join(f.TempDir(), "key.pem")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := loadPEMFile(path)
		if err != nil {
			if got != nil || err.Error() == "" {
				t.Fatalf("keys %v with %v", got, err)
			}
			return
		}
		var blocks []*pem.Block
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			blocks = append(blocks, b)
		}
		if len(got) == 0 || len(got) != len(blocks) {
			t.Fatalf("%d PEM blocks read as %d keys", len(blocks), len(got))
		}
		for i, key := range got {
			if key.kind == 0 || (key.rsa == nil && key.ec == nil && key.ed == nil) || key.kid != "" {
				t.Fatalf("key %d read as %+v", i+1, key)
			}
			want := parsePublicBlock(blocks[i])
			der, err := x509.MarshalPKIXPublicKey(key.raw())
			if want == nil || err != nil {
				t.Fatalf("block %d (%s) read as %+v; the standard library reads %v", i+1, blocks[i].Type, key, want)
			}
			wantDER, _ := x509.MarshalPKIXPublicKey(want)
			if string(der) != string(wantDER) {
				t.Fatalf("block %d (%s) read as another key than the standard library reads", i+1, blocks[i].Type)
			}
		}
	})
}

// parsePublicBlock is the public key of b as crypto/x509 reads it, or nil.
func parsePublicBlock(b *pem.Block) crypto.PublicKey {
	switch b.Type {
	case "PUBLIC KEY":
		k, _ := x509.ParsePKIXPublicKey(b.Bytes)
		return k
	case "RSA PUBLIC KEY":
		if k, err := x509.ParsePKCS1PublicKey(b.Bytes); err == nil {
			return k
		}
	case "CERTIFICATE":
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			return c.PublicKey
		}
	}
	return nil
}
