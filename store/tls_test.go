package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// writeCert writes a CA and a server certificate for 127.0.0.1 signed by
// it, as PEM files in dir, and returns the CA.
func writeCert(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for name, block := range map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := writeCert(t, dir)
	tlsPort := redistest.FreePort(t)
	redistest.Start(t,
		"--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", filepath.Join(dir, "cert.pem"),
		"--tls-key-file", filepath.Join(dir, "key.pem"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"),
		"--tls-auth-clients", "no",
	)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))

	// The system roots do not know the test CA: a misconfiguration, said
	// at once and not mistaken for an outage.
	untrusted, err := New(Options{Addresses: []string{addr}, EnvironmentID: testEnv, TLS: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	err = untrusted.Ping(context.Background())
	if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: err = %v", err)
	}

	trusted, err := New(Options{Addresses: []string{addr}, EnvironmentID: testEnv, TLS: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer trusted.Close()
	trusted.dial.tls.RootCAs = x509.NewCertPool()
	trusted.dial.tls.RootCAs.AddCert(ca)
	if err := trusted.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := trusted.Edit(context.Background(), Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, Changes: Changes{Username: ptr("tls")}}); err != nil {
		t.Fatal(err)
	}

	// Plain TCP to a TLS port gets no Redis answer: unavailable.
	wantUnavailable(t, time.Second, storeAt(t, addr, time.Second).Ping)
}
