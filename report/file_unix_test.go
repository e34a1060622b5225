//go:build unix

package report

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteFileModeFollowsTheUmaskOrTheFileItReplaces: a new report gets
// 0666 less the umask; one that replaces a file keeps that file's mode,
// never a wider one; a failed write leaves the old file and nothing else.
// Not parallel: it sets the process's umask.
func TestWriteFileModeFollowsTheUmaskOrTheFileItReplaces(t *testing.T) {
	dir := t.TempDir()
	write := func(io.Writer) error { return nil }
	mode := func(path string) os.FileMode {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	for _, tc := range []struct {
		umask int
		want  os.FileMode
	}{{0o077, 0o600}, {0o022, 0o644}, {0o027, 0o640}} {
		old := syscall.Umask(tc.umask)
		path := filepath.Join(dir, "new.html")
		os.Remove(path)
		err := WriteFile(path, write)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if got := mode(path); got != tc.want {
			t.Errorf("umask %03o: a new report is %03o, want %03o", tc.umask, got, tc.want)
		}
	}
	kept := filepath.Join(dir, "kept.html")
	if err := os.WriteFile(kept, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(kept, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	if got := mode(kept); got != 0o600 {
		t.Errorf("a report replacing a 0600 file is %03o", got)
	}
	if err := WriteFile(kept, func(io.Writer) error { return errors.New("failed") }); err == nil {
		t.Fatal("no error from a failed write")
	}
	if b, _ := os.ReadFile(kept); string(b) != "new" {
		t.Errorf("a failed write changed the report: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("files left beside the reports: %v", entries)
	}
}
