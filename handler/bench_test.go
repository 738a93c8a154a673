package handler

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// The endpoints' own cost, without Caddy, a real Redis behind the store.
// Run with -benchmem: allocations per request are what the garbage
// collector pays for under load (9 % of Caddy's CPU on basic/edit in
// bench/run.sh). One request at a time, so ns/op is mostly Redis's round
// trip on loopback; bench/run.sh measures throughput.

// BenchmarkServeEdit: bench/run.sh's scenario 3, a new user's first edit
// (nickname and username) each time. Tokens are minted with the timer
// stopped; each is verified, not found in the cache, as in scenario 3.
func BenchmarkServeEdit(b *testing.B) {
	e := newEnv(b, verificationOff(), sudoOff(), withEditLimit(1<<30, time.Minute))
	e.api.log = zap.NewNop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n := strconv.Itoa(i)
		b.StopTimer()
		auth := "Bearer " + e.token("bench-editor-"+n)
		b.StartTimer()
		body := `{"nickname":"Bench ` + n + `","username":"bu_` + n + `"}`
		if code := serveBench(e, http.MethodPost, pathEdit, auth, body); code != http.StatusOK {
			b.Fatalf("edit %d: status %d", i, code)
		}
	}
}

// BenchmarkServeMe: bench/run.sh's scenario 4, one token, one profile.
func BenchmarkServeMe(b *testing.B) {
	e := newEnv(b)
	e.api.log = zap.NewNop()
	auth := "Bearer " + e.token("bench-reader")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if code := serveBench(e, http.MethodGet, pathMe, auth, ""); code != http.StatusOK {
			b.Fatalf("me %d: status %d", i, code)
		}
	}
}

// The Handler variants serve the same requests through a harness that
// allocates nothing per request (one request and one response writer,
// reset each time), so allocs/op is the handler's own: in Caddy, the
// request and the response writer are net/http's, paid by any handler.
// httptest's NewRequest and ResponseRecorder cost 19 allocs a request,
// and more for each header the handler sets (the recorder clones them).

// BenchmarkServeEditHandler is BenchmarkServeEdit through benchHarness.
func BenchmarkServeEditHandler(b *testing.B) {
	e := newEnv(b, verificationOff(), sudoOff(), withEditLimit(1<<30, time.Minute))
	e.api.log = zap.NewNop()
	h := newBenchHarness(http.MethodPost, pathEdit)
	h.r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	var body []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		h.r.Header["Authorization"][0] = "Bearer " + e.token("bench-editor-"+strconv.Itoa(i))
		b.StartTimer()
		body = append(body[:0], `{"nickname":"Bench `...)
		body = strconv.AppendInt(body, int64(i), 10)
		body = append(body, `","username":"bu_`...)
		body = strconv.AppendInt(body, int64(i), 10)
		body = append(body, `"}`...)
		if code := h.serve(e, body); code != http.StatusOK {
			b.Fatalf("edit %d: status %d", i, code)
		}
	}
}

// BenchmarkServeMeHandler is BenchmarkServeMe through benchHarness.
func BenchmarkServeMeHandler(b *testing.B) {
	e := newEnv(b)
	e.api.log = zap.NewNop()
	h := newBenchHarness(http.MethodGet, pathMe)
	h.r.Header["Authorization"][0] = "Bearer " + e.token("bench-reader")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if code := h.serve(e, nil); code != http.StatusOK {
			b.Fatalf("me %d: status %d", i, code)
		}
	}
}

// BenchmarkServeQueryByUsername: an admin's GET user/query?username=, the
// index lookup and the profile read in one script (one Redis round
// trip), beside BenchmarkServeMe's one GET. The name is asked in another
// case than it was stored in, as the index matches it.
func BenchmarkServeQueryByUsername(b *testing.B) {
	e := newEnv(b)
	e.api.log = zap.NewNop()
	e.me("bench-target")
	e.editWith(e.adminToken(), `{"user_id":"bench-target","nickname":"Bench Target","username":"BenchTarget","gender":"MALE"}`).wantOK(b)
	auth := "Bearer " + e.adminToken()
	path := pathQueryUsers + "?username=benchtarget"
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if code := serveBench(e, http.MethodGet, path, auth, ""); code != http.StatusOK {
			b.Fatalf("query %d: status %d", i, code)
		}
	}
}

func serveBench(e *env, method, path, auth, body string) int {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", auth)
	if body != "" {
		r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	return w.Code
}

// benchHarness serves requests without allocating: the request is a copy
// of one template, its body a reused reader, and the response writer keeps
// its header map and buffer across requests.
type benchHarness struct {
	template *http.Request
	r        *http.Request
	body     benchBody
	w        benchWriter
}

func newBenchHarness(method, path string) *benchHarness {
	t := httptest.NewRequest(method, path, nil)
	t.Header.Set("Authorization", "")
	return &benchHarness{template: t, r: t.Clone(t.Context()), w: benchWriter{header: http.Header{}}}
}

// serve serves one request with body and returns its status.
func (h *benchHarness) serve(e *env, body []byte) int {
	header := h.r.Header
	*h.r = *h.template
	h.r.Header = header
	h.body.Reset(body)
	h.r.Body = &h.body
	h.r.ContentLength = int64(len(body))
	clear(h.w.header)
	h.w.code = 0
	h.w.body.Reset()
	e.api.ServeHTTP(&h.w, h.r)
	if h.w.code == 0 {
		h.w.code = http.StatusOK
	}
	return h.w.code
}

type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

type benchWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *benchWriter) Header() http.Header { return w.header }

func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}
