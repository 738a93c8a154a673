package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/logging"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/metrics"

	"github.com/authedge/caddy-authedge/config"
)

// docsFiller stands for the parts of an authedge block that a docs snippet
// leaves out as `...`: enough for the config rules to pass, no file read.
var docsFiller = []struct{ name, text string }{
	{"environment_id", "environment_id dev-env"},
	{"jwt", "jwt {\n\tissuer https://idp.example.com\n\tpublic_key /keys/idp.pem\n}"},
	{"redis", "redis {\n\taddress 127.0.0.1:6379\n}"},
	{"verification", "verification {\n\tlog\n}"},
}

// docSnippet is one fenced Caddyfile block of the docs.
type docSnippet struct {
	where string // file:line of the opening fence
	text  string
}

// fence opens or closes a fenced block, possibly indented (in a list).
var fence = regexp.MustCompile("^(\\s*)```\\s*(\\w*)\\s*$")

// docSnippets returns the Caddyfile blocks of README.md and docs/*.md: those
// fenced as caddyfile, and unlabelled ones that open a `redis` block (the
// fragments of topologies.md). (api.md's unlabelled `log` block needs
// Caddy's logging modules, which this package does not build with.)
func docSnippets(t *testing.T) []docSnippet {
	return docBlocks(t, func(lang, first string) bool {
		return lang == "caddyfile" || (lang == "" && strings.HasPrefix(first, "redis {"))
	})
}

// docBlocks returns the fenced blocks of README.md and docs/*.md that keep
// says to keep, given the block's language and first line.
func docBlocks(t *testing.T, keep func(lang, first string) bool) []docSnippet {
	t.Helper()
	files, err := filepath.Glob("../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	files = append([]string{"../README.md"}, files...)
	var out []docSnippet
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			m := fence.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			indent, lang, start := m[1], strings.ToLower(m[2]), i
			var body []string
			for i++; i < len(lines) && !fence.MatchString(lines[i]); i++ {
				body = append(body, strings.TrimPrefix(lines[i], indent))
			}
			first := ""
			if len(body) > 0 {
				first = strings.TrimSpace(body[0])
			}
			if keep(lang, first) {
				out = append(out, docSnippet{
					where: strings.TrimPrefix(file, "../") + ":" + strconv.Itoa(start+1),
					text:  strings.Join(body, "\n") + "\n",
				})
			}
		}
	}
	return out
}

// syntaxTemplate marks a block that shows a syntax (`<id>...`), not a
// value: it is not a config.
var syntaxTemplate = regexp.MustCompile(`<[a-z][a-z-]*>`)

// comment is a Caddyfile comment, which may name a syntax in a config.
var comment = regexp.MustCompile(`(?m)(^|\s)#.*$`)

// completeSnippet turns a docs fragment into a whole Caddyfile: `{ ... }`
// and `...` become the filler's directives that the block does not give
// itself, an authedge subdirective block (`redis {`) is put in an authedge
// block, a snippet of other directives gets an authedge block beside them,
// and directives outside a site block are put in one.
func completeSnippet(s string) string {
	fill := func(present string) string {
		var parts []string
		for _, f := range docsFiller {
			if !regexp.MustCompile(`(?m)^\s*` + f.name + `\b`).MatchString(present) {
				parts = append(parts, f.text)
			}
		}
		return strings.Join(parts, "\n")
	}
	// `jwt { ... }` on one line: that block's filler.
	s = regexp.MustCompile(`(?m)^(\s*)(\w+) \{ \.\.\. \}.*$`).ReplaceAllStringFunc(s, func(line string) string {
		name := strings.Fields(line)[0]
		if name == "authedge" {
			return "authedge {\n" + fill("") + "\n}"
		}
		for _, f := range docsFiller {
			if f.name == name {
				return f.text
			}
		}
		return line
	})
	// A bare `...` line: the filler's directives this snippet lacks.
	s = regexp.MustCompile(`(?m)^\s*\.\.\.\s*$`).ReplaceAllLiteralString(s, fill(s))
	first := strings.Fields(s)[0]
	if first == "redis" {
		s = "authedge {\n" + fill(s) + "\n" + s + "}\n"
		first = "authedge"
	}
	if !regexp.MustCompile(`(?m)^\s*authedge\b`).MatchString(s) {
		// Caddy directives shown beside authedge (log, log_append, ...).
		s = "authedge {\n" + fill("") + "\n}\n" + s
		first = "authedge"
	}
	// A snippet definition, `(name) {`, opens a whole Caddyfile too.
	if !strings.Contains(first, ".") && !strings.HasPrefix(first, ":") && !strings.HasPrefix(first, "(") && first != "localhost" {
		s = "example.com {\n" + s + "}\n"
	}
	return s
}

// TestDocsCaddyfileSnippets adapts every Caddyfile block of README.md and
// docs/ (fragments completed with a minimal authedge config) as `caddy
// adapt` does, and checks each authedge handler in it against the rules a
// config must pass to load (config.Validate, which reads no file), so that
// a snippet a reader copies is one Caddy takes.
func TestDocsCaddyfileSnippets(t *testing.T) {
	snippets := docSnippets(t)
	if len(snippets) < 10 {
		t.Fatalf("found %d Caddyfile blocks in the docs; the extraction is broken", len(snippets))
	}
	checked := 0
	for _, sn := range snippets {
		t.Run(sn.where, func(t *testing.T) {
			if syntaxTemplate.MatchString(comment.ReplaceAllString(sn.text, "")) {
				t.Skip("a syntax template, not a config")
			}
			whole := completeSnippet(sn.text)
			out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(whole), map[string]any{"filename": sn.where})
			if err != nil {
				t.Fatalf("adapt: %v\n%s", err, whole)
			}
			for _, w := range warnings {
				// The completion is not laid out as caddy fmt would.
				if !strings.Contains(w.Message, "not formatted") {
					t.Errorf("adapt warning: %s", w)
				}
			}
			handlers := authedgeHandlers(t, out)
			if len(handlers) == 0 {
				t.Fatalf("no authedge handler in the adapted snippet:\n%s", whole)
			}
			for _, raw := range handlers {
				var c config.Config
				if err := json.Unmarshal(raw, &c); err != nil {
					t.Fatalf("authedge handler JSON: %v", err)
				}
				if err := c.Validate(); err != nil {
					t.Errorf("the config would not load: %v\n%s", err, whole)
				}
			}
			checked++
		})
	}
	if checked < 5 {
		t.Errorf("only %d docs snippets were checked", checked)
	}
}

// authedgeHandlers finds every `"handler": "authedge"` object in an
// adapted config, however deep in subroutes.
func authedgeHandlers(t *testing.T, adapted []byte) []json.RawMessage {
	t.Helper()
	var found []json.RawMessage
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil {
			if h, ok := obj["handler"]; ok && string(h) == `"authedge"` {
				found = append(found, raw)
				return
			}
			for _, v := range obj {
				walk(v)
			}
			return
		}
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) == nil {
			for _, v := range arr {
				walk(v)
			}
		}
	}
	walk(adapted)
	return found
}

// TestDocsJSONConfigs decodes every authedge handler in the JSON blocks of
// README.md and docs/ strictly, as Caddy loads a module (an unknown or
// misspelt field fails), and checks it against the config rules. The
// identity block shown alone is put in a minimal handler.
func TestDocsJSONConfigs(t *testing.T) {
	blocks := docBlocks(t, func(lang, first string) bool { return lang == "json" })
	checked := 0
	for _, b := range blocks {
		text := strings.TrimSpace(b.text)
		if strings.HasPrefix(text, `"identity"`) {
			text = `{"handler": "authedge", "environment_id": "dev-env",
				"jwt": {"issuer": "https://idp.example.com", "public_keys": ["/keys/idp.pem"]},
				"verification": {"log": true}, ` + text + `}`
		}
		if !strings.Contains(text, `"authedge"`) {
			continue // an answer or an event, not a config
		}
		t.Run(b.where, func(t *testing.T) {
			handlers := authedgeHandlers(t, json.RawMessage(text))
			if len(handlers) == 0 {
				t.Fatalf("no authedge handler found in:\n%s", text)
			}
			for _, raw := range handlers {
				var fields map[string]json.RawMessage
				if err := json.Unmarshal(raw, &fields); err != nil {
					t.Fatal(err)
				}
				delete(fields, "handler") // Caddy's module key, not a field
				stripped, err := json.Marshal(fields)
				if err != nil {
					t.Fatal(err)
				}
				var c config.Config
				if err := caddy.StrictUnmarshalJSON(stripped, &c); err != nil {
					t.Errorf("Caddy would not decode it: %v", err)
					continue
				}
				if err := c.Validate(); err != nil {
					t.Errorf("the config would not load: %v", err)
				}
			}
			checked++
		})
	}
	if checked < 3 {
		t.Errorf("only %d JSON configs in the docs were checked", checked)
	}
}
