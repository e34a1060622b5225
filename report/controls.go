package report

import (
	"io"
	"unicode/utf8"

	"github.com/agentsync/agentsync/internal/safetext"
)

// visibleControls passes a page through to w with every control character
// shown as its escape (\x01, \x1b, \u0085), and every bidirectional
// embedding, override or isolate too (\u202e): text from the API or a
// configuration file may carry them, raw they are HTML parse errors, act
// on a terminal the report is printed to, or reverse what a cell shows.
// Tabs and line breaks stay. The template's own text has none of them, so
// only what the data carried changes. Close writes what a character cut
// between two writes left pending.
type visibleControls struct {
	w       io.Writer
	pending []byte // the start of a character the next write finishes
	buf     []byte
}

func (v *visibleControls) Write(p []byte) (int, error) {
	n := len(p)
	if len(v.pending) > 0 {
		p = append(v.pending, p...)
		v.pending = nil
	}
	out := v.buf[:0]
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				out = append(out, safetext.Escape(string(c))...)
			} else {
				out = append(out, c)
			}
			i++
			continue
		}
		if !utf8.FullRune(p[i:]) {
			v.pending = append(v.pending, p[i:]...)
			break
		}
		r, size := utf8.DecodeRune(p[i:])
		if hidden(r) {
			out = append(out, safetext.Escape(string(p[i:i+size]))...)
		} else {
			out = append(out, p[i:i+size]...)
		}
		i += size
	}
	v.buf = out
	if _, err := v.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}

// Close writes what is pending: an incomplete character, escaped.
func (v *visibleControls) Close() error {
	if len(v.pending) == 0 {
		return nil
	}
	_, err := v.w.Write([]byte(safetext.Escape(string(v.pending))))
	v.pending = nil
	return err
}

// hidden reports the characters past ASCII that the page shows escaped:
// C1 controls and the bidirectional embeddings, overrides and isolates.
// Invalid UTF-8 is escaped too (html/template passes it on).
func hidden(r rune) bool {
	return r == utf8.RuneError || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
