// Command memload produces the memory figures of issue 4 (bench/run.sh runs
// it; it can also be run by hand against servers you started):
//
//	memload redis -addr 127.0.0.1:6379 -n 1000000
//
// loads n full profiles (all seven basic/edit fields, plus the timestamps
// the store adds; with -oidc also birthdate, zoneinfo and locale) and their unique-index entries, each naming its owner,
// through the module's own store code (store.New, store.Edit with
// CreateIfMissing, as a first edit would), checks that the index names the
// owner of a few of them (store.Owner), then prints Redis's used_memory
// growth per user as JSON (P4). Redis should be otherwise idle and hold no
// other data being written.
//
//	memload rss -url http://127.0.0.1:8080/auth/v1/user/me -tokens toks.txt -n 1000000 -pid 1234
//
// sends n distinct tokens (one line of the file each, from bench/mint) to a
// token-checking authedge endpoint, requires every answer to be 200, and
// prints the Caddy process's VmRSS before and after as JSON (P5).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/profile"
	"github.com/authedge/caddy-authedge/store"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: memload redis|rss [flags] (memload redis -h)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "redis":
		err = loadRedis(os.Args[2:])
	case "rss":
		err = sendTokens(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: want redis or rss", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "memload:", err)
		os.Exit(1)
	}
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// progress prints a line to stderr every few seconds while work runs.
func progress(label string, done *atomic.Int64, total int) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				n := done.Load()
				fmt.Fprintf(os.Stderr, "memload %s: %d/%d (%.0f/s)\n", label, n, total, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

// ------------------------------------------------------------------ redis

// valueSets are the profile shapes memload can load. Each value is unique
// where its field is unique and in the normalised form the handler would pass
// to the store (checked with the profile package's own rules).
//
//   - typical: lengths typical of real profiles (170 bytes of values);
//   - short: the shapes of store's TestMemoryPerUser (123 bytes of values,
//     19-digit user IDs like CloudBase's), to compare with that test.
var valueSets = map[string]func(i int) (userID string, raw [7]string){
	"typical": func(i int) (string, [7]string) {
		return fmt.Sprintf("bench-user-%09d", i), [7]string{
			fmt.Sprintf("Bench User %07d", i),
			fmt.Sprintf("bench_user_%07d", i),
			// 139 is a Chinese mobile prefix: +86 139 and eight digits is valid.
			fmt.Sprintf("+86 139%08d", i),
			fmt.Sprintf("bench.user.%07d@example.com", i),
			fmt.Sprintf("https://cdn.example.com/avatars/%07d.png", i),
			[]string{profile.GenderMale, profile.GenderFemale}[i%2],
			fmt.Sprintf("Profile %07d, loaded by bench/memload.", i),
		}
	},
	"short": func(i int) (string, [7]string) {
		return fmt.Sprintf("17%017d", i), [7]string{
			fmt.Sprint("Nick ", i),
			fmt.Sprint("User", i),
			fmt.Sprintf("+86 13%09d", i),
			fmt.Sprintf("user%d@example.com", i),
			fmt.Sprintf("https://cdn.example.com/a/%d.png", i),
			[]string{profile.GenderMale, profile.GenderFemale}[i%2],
			fmt.Sprintf("Hello, I am user %d.", i),
		}
	},
}

// userProfile is user i's ID and profile in the given value set, every
// field set and normalised by the profile package.
func userProfile(set string, i int) (string, store.Changes, error) {
	user, raw := valueSets[set](i)
	nickname, err := profile.Nickname(raw[0])
	if err != nil {
		return "", store.Changes{}, err
	}
	username, _, err := profile.Username(raw[1])
	if err != nil {
		return "", store.Changes{}, err
	}
	phone, err := profile.ParsePhone(raw[2])
	if err != nil {
		return "", store.Changes{}, err
	}
	email, _, err := profile.Email(raw[3])
	if err != nil {
		return "", store.Changes{}, err
	}
	avatar, err := profile.AvatarURL(raw[4])
	if err != nil {
		return "", store.Changes{}, err
	}
	gender, err := profile.Gender(raw[5])
	if err != nil {
		return "", store.Changes{}, err
	}
	description, err := profile.Description(raw[6])
	if err != nil {
		return "", store.Changes{}, err
	}
	return user, store.Changes{
		Nickname: &nickname, Username: &username, Phone: &phone.Display, Email: &email,
		AvatarURL: &avatar, Gender: &gender, Description: &description,
	}, nil
}

// zones and locales are what -oidc draws zoneinfo and locale from: common
// values of typical lengths (13 and 5 bytes on average).
var (
	zones   = []string{"Asia/Shanghai", "Europe/Paris", "America/New_York", "Asia/Tokyo"}
	locales = []string{"zh-CN", "en-US", "fr-FR", "ja-JP"}
)

// addOIDC sets user i's birthdate, zoneinfo and locale (PATCH
// user/profile's fields), normalised by the profile package: 33 more bytes
// of values, plus their three separators.
func addOIDC(ch *store.Changes, i int) error {
	birthdate, err := profile.Birthdate(time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%20000).Format(time.DateOnly), time.Now())
	if err != nil {
		return err
	}
	zone, err := profile.Zoneinfo(zones[i%len(zones)])
	if err != nil {
		return err
	}
	locale, err := profile.Locale(locales[i%len(locales)])
	if err != nil {
		return err
	}
	ch.Birthdate, ch.Zoneinfo, ch.Locale = &birthdate, &zone, &locale
	return nil
}

type redisMemory struct {
	UsedMemory        int64 `json:"used_memory"`
	UsedMemoryDataset int64 `json:"used_memory_dataset"`
	Keys              int64 `json:"keys"`
}

func readMemory(ctx context.Context, c *redis.Client) (redisMemory, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return redisMemory{}, err
	}
	var m redisMemory
	for _, line := range strings.Split(info, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "used_memory":
			m.UsedMemory, _ = strconv.ParseInt(v, 10, 64)
		case "used_memory_dataset":
			m.UsedMemoryDataset, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if m.Keys, err = c.DBSize(ctx).Result(); err != nil {
		return redisMemory{}, err
	}
	return m, nil
}

func loadRedis(args []string) error {
	fs := flag.NewFlagSet("redis", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:6379", "Redis address")
	env := fs.String("env", "bench-env", "environment ID (the keys' hash tag)")
	prefix := fs.String("prefix", "authedge", "key prefix")
	n := fs.Int("n", 1000000, "profiles to load")
	start := fs.Int("start", 0, "index of the first user (load more users on top of an earlier run)")
	values := fs.String("values", "typical", "profile shapes: typical or short")
	workers := fs.Int("concurrency", 64, "concurrent edits (the store pipelines them over its connection pool)")
	oidc := fs.Bool("oidc", false, "also set birthdate, zoneinfo and locale (PATCH user/profile's fields); without it they are empty, as for a user who never set them")
	fs.Parse(args)
	if *n <= 0 || *start < 0 || *start+*n > 1e7 {
		return errors.New("need -n > 0 and start+n at most 10,000,000 (the generated values have 7 digits)")
	}
	if valueSets[*values] == nil {
		return fmt.Errorf("-values %q: want typical or short", *values)
	}

	ctx := context.Background()
	raw := redis.NewClient(&redis.Options{Addr: *addr})
	defer raw.Close()
	before, err := readMemory(ctx, raw)
	if err != nil {
		return fmt.Errorf("INFO memory: %w", err)
	}
	st, err := store.New(store.Options{
		Addresses:     []string{*addr},
		Prefix:        *prefix,
		EnvironmentID: *env,
		Timeout:       10 * time.Second,
	})
	if err != nil {
		return err
	}
	defer st.Close()

	var done atomic.Int64
	// firstErr is written once by a worker and read after wg.Wait; the
	// feeding loop only watches failed.
	var firstErr error
	var errOnce sync.Once
	var failed atomic.Bool
	next := make(chan int, 1024)
	var wg sync.WaitGroup
	began := time.Now()
	stop := progress("redis", &done, *n)
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				user, ch, err := userProfile(*values, i)
				if err == nil && *oidc {
					err = addOIDC(&ch, i)
				}
				if err == nil {
					var res store.EditResult
					res, err = st.Edit(ctx, store.Edit{Actor: user, Target: user, CreateIfMissing: true, Changes: ch})
					if err == nil && !res.Created {
						err = fmt.Errorf("user %d already had a profile: load into an empty Redis (or use -start)", i)
					}
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("profile %d: %w", i, err); failed.Store(true) })
					continue
				}
				done.Add(1)
			}
		}()
	}
	for i := *start; i < *start+*n; i++ {
		if failed.Load() {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	stop()
	if firstErr != nil {
		return firstErr
	}
	elapsed := time.Since(began)
	after, err := readMemory(ctx, raw)
	if err != nil {
		return fmt.Errorf("INFO memory: %w", err)
	}
	checked, err := checkOwners(ctx, st, *values, *start, *n)
	if err != nil {
		return err
	}
	users := float64(*n)
	return printJSON(map[string]any{
		"users":                       *n,
		"values":                      *values,
		"oidc_fields_set":             *oidc,
		"seconds":                     elapsed.Seconds(),
		"edits_per_second":            users / elapsed.Seconds(),
		"before":                      before,
		"after":                       after,
		"bytes_per_user":              float64(after.UsedMemory-before.UsedMemory) / users,
		"dataset_bytes_per_user":      float64(after.UsedMemoryDataset-before.UsedMemoryDataset) / users,
		"keys_per_user":               float64(after.Keys-before.Keys) / users,
		"sample_profile_field_values": sampleValues(*values, *start),
		// The figure is with owners: every index entry holds its owner's
		// user ID, checked here on a sample.
		"index_entries_name_owner": true,
		"owners_checked":           checked,
	})
}

// checkOwners looks up the username, phone and email of up to 100 of the
// loaded users, spread over the load, and requires the index to name each
// user as their owner.
func checkOwners(ctx context.Context, st *store.Store, set string, start, n int) (int, error) {
	step := max(n/100, 1)
	checked := 0
	for i := start; i < start+n; i += step {
		user, ch, err := userProfile(set, i)
		if err != nil {
			return checked, err
		}
		for field, value := range map[string]string{"username": *ch.Username, "phone": *ch.Phone, "email": *ch.Email} {
			owner, ok, err := st.Owner(ctx, field, value)
			if err != nil {
				return checked, err
			}
			if !ok || owner != user {
				return checked, fmt.Errorf("the %s index names %q as the owner of user %d's %s, want %q", field, owner, i, field, user)
			}
		}
		checked++
	}
	return checked, nil
}

// sampleValues shows what one loaded profile holds, for the README.
func sampleValues(set string, i int) map[string]string {
	user, ch, err := userProfile(set, i)
	if err != nil {
		return nil
	}
	return map[string]string{
		"user_id":  user,
		"nickname": *ch.Nickname, "username": *ch.Username, "phone": *ch.Phone, "email": *ch.Email,
		"avatar_url": *ch.AvatarURL, "gender": *ch.Gender, "description": *ch.Description,
	}
}

// -------------------------------------------------------------------- rss

type procMemory struct {
	RSSKB int64 `json:"vm_rss_kb"`
	HWMKB int64 `json:"vm_hwm_kb"`
}

func readProc(pid int) (procMemory, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMemory{}, err
	}
	var m procMemory
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.RSSKB = kb
		case "VmHWM":
			m.HWMKB = kb
		}
	}
	return m, nil
}

func sendTokens(args []string) error {
	fs := flag.NewFlagSet("rss", flag.ExitOnError)
	url := fs.String("url", "", "token-checking endpoint (GET with Authorization: Bearer)")
	tokens := fs.String("tokens", "", "token file from bench/mint, one token a line")
	n := fs.Int("n", 1000000, "tokens to send (the first n lines)")
	pid := fs.Int("pid", 0, "PID of the Caddy process to measure")
	workers := fs.Int("concurrency", 64, "concurrent requests")
	settle := fs.Duration("settle", 5*time.Second, "wait this long after the last request before reading VmRSS again")
	fs.Parse(args)
	if *url == "" || *tokens == "" || *pid <= 0 || *n <= 0 {
		return errors.New("need -url, -tokens, -pid and -n > 0")
	}
	f, err := os.Open(*tokens)
	if err != nil {
		return err
	}
	defer f.Close()
	before, err := readProc(*pid)
	if err != nil {
		return err
	}

	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *workers, MaxConnsPerHost: *workers},
	}
	var done, bad atomic.Int64
	statuses := sync.Map{}
	next := make(chan string, 1024)
	var wg sync.WaitGroup
	var peak atomic.Int64
	began := time.Now()
	stop := progress("rss", &done, *n)
	// Sample RSS while the load runs: the peak matters as much as the end.
	sampleQuit := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleQuit:
				return
			case <-t.C:
				if m, err := readProc(*pid); err == nil && m.RSSKB > peak.Load() {
					peak.Store(m.RSSKB)
				}
			}
		}
	}()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tok := range next {
				req, _ := http.NewRequest(http.MethodGet, *url, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				code := 0
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				if code != http.StatusOK {
					bad.Add(1)
				}
				c, _ := statuses.LoadOrStore(code, new(atomic.Int64))
				c.(*atomic.Int64).Add(1)
				done.Add(1)
			}
		}()
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	sent := 0
	for sent < *n && sc.Scan() {
		next <- sc.Text()
		sent++
	}
	close(next)
	wg.Wait()
	stop()
	elapsed := time.Since(began)
	if err := sc.Err(); err != nil {
		return err
	}
	if sent < *n {
		return fmt.Errorf("the token file has only %d tokens, %d asked", sent, *n)
	}
	time.Sleep(*settle)
	close(sampleQuit)
	sampler.Wait()
	after, err := readProc(*pid)
	if err != nil {
		return err
	}
	byStatus := map[string]int64{}
	statuses.Range(func(k, v any) bool {
		byStatus[strconv.Itoa(k.(int))] = v.(*atomic.Int64).Load()
		return true
	})
	out := map[string]any{
		"tokens":                 sent,
		"seconds":                elapsed.Seconds(),
		"requests_per_second":    float64(sent) / elapsed.Seconds(),
		"statuses":               byStatus,
		"before":                 before,
		"after":                  after,
		"peak_sampled_rss_kb":    peak.Load(),
		"rss_before_mb":          float64(before.RSSKB) / 1024,
		"rss_after_mb":           float64(after.RSSKB) / 1024,
		"rss_high_water_mark_mb": float64(after.HWMKB) / 1024,
	}
	if err := printJSON(out); err != nil {
		return err
	}
	if bad.Load() > 0 {
		return fmt.Errorf("%d of %d answers were not 200: the figure does not count", bad.Load(), sent)
	}
	return nil
}
