package handler

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsListEveryEndpoint holds docs/api.md's endpoint table and
// docs/metrics.md's endpoint label values to the handler's endpoint table:
// an endpoint a client can call is in the table with its method, a row of
// the table is served, and each endpoint's metrics name is documented.
func TestDocsListEveryEndpoint(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile("../docs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	api, metricsDoc := read("api.md"), read("metrics.md")
	row := regexp.MustCompile("(?m)^\\| `(GET|POST|PATCH|DELETE) (/auth/v1/[^`<]*)(?:<[a-z_]+>)?` \\|")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(api, -1) {
		documented[m[1]+" "+m[2]] = true
	}
	served := map[string]bool{}
	for _, e := range endpoints {
		key := e.method + " " + e.path
		served[key] = true
		if !documented[key] {
			t.Errorf("docs/api.md's endpoint table has no row for %s", key)
		}
		if !strings.Contains(metricsDoc, "`"+e.name+"`") {
			t.Errorf("docs/metrics.md does not list the endpoint label %q", e.name)
		}
	}
	for key := range documented {
		// The identity edge's key set is served by edge/, not this table.
		if !served[key] && key != "GET /auth/v1/identity/jwks" {
			t.Errorf("docs/api.md lists %s, which the handler does not serve", key)
		}
	}
	if len(documented) < len(endpoints) {
		t.Errorf("read %d rows of docs/api.md's endpoint table for %d endpoints", len(documented), len(endpoints))
	}
}
