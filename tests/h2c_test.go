package tests

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// h2c smuggling (docs/identity.md, "WebSockets and streams"): a client
// asks reverse_proxy for an upgrade to a protocol that carries HTTP (h2c,
// say); an app that accepts answers 101, and from then on the client
// sends HTTP/2 requests down the tunnel straight to the app, with forged
// identity headers, for paths the edge protects.

// h2cApp is an app that accepts an upgrade to HTTP/2 in cleartext, and
// tells the test every request it serves, whichever way it came.
type h2cApp struct {
	*httptest.Server
	seen chan string // "<path> X-User-Id=<value>"
}

// newH2CApp starts the app: strict is x/net's h2c.NewHandler (RFC 7540's
// upgrade, HTTP2-Settings listed in Connection); otherwise the app, as
// some servers do, switches to HTTP/2 when Upgrade names h2c, whatever
// Connection says (answering with the Upgrade asked for, which
// reverse_proxy checks), and stands too for an app that carries HTTP over
// the other protocols of tunnelsHTTP.
func newH2CApp(t *testing.T, strict bool) *h2cApp {
	a := &h2cApp{seen: make(chan string, 64)}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.seen <- r.URL.Path + " X-User-Id=" + r.Header.Get("X-User-Id"):
		default:
		}
		w.WriteHeader(http.StatusTeapot)
	})
	var h http.Handler = h2c.NewHandler(app, &http2.Server{})
	if !strict {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			up := r.Header.Values("Upgrade")
			if !tunnelsHTTP(up) {
				app.ServeHTTP(w, r)
				return
			}
			settings, _ := base64.RawURLEncoding.DecodeString(r.Header.Get("HTTP2-Settings"))
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + up[0] + "\r\n\r\n")
			_ = brw.Flush()
			r.Body = http.NoBody
			(&http2.Server{}).ServeConn(bufferedConn{c, brw.Reader}, &http2.ServeConnOpts{
				Handler: app, UpgradeRequest: r, Settings: settings})
		})
	}
	a.Server = httptest.NewServer(h)
	t.Cleanup(a.Close)
	return a
}

// tunnelsHTTP reports whether an Upgrade token names h2c, h2 (or a
// draft name of either, h2c-17), HTTP/<version> or TLS/<version>, in any
// case.
func tunnelsHTTP(upgrade []string) bool {
	for _, v := range upgrade {
		for _, t := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(t), "/")
			switch lower := strings.ToLower(name); {
			case lower == "h2c", lower == "h2", lower == "http", lower == "tls":
				return true
			case strings.HasPrefix(lower, "h2c-"), strings.HasPrefix(lower, "h2-"):
				return true // HTTP/2's draft names, which Jetty and Undertow may take
			}
		}
	}
	return false
}

// bufferedConn is a hijacked connection read through the server's buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// smuggle sends one HTTP/1.1 request to host with the raw header lines
// given, and if it is answered 101, sends through the tunnel an HTTP/2
// request for path with a forged X-User-Id and no token. It returns the
// status of the first answer and, after a 101, the :status of the
// tunnelled request's answer ("" if none came).
func smuggle(t *testing.T, host, reqPath, headers, path string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", reqPath, host, headers)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, ""
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, ""
	}
	// The client's preface, then a request on stream 3 (stream 1 is the
	// upgrade request's own).
	_, _ = io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, br)
	_ = fr.WriteSettings()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", host},
		{":path", path}, {"x-user-id", "evil"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block.Bytes(),
		EndStream: true, EndHeaders: true})
	dec := hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 101, ""
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			fields, _ := dec.DecodeFull(f.HeaderBlockFragment())
			if f.StreamID == 3 {
				for _, hf := range fields {
					if hf.Name == ":status" {
						return 101, hf.Value
					}
				}
			}
		case *http2.GoAwayFrame:
			return 101, ""
		}
	}
}

// No upgrade to a protocol that carries HTTP reaches the app, from an
// unprotected path or a protected one with a valid token, however it is
// spelt: the request is answered over HTTP/1.1, as if the client had not
// asked, and no request sent down a tunnel reaches the app.
func TestIdentityNoHTTPTunnelPastTheEdge(t *testing.T) {
	_, ec, _ := testKeys(t)
	dir := t.TempDir()
	rd := redistest.Start(t)
	pem := writePublicPEM(t, dir, "ec.pem", ec)
	tok := ec.mint(t, "user-1", nil)
	settings := "HTTP2-Settings: AAMAAABkAAQAAP__\r\n"
	variants := []string{
		"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" + settings, // curl --http2
		"Connection: Upgrade\r\nUpgrade: h2c\r\n" + settings,
		"Connection: Upgrade\r\nUpgrade: h2c\r\n",
		"Connection: upgrade\r\nUpgrade: H2C\r\n" + settings,
		"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c, websocket\r\n" + settings,
		"Connection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n",
		"Connection: keep-alive, Upgrade\r\nUpgrade: h2c\r\nUpgrade: websocket\r\n",
		"Connection: Upgrade\r\nUpgrade: h2\r\n",
		"Connection: Upgrade\r\nUpgrade: HTTP/2.0\r\n",
		"Connection: Upgrade\r\nUpgrade: http/2.0\r\n" + settings,
		"Connection: Upgrade\r\nUpgrade: HTTP/1.1\r\n",
		"Connection: Upgrade\r\nUpgrade: TLS/1.2\r\n",
		"Connection: Upgrade\r\nUpgrade: tls/1.0, HTTP/1.1\r\n",
		"Connection: Upgrade\r\nUpgrade: h2c-17\r\n" + settings, // a draft name
		"Connection: Upgrade\r\nUpgrade: H2C-14\r\n" + settings,
		"Connection: Upgrade\r\nUpgrade: h2-16\r\n",
	}
	for _, strict := range []bool{true, false} {
		app := newH2CApp(t, strict)
		caddy := startCaddy(t, fmt.Sprintf(`	%s
	reverse_proxy %s`, minimalAuthedge(pem, rd.Addr, `		identity {
			protect /app/*
			header X-User-Id sub
		}`), strings.TrimPrefix(app.URL, "http://")))
		host := strings.TrimPrefix(caddy.URL, "http://")
		for _, v := range variants {
			for _, from := range []struct{ path, auth, user string }{
				{"/public", "", ""},
				{"/app/page", "Authorization: Bearer " + tok + "\r\n", "user-1"},
			} {
				name := fmt.Sprintf("strict app %v, from %s, %q", strict, from.path, v)
				status, tunnelled := smuggle(t, host, from.path, v+from.auth, "/app/secret")
				if status != http.StatusTeapot || tunnelled != "" {
					t.Errorf("%s: answered %d (tunnelled request: %q), want the app's 418 over HTTP/1.1",
						name, status, tunnelled)
				}
			drain:
				for {
					select {
					case s := <-app.seen:
						if s != from.path+" X-User-Id="+from.user {
							t.Errorf("%s: the app served %s", name, s)
						}
					default:
						break drain
					}
				}
			}
		}
	}
}
