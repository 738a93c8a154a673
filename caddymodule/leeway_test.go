package caddymodule

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// `leeway 0s` loads and means strict expiry: a token that expired a second
// ago is refused, where the default leeway (and an explicit 30s) accepts it.
// Before zero was told apart from unset, `leeway 0s` was a config error.
func TestLeewayZeroIsStrictExpiry(t *testing.T) {
	srv := redistest.Start(t)
	priv, pub := devKeys(t, "ec")
	// Issued 61 s ago for 60 s: expired 1 s ago.
	raw, err := mintToken(mintOptions{
		keyFile: priv, subject: "user-1", issuer: "https://dev.authedge.local",
		audience: []string{"dev-env"}, ttl: time.Minute,
	}, time.Now().Add(-61*time.Second))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		leeway string // the jwt block's leeway line
		want   int
	}{
		{leeway: "leeway 0s", want: http.StatusUnauthorized},
		{leeway: "leeway 30s", want: http.StatusOK},
		{leeway: "", want: http.StatusOK}, // the default, 30s
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.leeway), func(t *testing.T) {
			var h Handler
			input := fmt.Sprintf(`authedge {
				environment_id dev-env
				jwt {
					issuer https://dev.authedge.local
					public_key %s
					%s
				}
				redis {
					address %s
				}
				verification {
					log
				}
			}`, pub, tt.leeway, srv.Addr)
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
				t.Fatalf("Caddyfile: %v", err)
			}
			served := provisioned(t, h.Config)

			r := httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil)
			r.Header.Set("Authorization", "Bearer "+raw)
			w := httptest.NewRecorder()
			if err := served.ServeHTTP(w, r, &nextHandler{}); err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if w.Code != tt.want {
				t.Errorf("token expired 1 s ago, %s: status %d, want %d; body %s", tt.leeway, w.Code, tt.want, w.Body)
			}
		})
	}
}
