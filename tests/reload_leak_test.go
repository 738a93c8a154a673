package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// loadCaddyfile posts caddyfile to c's admin /load, forcing a reload even
// when it is unchanged, and returns the status and body.
func loadCaddyfile(t *testing.T, c *caddyProc, caddyfile string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+c.Admin+"/load", strings.NewReader(caddyfile))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// caddyGoroutines is the number of goroutines in c, from its admin pprof.
func caddyGoroutines(t *testing.T, c *caddyProc) (int, string) {
	t.Helper()
	resp, err := httpClient.Get("http://" + c.Admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	line, _, _ := bytes.Cut(body, []byte("\n"))
	n, err := strconv.Atoi(strings.TrimPrefix(string(line), "goroutine profile: total "))
	if err != nil {
		t.Fatalf("goroutine profile: %q", line)
	}
	return n, string(body)
}

// caddyFDs is the number of open file descriptors of c.
func caddyFDs(t *testing.T, c *caddyProc) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// redisClients is the number of clients connected to s, this test's
// CLIENT LIST connection excluded.
func redisClients(t *testing.T, s *redistest.Server) int {
	t.Helper()
	out, err := redistest.Command(s.Addr, "CLIENT", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "cmd=client|list") || strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		n++
	}
	return n
}

// TestReloadsLeakNothingThroughAdmin: twenty reloads through the admin
// API of the built Caddy, changing the environment, then the Redis, one
// failing half-way (a good first site on the other Redis, a second whose
// key file is missing) and two that change nothing, each followed by a
// request, leave no goroutine or descriptor behind, nothing connected to
// a Redis the config no longer names, and no consumer of a worker a
// reload stopped in the events group. Every handler has everything that
// outlives a config: a remote JWKS, an events worker, the store and its
// revocation reader.
func TestReloadsLeakNothingThroughAdmin(t *testing.T) {
	redisA, redisB := redistest.Start(t), redistest.Start(t)
	rsa, ec, _ := testKeys(t)
	dir := t.TempDir()
	keyEC := writePublicPEM(t, dir, "ec.pem", ec)
	jwkKey, err := jwk.FromRaw(rsa.pub)
	if err != nil {
		t.Fatal(err)
	}
	_ = jwkKey.Set(jwk.AlgorithmKey, "RS256")
	_ = jwkKey.Set(jwk.KeyUsageKey, "sig")
	set := jwk.NewSet()
	_ = set.AddKey(jwkKey)
	setJSON, _ := json.Marshal(set)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(setJSON)
	}))
	defer jwks.Close()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer receiver.Close()
	t.Setenv(eventsSecretVar, eventsSecret)

	const envB = "e2e-env-b"
	authedge := func(env, redisAddr string) string {
		keys := "public_key " + keyEC + "\n\t\t\tjwks_url " + jwks.URL + "/jwks.json"
		return minimalAuthedgeWithKeys(env, keys, redisAddr, fmt.Sprintf(`		events {
			webhook %s {env.%s}
		}
		identity {
			protect /p/*
		}`, receiver.URL, eventsSecretVar))
	}
	c := startCaddy(t, "\t"+authedge(testEnv, redisA.Addr)+"\n\trespond \"app\" 200")
	badPort := redistest.FreePorts(t, 1)[0]
	caddyfile := func(variant int) string {
		head := fmt.Sprintf("{\n\tadmin %s\n\tpersist_config off\n}\n\n", c.Admin)
		switch variant {
		case 1:
			return head + fmt.Sprintf("%s {\n\t%s\n\trespond \"app\" 200\n}\n", c.URL, authedge(envB, redisA.Addr))
		case 2:
			return head + fmt.Sprintf("%s {\n\t%s\n\trespond \"app\" 200\n}\n", c.URL, authedge(testEnv, redisB.Addr))
		case 3: // a good first site, a second that fails to provision
			return head + fmt.Sprintf("%s {\n\t%s\n\trespond \"app\" 200\n}\n\nhttp://127.0.0.1:%d {\n\t%s\n\trespond \"app\" 200\n}\n",
				c.URL, authedge(envB, redisB.Addr), badPort,
				strings.Replace(authedge("other", redisB.Addr), keyEC, dir+"/missing.pem", 1))
		}
		return head + fmt.Sprintf("%s {\n\t%s\n\trespond \"app\" 200\n}\n", c.URL, authedge(testEnv, redisA.Addr))
	}
	tokens := map[int]string{
		0: rsa.mint(t, "user-a", nil),
		1: rsa.mint(t, "user-b", claims{"aud": []string{envB}}),
		2: ec.mint(t, "user-c", nil),
	}
	get := func(path, token string) int {
		t.Helper()
		var err error
		// Caddy itself, with no authedge in the config, now and then
		// closes a connection accepted just after a reload unanswered
		// (EOF): that is tried once more.
		for range 2 {
			req, _ := http.NewRequest(http.MethodGet, c.URL+path, nil)
			req.Close = true
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			var resp *http.Response
			if resp, err = httpClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
		}
		t.Fatal(err)
		return 0
	}
	current := 0
	reload := func(variant int) {
		t.Helper()
		code, body := loadCaddyfile(t, c, caddyfile(variant))
		if variant == 3 {
			if code == http.StatusOK {
				t.Fatalf("a config with a missing key file loaded")
			}
		} else {
			if code != http.StatusOK {
				t.Fatalf("load variant %d: %d %s", variant, code, body)
			}
			current = variant
		}
		if got := get("/auth/v1/user/me", tokens[current]); got != http.StatusOK {
			t.Fatalf("after loading variant %d (serving %d): user/me = %d", variant, current, got)
		}
		if got := get("/p/x", ""); got != http.StatusUnauthorized {
			t.Fatalf("after loading variant %d: /p/x = %d", variant, got)
		}
	}
	// noClients waits until nothing is connected to s: no config uses it.
	noClients := func(s *redistest.Server, after string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			n := redisClients(t, s)
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				out, _ := redistest.Command(s.Addr, "CLIENT", "LIST")
				t.Fatalf("%s: %d clients still connected to a Redis no config uses:\n%s", after, n, out)
			}
		}
	}
	for v := range 4 {
		reload(v)
	}
	reload(0)
	settle := func() (int, int, int, string) {
		time.Sleep(500 * time.Millisecond)
		g, stacks := caddyGoroutines(t, c)
		// Idle connections in the pools in use come and go with the
		// traffic: counted apart from the other descriptors.
		return g, caddyFDs(t, c) - redisClients(t, redisA) - redisClients(t, redisB), redisClients(t, redisA), stacks
	}
	g0, fd0, a0, _ := settle()
	t.Logf("baseline: %d goroutines, %d fds besides Redis, %d clients of Redis A", g0, fd0, a0)
	for i := range 20 {
		v := []int{2, 1, 3, 0, 0}[i%5]
		reload(v)
		switch v {
		case 2:
			noClients(redisA, "serving the config on Redis B")
		case 1, 3:
			noClients(redisB, fmt.Sprintf("serving a config on Redis A (loaded %d)", v))
		}
	}
	var g, fd, a int
	var stacks string
	for deadline := time.Now().Add(10 * time.Second); ; {
		g, fd, a, stacks = settle()
		if (g <= g0+2 && fd <= fd0+2) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("after 20 reloads: %d goroutines, %d fds besides Redis, %d clients of Redis A", g, fd, a)
	// A worker replaced or stopped by a reload leaves the group, holding
	// nothing: consumers do not pile up, one per reload.
	for _, sc := range []struct {
		s      *redistest.Server
		stream string
		want   int
	}{
		{redisA, eventsStream, 1},
		{redisA, "authedge:{" + envB + "}:events", 0},
		{redisB, eventsStream, 0},
		{redisB, "authedge:{" + envB + "}:events", 0},
	} {
		out, err := redistest.Command(sc.s.Addr, "XINFO", "CONSUMERS", sc.stream, "authedge-webhook")
		// No stream or no group there: no consumer either. Any other
		// error would read as none and pass unseen.
		if err != nil && !strings.Contains(err.Error(), "NOGROUP") && !strings.Contains(err.Error(), "no such key") {
			t.Fatalf("XINFO CONSUMERS %s on %s: %v", sc.stream, sc.s.Addr, err)
		}
		if n := strings.Count("\n"+out+"\n", "\nname\n"); n != sc.want {
			t.Errorf("%s on %s has %d consumers, want %d:\n%s", sc.stream, sc.s.Addr, n, sc.want, out)
		}
	}
	if g > g0+2 || fd > fd0+2 {
		t.Errorf("leak: goroutines %d -> %d, fds besides Redis %d -> %d\n%s", g0, g, fd0, fd, stacks)
	}
}
