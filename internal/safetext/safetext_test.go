package safetext

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// safe checks what every result of Cut holds: valid UTF-8, no control
// character, at most n bytes, no secret, and unchanged by a second Cut.
func safe(t *testing.T, got string, n int, secrets ...string) {
	t.Helper()
	if !utf8.ValidString(got) {
		t.Errorf("%q is not valid UTF-8", got)
	}
	for _, r := range got {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Errorf("%q holds control character %U", got, r)
		}
	}
	if len(got) > max(n, minLimit) {
		t.Errorf("%d bytes, want at most %d: %q", len(got), n, got)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(got, s) {
			t.Errorf("%q shows the secret %q", got, s)
		}
	}
	if again := Cut(got, n, secrets...); again != got {
		t.Errorf("Cut of its own result changed it:\n%q\n%q", got, again)
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	const secret = "S3cret~Value.ThatMustNotLeak_0123456789"
	const token = "sim.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGkiLCJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz"
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"plain text stays", "fetch page 2: status 403: Forbidden", 100, "fetch page 2: status 403: Forbidden"},
		{"NUL", "a\x00b", 100, `a\x00b`},
		{"invalid UTF-8 next to a newline", "M\xfcnchen\nBuild", 100, `M\xfcnchen\nBuild`},
		{"terminal escape sequences", "\x1b[31mred\x1b[0m\u009b2J\x9b\u202eevil\r", 100, `\x1b[31mred\x1b[0m\u009b2J\x9b\u202eevil\r`},
		{"valid UTF-8 stays", "Zürich 東京 ✓", 100, "Zürich 東京 ✓"},
		{"backslashes stay", `C:\path\n`, 100, `C:\path\n`},
		{"the secrets given", "literal " + secret + " and " + token, 200, "literal [redacted] and [redacted]"},
		{"a bearer token", "Authorization: Bearer abc.DEF-123_x~y+z/w==, next", 100, "Authorization: Bearer [redacted], next"},
		{"a JWT", `{"client_assertion_like":"` + jwt + `"}`, 300, `{"client_assertion_like":"[redacted]"}`},
		{"form parameters", "client_id=app&client_secret=abc~def&scope=x", 100, "client_id=app&client_secret=[redacted]&scope=x"},
		{"JSON members", `{"access_token":"opaque-value","token_type":"Bearer"}`, 100, `{"access_token":"[redacted]","token_type":"Bearer"}`},
		{"escaped JSON members", `{\"refresh_token\":\"opaque\"}`, 100, `{\"refresh_token\":\"[redacted]\"}`},
		{"URL password", "dial postgres://agentsync:pa55word@db:5432/x failed", 100, "dial postgres://agentsync:[redacted]@db:5432/x failed"},
		{"cut with a marker", strings.Repeat("a", 100), 40, strings.Repeat("a", 40-len(cutMarker)) + cutMarker},
		{"cut between escapes, never inside one", strings.Repeat("\x1b", 20), 40, strings.Repeat(`\x1b`, 6) + cutMarker},
		{"cut between runes, never inside one", strings.Repeat("é", 40), 40, strings.Repeat("é", 13) + cutMarker},
		{"at the bound, no cut", strings.Repeat("a", 40), 40, strings.Repeat("a", 40)},
		{"a tiny bound is raised", strings.Repeat("a", 100), 1, strings.Repeat("a", minLimit-len(cutMarker)) + cutMarker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Cut(tt.in, tt.n, secret, token)
			if got != tt.want {
				t.Errorf("Cut(%q, %d) =\n %q\nwant\n %q", tt.in, tt.n, got, tt.want)
			}
			safe(t, got, tt.n, secret, token, jwt)
			if b := CutBytes([]byte(tt.in), tt.n, secret, token); b != got {
				t.Errorf("CutBytes = %q, Cut = %q", b, got)
			}
		})
	}
}

// TestCutHugeText: a 2 MB string literal from a server gives a bounded
// text, read from its start only, and a secret anywhere near the cut is
// never shown in part.
func TestCutHugeText(t *testing.T) {
	t.Parallel()
	const secret = "S3cret~Value.ThatMustNotLeak_0123456789"
	huge := `invalid literal: "` + strings.Repeat("\x00A\xff\x1b", 512<<10) + `"`
	got := Text(huge, secret)
	safe(t, got, Limit, secret)
	if len(got) < Limit-20 || !strings.HasSuffix(got, cutMarker) || !strings.HasPrefix(got, `invalid literal: "\x00A\xff\x1b`) {
		t.Errorf("Text of 2 MB = %d bytes %q...; want about %d bytes, cut with a marker", len(got), got[:min(len(got), 60)], Limit)
	}
	for offset := 0; offset < 3*Limit; offset += 7 {
		s := strings.Repeat("x", offset) + secret + strings.Repeat(" y", 2*Limit)
		got := Text(s, secret)
		if strings.Contains(got, secret[:6]) {
			t.Fatalf("offset %d: %q shows part of the secret", offset, got)
		}
	}
	// A token longer than the bound, cut: its start still reads as a token.
	long := "Authorization: Bearer " + strings.Repeat("Zm9vYmFy", 1000)
	if got := Cut(long, 64); got != "Authorization: Bearer [redacted]"+cutMarker {
		t.Errorf("Cut of a long bearer token = %q", got)
	}
}

func FuzzCut(f *testing.F) {
	f.Add("M\xfcnchen\nBuild", 64, "s3cret-value")
	f.Add("\x00\x1b[2J Bearer abc", 40, "abcdefghij")
	f.Add(strings.Repeat("é\x00", 100), 33, "é")
	f.Fuzz(func(t *testing.T, s string, n int, secret string) {
		n = min(max(n, 0), 4096)
		if len(secret) < 8 {
			// Real secrets are long; a short one may be part of
			// "[redacted]" or of an escape.
			secret = ""
		}
		got := Cut(s, n, secret)
		safe(t, got, n, secret)
	})
}

func TestEscape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Contoso":                     "Contoso",
		"München":                     "München",
		"\x1b[2Jgone":                 `\x1b[2Jgone`,
		"\x1b]8;;https://evil\x1b\\x": `\x1b]8;;https://evil\x1b\x`,
		"a\u0085b\u009bc":             `a\u0085b\u009bc`,
		"tab\there\nnew":              `tab\there\nnew`,
		"bidi\u202eevil":              `bidi\u202eevil`,
		"bad\xffutf8\x00":             `bad\xffutf8\x00`,
	} {
		got := Escape(in)
		if got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		safe(t, got, len(got)+64)
	}
}

func TestFileErrorQuotesOnlyAnExistingPath(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t~given~where~a~path~belongs"
	dir := t.TempDir()
	for _, value := range []string{secret, dir + "/" + secret, strings.Repeat(secret, 20)} {
		_, err := os.ReadFile(value)
		got := FileError("DEFENDER_CLIENT_SECRET_FILE", value, err)
		if strings.Contains(got.Error(), secret) {
			t.Errorf("the value shows: %v", got)
		}
		if !strings.HasPrefix(got.Error(), "DEFENDER_CLIENT_SECRET_FILE: ") {
			t.Errorf("the setting is not named first: %v", got)
		}
	}
	_, err := os.ReadFile(secret)
	if got := FileError("S", secret, err); !errors.Is(got, fs.ErrNotExist) || !strings.Contains(got.Error(), "does not exist") {
		t.Errorf("FileError of a missing file = %v, want one saying it does not exist and wrapping fs.ErrNotExist", got)
	}
	// An existing path that cannot be read (a directory) is worth naming.
	_, err = os.ReadFile(dir)
	if got := FileError("S", dir, err); !strings.Contains(got.Error(), dir) {
		t.Errorf("FileError of a directory = %v, want the path named", got)
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	in, _ := json.Marshal(map[string]string{"k\u009b": "a\x1b\u0085b\u202ec\x7fé😀"})
	got := JSON(in)
	if want := `{"k\u009b":"a\u001b\u0085b\u202ec\u007fé😀"}`; string(got) != want {
		t.Errorf("JSON(%s) = %s, want %s", in, got, want)
	}
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil || back["k\u009b"] != "a\x1b\u0085b\u202ec\x7fé😀" {
		t.Errorf("the escaped JSON reads %v, %v", back, err)
	}
	if plain := []byte(`{"a":"é"}`); &JSON(plain)[0] != &plain[0] {
		t.Error("JSON copied a text with nothing to escape")
	}
}
