package edge

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"testing"

	"github.com/authedge/caddy-authedge/store"
)

var randReader = rand.Reader

func httpRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func x509MarshalPKIX(t testing.TB, pub any) ([]byte, error) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func editNickname(user, nick string) store.Edit {
	return store.Edit{Actor: user, Target: user, CreateIfMissing: true, Changes: store.Changes{Nickname: &nick}}
}
