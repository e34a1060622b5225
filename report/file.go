package report

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes a report to path whole or not at all: write fills a
// new file beside it, which is then renamed over it, so that a failed
// report leaves no half file and readers never see one.
//
// The file gets the mode of the file it replaces, so that replacing a
// report kept private does not widen it; a new one gets 0666 less the
// umask, as any file a program creates (a fixed 0644 would ignore a
// umask of 077).
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := createBeside(path)
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	defer os.Remove(f.Name()) // once renamed, there is nothing left to remove
	err = write(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write the report: %w", cerr)
	}
	if err != nil {
		return err
	}
	if old, serr := os.Stat(path); serr == nil && old.Mode().IsRegular() {
		if err := os.Chmod(f.Name(), old.Mode().Perm()); err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}

// createBeside creates a new hidden file in path's directory with mode
// 0666, which the kernel narrows by the umask. os.CreateTemp would make it
// 0600, and widening that by hand means reading the umask, which cannot
// be done without changing it for every thread.
func createBeside(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		var b [6]byte
		rand.Read(b[:])
		f, err := os.OpenFile(filepath.Join(dir, "."+base+"."+hex.EncodeToString(b[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, errors.New("cannot find a free name for a temporary file beside it")
}

// CheckWritable tells whether WriteFile could write a report to path: a
// file can be made beside it (it is made and removed at once) and path is
// not a directory. A long job checks first, so that it does not fail at
// its very end.
func CheckWritable(path string) error {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	f, err := createBeside(path)
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
