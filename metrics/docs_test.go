package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDocsListEveryMetric checks docs/metrics.md against the collectors:
// every metric has its own section whose heading names it with its labels,
// every fixed label value is named in that section (the endpoint names are
// the handler's, not this package's), and the page documents
// no metric that does not exist. An operator writes alerts from that page.
func TestDocsListEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	heading := regexp.MustCompile("(?m)^### `(authedge_[a-z_]+)(?:\\{([a-z_, ]*)\\})?`")
	sections := map[string]struct{ labels, text string }{}
	prev := ""
	locs := heading.FindAllStringSubmatchIndex(doc, -1)
	for i, loc := range locs {
		end := len(doc)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if next := strings.Index(doc[loc[1]:end], "\n## "); next >= 0 {
			end = loc[1] + next
		}
		name := doc[loc[2]:loc[3]]
		labels := ""
		if loc[4] >= 0 {
			labels = doc[loc[4]:loc[5]]
		}
		text := doc[loc[1]:end]
		if strings.Contains(text, "Labels as above") {
			text += prev
		}
		sections[name] = struct{ labels, text string }{labels, text}
		prev = text
	}

	reg := prometheus.NewPedanticRegistry()
	s := New()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	// The endpoint label's values are the handler's endpoint names; one
	// makes the metric's series exist.
	s.Endpoint("user.me")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		name := f.GetName()
		seen[name] = true
		sec, ok := sections[name]
		if !ok {
			t.Errorf("docs/metrics.md has no section \"### `%s{...}`\"", name)
			continue
		}
		values := map[string]map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if values[l.GetName()] == nil {
					values[l.GetName()] = map[string]bool{}
				}
				values[l.GetName()][l.GetValue()] = true
			}
		}
		var names []string
		for label, vals := range values {
			names = append(names, label)
			for v := range vals {
				if label == "endpoint" {
					break
				}
				if !strings.Contains(sec.text, "`"+v+"`") {
					t.Errorf("docs/metrics.md, %s: label %s value %q is not listed", name, label, v)
				}
			}
		}
		for _, label := range names {
			if !regexp.MustCompile(`\b` + label + `\b`).MatchString(sec.labels) {
				t.Errorf("docs/metrics.md: the heading of %s does not name its label %s", name, label)
			}
		}
		if got, want := len(strings.FieldsFunc(sec.labels, func(r rune) bool { return r == ',' || r == ' ' })), len(names); got != want {
			t.Errorf("docs/metrics.md: the heading of %s names %d labels, the metric has %d", name, got, want)
		}
	}
	for name := range sections {
		if !seen[name] {
			t.Errorf("docs/metrics.md documents %s, which authedge does not report", name)
		}
	}
}
