// Package pemkey finds the key among a PEM file's blocks, for the two
// readers of key files (the identity edge's assertion key and the
// authedge-token command's signing key).
package pemkey

import (
	"encoding/pem"
	"errors"
	"strings"
)

// ErrPublic is Block's error for a file that holds a public key (or a
// certificate) where a private key is wanted.
var ErrPublic = errors.New("this is a public key; signing needs the private key")

// Block is the first key block in data: a private key's ("PRIVATE KEY",
// "EC PRIVATE KEY", "RSA PRIVATE KEY"), or, unless private, a public
// key's ("PUBLIC KEY"). Other blocks are passed over: `openssl ecparam
// -genkey` writes EC PARAMETERS before the key, and a certificate is often
// kept beside its key. An encrypted private key is an error, with the
// command that decrypts it.
func Block(data []byte, private bool) (*pem.Block, error) {
	var public bool
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "":
			return nil, errors.New("the private key is encrypted; decrypt it first (openssl pkey -in <file> -out <new file>)")
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			return block, nil
		case strings.HasSuffix(block.Type, "PUBLIC KEY") || block.Type == "CERTIFICATE":
			if !private && block.Type == "PUBLIC KEY" {
				return block, nil
			}
			public = private
		}
	}
	if public {
		return nil, ErrPublic
	}
	if private {
		return nil, errors.New("no PEM private key in it")
	}
	return nil, errors.New("no PEM key in it")
}
