package handler

import (
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
