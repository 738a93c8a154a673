package pemkey

import (
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func blk(typ string) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: []byte(typ)}))
}

func TestBlock(t *testing.T) {
	for _, c := range []struct {
		name, data string
		private    bool
		want       string // the block's type, or a piece of the error
	}{
		{"EC parameters first", blk("EC PARAMETERS") + blk("EC PRIVATE KEY"), true, "EC PRIVATE KEY"},
		{"certificate first", blk("CERTIFICATE") + blk("PRIVATE KEY"), true, "PRIVATE KEY"},
		{"public where private is wanted", blk("PUBLIC KEY"), true, "public key"},
		{"certificate alone", blk("CERTIFICATE"), true, "public key"},
		{"public allowed", blk("EC PARAMETERS") + blk("PUBLIC KEY"), false, "PUBLIC KEY"},
		{"encrypted", blk("ENCRYPTED PRIVATE KEY"), true, "encrypted"},
		{"nothing", "not PEM", true, "no PEM private key"},
		{"nothing public", "", false, "no PEM key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := Block([]byte(c.data), c.private)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = b.Type
			}
			if !strings.Contains(got, c.want) || (err == nil) != strings.HasSuffix(c.want, "KEY") {
				t.Errorf("Block = %q, want %q", got, c.want)
			}
		})
	}
	if _, err := Block([]byte(blk("PUBLIC KEY")), true); !errors.Is(err, ErrPublic) {
		t.Errorf("a public key where a private one is wanted: %v, want ErrPublic", err)
	}
}

// FuzzBlock: whatever the file, Block returns a key block of a kind asked
// for, or an error; never a public key where a private one is wanted.
func FuzzBlock(f *testing.F) {
	f.Add([]byte(blk("EC PARAMETERS")+blk("EC PRIVATE KEY")), true)
	f.Add([]byte(blk("PUBLIC KEY")+blk("PRIVATE KEY")), false)
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END PRIVATE KEY-----\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, private bool) {
		b, err := Block(data, private)
		if err != nil {
			return
		}
		isPrivate := strings.HasSuffix(b.Type, "PRIVATE KEY") && b.Type != "ENCRYPTED PRIVATE KEY"
		if !isPrivate && (private || b.Type != "PUBLIC KEY") {
			t.Fatalf("Block(private=%v) gave a %q block", private, b.Type)
		}
	})
}
