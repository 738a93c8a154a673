package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	%s
	php_fastcgi %s`, root, minimalAuthedge(writePublicPEM(t, dir, "ec.pem", ec), rd.Addr, `		identity {
			protect /admin /admin/*
			header X-User-Id sub
		}`), app.addr))

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

// streamApp is an app with a WebSocket echo (/ws, /app/ws), a stream of
// server-sent events (/app/sse) that waits for the client to read each
// event before it writes the next, and an upload sink that tells the test
// what it has read as it reads.
type streamApp struct {
	*httptest.Server
	handshakes chan http.Header // the headers of each WebSocket handshake
	read       chan int64       // bytes of an upload read so far
	trailers   chan http.Header // the trailers of each upload, once read
	next       chan struct{}    // the SSE client read an event
}

func newStreamApp(t *testing.T) *streamApp {
	a := &streamApp{handshakes: make(chan http.Header, 8), read: make(chan int64, 1024),
		trailers: make(chan http.Header, 8), next: make(chan struct{})}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Upgrade") == "websocket":
			a.handshakes <- r.Header.Clone()
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			_ = brw.Flush()
			hello := make([]byte, len("hello"))
			n, _ := io.ReadFull(brw, hello)
			_, _ = c.Write(append([]byte("echo:"), hello[:n]...))
		case r.URL.Path == "/app/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				_ = http.NewResponseController(w).Flush()
				select {
				case <-a.next:
				case <-time.After(10 * time.Second):
					return
				}
			}
		default:
			var n int64
			buf := make([]byte, 64<<10)
			for {
				k, err := r.Body.Read(buf)
				n += int64(k)
				select {
				case a.read <- n:
				default:
				}
				if err != nil {
					break
				}
			}
			a.trailers <- r.Trailer.Clone()
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

// A WebSocket handshake, an upload and a stream of events pass the edge:
// the handshake with the caller's headers and none of the client's, the
// upload to the app as it is sent (authedge reads no body) and without
// the client's identity trailers, the events to the client as the app
// writes them.
func TestIdentityWebSocketAndStreams(t *testing.T) {
	_, ec, _ := testKeys(t)
	dir := t.TempDir()
	app := newStreamApp(t)
	rd := redistest.Start(t)
	caddy := startCaddy(t, fmt.Sprintf(`	%s
	reverse_proxy %s`, minimalAuthedge(writePublicPEM(t, dir, "ec.pem", ec), rd.Addr, `		identity {
			protect /app /app/*
			header X-User-Id sub
			strip_authorization
		}`), strings.TrimPrefix(app.URL, "http://")))
	host := strings.TrimPrefix(caddy.URL, "http://")
	tok := ec.mint(t, "user-1", nil)

	for _, c := range []struct {
		path, tok string
		status    int
		user      string
	}{
		{"/app/ws", tok, 101, "user-1"},
		{"/app/ws", "", 401, ""},
		{"/ws", "", 101, ""},
		{"/ws", "not-a-token", 101, ""},
	} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		auth := ""
		if c.tok != "" {
			auth = "Authorization: Bearer " + c.tok + "\r\n"
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade, X-User-Id\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-User-Id: evil\r\n%s\r\n",
			c.path, host, auth)
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		name := fmt.Sprintf("%s with token %q", c.path, c.tok)
		if c.tok == tok {
			name = c.path + " with a valid token"
		}
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.status)
		}
		if resp.StatusCode == 101 {
			h := <-app.handshakes
			if v := h.Values("X-User-Id"); (c.user == "" && len(v) != 0) || (c.user != "" && (len(v) != 1 || v[0] != c.user)) {
				t.Errorf("%s: the app's handshake had X-User-Id %q, want %q", name, v, c.user)
			}
			if h.Get("Authorization") != "" {
				t.Errorf("%s: the app's handshake had Authorization", name)
			}
			_, _ = conn.Write([]byte("hello"))
			if got, err := io.ReadAll(br); string(got) != "echo:hello" {
				t.Errorf("%s: through the socket: %q, %v", name, got, err)
			}
		}
		conn.Close()
	}

	// An upload reaches the app while the client is still sending it.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", caddy.URL+"/app/upload", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan error, 1)
	go func() {
		resp, err := httpClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-app.read:
	case <-time.After(10 * time.Second):
		t.Error("the app read nothing of an upload still being sent")
	}
	for range 16 {
		if _, err := pw.Write(make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-app.trailers

	// Trailers, declared or not, carry no identity header to the app.
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /app/upload HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Trailer: X-User-Id, X-Other\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n0\r\nX-User-Id: evil\r\nx-user_id: evil\r\nX-Other: kept\r\n\r\n", host, tok)
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != http.StatusTeapot {
		t.Fatalf("upload with trailers: %v %v", resp, err)
	}
	trailers := <-app.trailers
	for k, v := range trailers {
		if strings.Contains(strings.Join(v, ""), "evil") {
			t.Errorf("the app got the trailer %s: %q", k, v)
		}
	}
	if trailers.Get("X-Other") != "kept" {
		t.Errorf("the app's trailers %v lack X-Other: kept", trailers)
	}

	// Each event reaches the client before the app writes the next.
	req, err = http.NewRequest("GET", caddy.URL+"/app/sse", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := events.ReadString('\n')
		if want := fmt.Sprintf("data: %d\n", i); line != want || err != nil {
			t.Fatalf("event %d: %q, %v; want %q", i, line, err, want)
		}
		_, _ = events.ReadString('\n')
		select {
		case app.next <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatalf("the app gave up waiting for event %d to be read", i)
		}
	}
}

// Requests on one kept-alive connection: each is identified by its own
// token only. One without a token, or with a bad one, after one with a
// valid token reaches the app anonymous; HEAD and OPTIONS are identified
// as GET is.
func TestIdentityKeepAliveRequestsAreIdentifiedApart(t *testing.T) {
	s := newEdgeStack(t)
	caddy := s.start(s.writeAssertionKey("a.pem"), "", filepath.Join(s.dir, "access.log"))
	_, ec, _ := testKeys(t)
	tok := ec.mint(t, "user-1", nil)
	host := strings.TrimPrefix(caddy.URL, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for i, st := range []struct{ method, tok, user string }{
		{"GET", tok, "user-1"}, {"GET", "", ""}, {"HEAD", tok, "user-1"}, {"GET", "not-a-token", ""},
		{"OPTIONS", tok, "user-1"}, {"POST", "", ""},
	} {
		req := fmt.Sprintf("%s /public HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n", st.method, host)
		if st.tok != "" {
			req += "Authorization: Bearer " + st.tok + "\r\n"
		}
		if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: st.method})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got, _ := s.app.take()
		if got == nil {
			t.Fatalf("request %d (%s): the app got nothing (%d)", i, st.method, resp.StatusCode)
		}
		for _, h := range []string{"X-User-Id", "X-Proxy-User"} {
			if v := got.Get(h); v != st.user {
				t.Errorf("request %d (%s, token %v): %s = %q, want %q", i, st.method, st.tok != "", h, v, st.user)
			}
		}
		if a := got.Get("X-Authedge-Assertion"); (a != "") != (st.user != "") {
			t.Errorf("request %d (%s, token %v): assertion %q", i, st.method, st.tok != "", a)
		}
		if got.Get("Authorization") != "" {
			t.Errorf("request %d (%s): strip_authorization let Authorization through", i, st.method)
		}
	}
}
