package tests

import (
	"fmt"
	"net"
	"net/http"
	"net/http/fcgi"
	"path/filepath"
	"sync"
	"testing"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// The identity edge among Caddy's other directives, end to end.

// fcgiApp stands for a PHP front controller behind php_fastcgi: it routes
// on REQUEST_URI, as Laravel and Symfony do, and keeps what it saw.
type fcgiApp struct {
	addr string
	mu   sync.Mutex
	seen []string // "<REQUEST_URI> user=<X-User-Id>"
}

func newFcgiApp(t *testing.T) *fcgiApp {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &fcgiApp{addr: l.Addr().String()}
	go func() {
		_ = fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.mu.Lock()
			a.seen = append(a.seen, fmt.Sprintf("%s user=%s", r.URL.RequestURI(), r.Header.Get("X-User-Id")))
			a.mu.Unlock()
			w.WriteHeader(http.StatusTeapot)
		}))
	}()
	t.Cleanup(func() { l.Close() })
	return a
}

func (a *fcgiApp) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.seen
	a.seen = nil
	return s
}

// Caddy runs try_files (and rewrite, uri) before authedge. A top-level
// `try_files {path} /index.php` hands authedge /index.php for /admin/x,
// while php_fastcgi gives PHP the client's /admin/x as REQUEST_URI: the
// front controller serves its /admin/x route. It needs a token all the
// same.
func TestIdentityRewriteBeforeEdgeProtectsThePathSent(t *testing.T) {
	_, ec, _ := testKeys(t)
	dir := t.TempDir()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "index.php"), "<?php // the front controller")
	app := newFcgiApp(t)
	rd := redistest.Start(t)
	caddy := startCaddy(t, fmt.Sprintf(`	root * %s
	try_files {path} /index.php?{query}
	authedge {
		environment_id %s
		jwt {
			issuer %s
			public_key %s
		}
		redis {
			address %s
		}
		verification {
			required off
		}
		sudo {
			sensitive off
		}
		identity {
			protect /admin /admin/*
			header X-User-Id sub
		}
	}
	php_fastcgi %s`, root, testEnv, testIssuer, writePublicPEM(t, dir, "ec.pem", ec), rd.Addr, app.addr))

	if resp := send(t, "GET", caddy.URL+"/admin/x", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/admin/x without a token: %d, want 401; PHP saw %q", resp.StatusCode, app.take())
	}
	send(t, "GET", caddy.URL+"/admin/x", ec.mint(t, "user-1", nil))
	if got := app.take(); len(got) != 1 || got[0] != "/admin/x user=user-1" {
		t.Errorf("/admin/x with a token: PHP saw %q, want [/admin/x user=user-1]", got)
	}
	send(t, "GET", caddy.URL+"/public", "")
	if got := app.take(); len(got) != 1 || got[0] != "/public user=" {
		t.Errorf("/public: PHP saw %q, want [/public user=]", got)
	}
}
