// Package safetext makes text that may carry bytes a server sent fit to
// log, to print on a terminal and to store in PostgreSQL: error messages,
// rejection reasons, the start of a response body. It is one small leaf
// package so that extract, which knows the secrets in use, and load, which
// stores a failed run's error, share one mechanism, without load importing
// HTTP code or extract importing pgx.
package safetext

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limit bounds what Text returns, cut marker included: room for any error
// this program makes, far less than what a broken or hostile server can
// send (a body may hold megabytes in one string).
const Limit = 1024

// Redacted replaces every secret and token.
const Redacted = "[redacted]"

// cutMarker ends a text that was cut.
const cutMarker = "…[truncated]"

// minLimit is the smallest bound Cut accepts; smaller ones are raised to
// it, so that some text always shows before the marker.
const minLimit = 32

// wordSlack is how far past its bound Cut reads to finish a word it would
// cut: tokens hold no spaces, and the patterns below should see them whole.
const wordSlack = 4096

// Text returns s fit for a log line, a terminal and a PostgreSQL text
// column, in at most Limit bytes. See Cut.
func Text(s string, secrets ...string) string { return Cut(s, Limit, secrets...) }

// Cut returns s fit for a log line, a terminal and a PostgreSQL text
// column, in at most n bytes:
//
//   - every non-empty secret, and whatever is shaped like a credential (a
//     bearer token, a JWT, the value of a client_secret, client_assertion,
//     access_token or password parameter, the password of a URL), becomes
//     [redacted];
//   - each byte of invalid UTF-8 becomes \xNN, and each control or other
//     unprintable character its escape (\n, \x00, \x1b, \u202e), so the
//     result is valid UTF-8, one line, without NUL, and no terminal acts
//     on it;
//   - past n bytes, s is cut and "…[truncated]" marks the cut.
//
// Secrets are removed before the cut, so that no part of one survives at
// the edge. Only the start of s is read, so cutting a huge text is cheap.
// Backslashes are kept as they are, so that Cut of its own result (with
// the same or a larger n) returns it unchanged.
func Cut(s string, n int, secrets ...string) string {
	n = max(n, minLimit)
	end := readEnd(len(s), n, func(lo, hi int) string { return s[lo:hi] }, secrets)
	return clean(s[:end], n, end < len(s), secrets)
}

// CutBytes is Cut of a body, such as the start of a response quoted in an
// error. It copies only the part it reads.
func CutBytes(b []byte, n int, secrets ...string) string {
	n = max(n, minLimit)
	end := readEnd(len(b), n, func(lo, hi int) string { return string(b[lo:hi]) }, secrets)
	return clean(string(b[:end]), n, end < len(b), secrets)
}

// readEnd returns how much of a text of size bytes Cut reads: twice the
// bound (redactions shrink the text), then to the end of the word there,
// then past any secret that would be cut in two. at returns the text
// between two offsets.
func readEnd(size, n int, at func(lo, hi int) string, secrets []string) int {
	end := 2*n + 16
	if end >= size {
		return size
	}
	// Finish the word: a token cut in two might no longer match a pattern.
	if word := at(end, min(size, end+wordSlack)); word != "" {
		if i := strings.IndexAny(word, " \t\r\n"); i >= 0 {
			end += i
		} else {
			end += len(word)
		}
	}
	for widened := true; widened && end < size; {
		widened = false
		for _, secret := range forms(secrets) {
			// In this window any occurrence starts before end and finishes
			// after it.
			lo, hi := max(0, end-len(secret)+1), min(size, end+len(secret)-1)
			if lo >= hi {
				continue
			}
			if i := strings.Index(at(lo, hi), secret); i >= 0 {
				end, widened = lo+i+len(secret), true
			}
		}
	}
	return end
}

// forms returns the non-empty secrets, each also as it appears inside a
// quoted string (a JSON or Go string escapes some characters) when that
// differs.
func forms(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		out = append(out, s)
		if q := strconv.Quote(s); q[1:len(q)-1] != s {
			out = append(out, q[1:len(q)-1])
		}
	}
	return out
}

// credential is a pattern of text shaped like a secret, whoever's it
// is, and what replaces it: the part that names the secret stays. Each
// still matches a token cut short, so a cut cannot show a token's start.
type credential struct {
	re   *regexp.Regexp
	repl string
}

var credentials = []credential{
	// An Authorization header value, or a token introduced as one.
	{regexp.MustCompile(`(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*`), "${1}" + Redacted},
	// A JWT: base64url of a JSON header ({"...), then payload and signature.
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}`), Redacted},
	// A form, query or JSON member carrying a secret.
	{regexp.MustCompile(`(?i)\b((?:client_secret|client_assertion|access_token|refresh_token|id_token|password|passwd)\\?["']?\s*[:=]\s*\\?["']?)[^\s"'&,;}\\]+`), "${1}" + Redacted},
	// The password of a URL: scheme://user:password@host.
	{regexp.MustCompile(`\b([A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@`), "${1}" + Redacted + "@"},
}

// clean redacts, escapes and bounds s, the part of a text Cut read;
// truncated says that the text went on past it.
func clean(s string, n int, truncated bool, secrets []string) string {
	secrets = forms(secrets)
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, Redacted)
	}
	for _, c := range credentials {
		s = c.re.ReplaceAllString(s, c.repl)
	}
	var b []byte
	if printable(s) {
		b = []byte(s)
	} else {
		b = make([]byte, 0, len(s)+16)
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			b = escape(b, s[i:i+size], r, size)
			i += size
		}
	}
	out := string(b)
	// Escapes could spell a secret made of backslashes, digits and
	// letters; remove it once more.
	for _, secret := range secrets {
		out = strings.ReplaceAll(out, secret, Redacted)
	}
	if !truncated && len(out) <= n {
		return out
	}
	return out[:cutPoint(out, n-len(cutMarker))] + cutMarker
}

// cutPoint returns where to cut s to at most n bytes: on a character
// boundary, and before an escape the cut would split.
func cutPoint(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	for i := max(0, n-9); i < n; i++ {
		if s[i] == '\\' && i+escapeSize(s[i+1]) > n {
			return i
		}
	}
	return n
}

// Escape returns s with what a terminal or an HTML parser would act on
// shown instead: each control character (C0, DEL and C1, such as ESC and
// U+0085), each other unprintable one (U+202E, U+2028...) and each byte of
// invalid UTF-8 becomes its escape, as in Cut (\x1b, \u0085, \xff).
// Nothing is redacted or cut: it is for names and values from the API or a
// configuration file printed whole, in a table or a report. Backslashes
// are kept as they are.
func Escape(s string) string {
	if printable(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b = escape(b, s[i:i+size], r, size)
		i += size
	}
	return string(b)
}

// JSON returns b, a JSON text, with every DEL, C1 control (U+0080 to
// U+009F) and bidirectional embedding, override or isolate written as its
// \u escape: the same JSON value, with nothing a terminal acts on or
// that reverses what it shows. encoding/json escapes the C0 controls
// already; these it leaves raw. They can only be inside strings, where an
// escape means the same character. b is returned as is when it has none.
func JSON(b []byte) []byte {
	clean := true
	for i := 0; i < len(b) && clean; {
		r, size := utf8.DecodeRune(b[i:])
		clean = !jsonEscaped(r)
		i += size
	}
	if clean {
		return b
	}
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if jsonEscaped(r) {
			out = append(out, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

func jsonEscaped(r rune) bool {
	return r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// FileError describes the failure to read the file a setting names
// (DEFENDER_CLIENT_SECRET_FILE, client_secret_file...). It quotes the path
// only when a file exists there: a secret given where its path belongs
// ("open <the secret>: no such file or directory") must not be echoed.
// The error wraps the system's (errors.Is(err, fs.ErrNotExist) holds).
func FileError(setting, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if _, serr := os.Lstat(path); serr != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: the file does not exist (the value is not shown: it names no file, and might be a secret): %w", setting, err)
		}
		return fmt.Errorf("%s: cannot read the file (the value is not shown: it names no file, and might be a secret): %w", setting, err)
	}
	return fmt.Errorf("%s: %s: %w", setting, Escape(path), err)
}

// printable reports whether s needs no escape.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// escapeSize is the length of the escape that starts with a backslash and
// c, or 0.
func escapeSize(c byte) int {
	switch c {
	case 'n', 'r', 't':
		return 2
	case 'x':
		return 4
	case 'u':
		return 6
	case 'U':
		return 10
	}
	return 0
}

// escape appends to dst what shows one character safely: raw is its bytes
// in the text, r and size as utf8.DecodeRuneInString read them.
func escape(dst []byte, raw string, r rune, size int) []byte {
	const hex = "0123456789abcdef"
	switch {
	case r == utf8.RuneError && size == 1: // a byte of invalid UTF-8
		return append(dst, '\\', 'x', hex[raw[0]>>4], hex[raw[0]&0xf])
	case r == '\n':
		return append(dst, '\\', 'n')
	case r == '\r':
		return append(dst, '\\', 'r')
	case r == '\t':
		return append(dst, '\\', 't')
	case r < 0x20 || r == 0x7f:
		return append(dst, '\\', 'x', hex[r>>4], hex[r&0xf])
	case r == ' ' || strconv.IsPrint(r):
		return append(dst, raw...)
	case r < 0x10000:
		return append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	default:
		dst = append(dst, '\\', 'U')
		for shift := 28; shift >= 0; shift -= 4 {
			dst = append(dst, hex[r>>shift&0xf])
		}
		return dst
	}
}
