package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
)

// TestTextTablesShowControlCharactersVisibly: the demo's tables print
// host names and tenant names from the API and the configuration on a
// terminal; an escape sequence or a tab in one shows as its escape.
func TestTextTablesShowControlCharactersVisibly(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := writeCells(&b, []string{"HOST", "ERROR"}, [][]string{{"evil\x1b[2J\x1b]8;;https://x\x07", "tab\there\u0085"}}); err != nil {
		t.Fatal(err)
	}
	table := NewDayTable(&b, 1, "north\x1b[31mwind")
	if err := table.Close(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsFunc(out, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) {
		t.Errorf("the tables hold control characters raw: %q", out)
	}
	for _, want := range []string{`evil\x1b[2J\x1b]8;;https://x\x07`, `tab\there\u0085`, `NORTH\x1b[31MWIND`} {
		if !strings.Contains(out, want) {
			t.Errorf("the tables lack %q: %q", want, out)
		}
	}
}

// TestVisibleControlsAcrossWrites: a character cut between two writes of
// the template is still recognized, and a valid one passes unchanged.
func TestVisibleControlsAcrossWrites(t *testing.T) {
	t.Parallel()
	in := "a\u0085b\u202ec é😀 d\x1b"
	for cut := range len(in) + 1 {
		var b bytes.Buffer
		v := &visibleControls{w: &b}
		v.Write([]byte(in[:cut]))
		v.Write([]byte(in[cut:]))
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := b.String(), `a\u0085b\u202ec é😀 d\x1b`; got != want {
			t.Errorf("cut at %d: %q, want %q", cut, got, want)
		}
	}
}
