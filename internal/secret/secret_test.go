package secret

import "testing"

func TestShapesMatchWhatIsIssued(t *testing.T) {
	for range 100 {
		if c, id, tok := Code(), ID(), Token(); !IsCode(c) || !IsID(id) || !IsToken(tok) {
			t.Fatalf("issued values refused: %q %q %q", c, id, tok)
		}
	}
	for _, s := range []string{"", "12345", "1234567", "12345a", "١٢٣٤٥٦"} {
		if IsCode(s) {
			t.Errorf("IsCode(%q)", s)
		}
	}
	id := ID()
	for _, s := range []string{"", id[:21], id + "A", id[:21] + ".", id[:21] + "\n", id[:21] + "="} {
		if IsID(s) {
			t.Errorf("IsID(%q)", s)
		}
	}
	tok := Token()
	for _, s := range []string{"", tok[:42], tok + "A", tok[:42] + "+", id} {
		if IsToken(s) {
			t.Errorf("IsToken(%q)", s)
		}
	}
}
