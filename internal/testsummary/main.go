// Command testsummary runs go test -json and prints what go test prints
// without -v (a line per package, the output of the tests that failed),
// then every test that was skipped with the reason it gave, and a count of
// the tests passed, failed and skipped. It exits 1 when a test or a build
// failed, or when go test itself failed, so that make test still fails.
//
//	go run ./internal/testsummary go test -json -count=1 ./...
//
// A test skipped for want of a tool (Chromium, promtool) passes quietly
// with go test; make test runs through this command so that a user sees
// what was not checked on this machine, and why.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testsummary go test -json [flags] [packages]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		os.Exit(1)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		os.Exit(1)
	}
	s := newSummary(os.Stdout)
	readErr := s.read(stdout)
	waitErr := cmd.Wait()
	s.finish()
	switch {
	case readErr != nil:
		fmt.Fprintf(os.Stderr, "testsummary: reading %s: %v\n", os.Args[1], readErr)
		os.Exit(1)
	case s.failed():
		os.Exit(1)
	case waitErr != nil:
		// go test failed without a failing test or package to show (a bad
		// flag, vet): its own words are on stderr.
		var exit *exec.ExitError
		if errors.As(waitErr, &exit) {
			fmt.Fprintf(os.Stderr, "testsummary: %s exited with status %d\n", os.Args[1], exit.ExitCode())
		} else {
			fmt.Fprintf(os.Stderr, "testsummary: %v\n", waitErr)
		}
		os.Exit(1)
	}
}

// event is one line of go test -json (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // of build-output and build-fail
	Test       string
	Elapsed    float64
	Output     string
}

// skip is a skipped test and why.
type skip struct {
	pkg, test, reason string
}

// summary reads go test -json and writes go test's plain output to w.
type summary struct {
	w io.Writer
	// output holds each running test's lines (key package + " " + test),
	// and each package's own (key package), until they end.
	output              map[string]*bytes.Buffer
	passed, failedTests int
	failedPackages      int
	skipped             []skip
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, output: map[string]*bytes.Buffer{}}
}

// read handles every line of r; a line that is not an event (go test
// writes some before its JSON starts) is copied as it is.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(s.w, "%s\n", line)
			continue
		}
		s.handle(e)
	}
	return sc.Err()
}

func (s *summary) buffer(key string) *bytes.Buffer {
	b := s.output[key]
	if b == nil {
		b = &bytes.Buffer{}
		s.output[key] = b
	}
	return b
}

// take returns and forgets the lines held under key.
func (s *summary) take(key string) string {
	b := s.output[key]
	delete(s.output, key)
	if b == nil {
		return ""
	}
	return b.String()
}

func (s *summary) handle(e event) {
	key := e.Package
	if e.Test != "" {
		key += " " + e.Test
	}
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.w, e.Output)
	case "build-fail":
		s.failedPackages++
	case "output":
		s.buffer(key).WriteString(e.Output)
	case "pass", "fail", "skip":
		if e.Test != "" {
			s.endTest(e, s.take(key))
			return
		}
		s.endPackage(e, s.take(key))
	}
}

func (s *summary) endTest(e event, out string) {
	switch e.Action {
	case "pass":
		s.passed++
	case "fail":
		s.failedTests++
		fmt.Fprint(s.w, out)
	case "skip":
		s.skipped = append(s.skipped, skip{pkg: e.Package, test: e.Test, reason: skipReason(out)})
	}
}

func (s *summary) endPackage(e event, out string) {
	switch e.Action {
	case "pass":
		fmt.Fprintf(s.w, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
	case "skip":
		fmt.Fprintf(s.w, "?   \t%s\t[no test files]\n", e.Package)
	case "fail":
		s.failedPackages++
		// What the package printed outside its tests: a panic, a
		// TestMain's failure, go test's own FAIL lines.
		fmt.Fprint(s.w, out)
		if !strings.Contains(out, "FAIL\t"+e.Package) {
			fmt.Fprintf(s.w, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
		}
	}
}

// skipReason is what a skipped test logged, less the lines of go test's
// own: the reason given to t.Skip.
func skipReason(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		lines = append(lines, t)
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	return strings.Join(lines, " / ")
}

// finish prints the skipped tests and the counts.
func (s *summary) finish() {
	if len(s.skipped) > 0 {
		sort.Slice(s.skipped, func(i, j int) bool {
			a, b := s.skipped[i], s.skipped[j]
			return a.pkg < b.pkg || (a.pkg == b.pkg && a.test < b.test)
		})
		fmt.Fprintf(s.w, "\nskipped tests (%d), not checked here:\n", len(s.skipped))
		for _, k := range s.skipped {
			fmt.Fprintf(s.w, "  SKIP %s %s: %s\n", k.pkg, k.test, k.reason)
		}
	}
	fmt.Fprintf(s.w, "\ntests: %d passed, %d failed, %d skipped\n", s.passed, s.failedTests, len(s.skipped))
	if s.failedPackages > 0 && s.failedTests == 0 {
		fmt.Fprintf(s.w, "%d packages failed to build or run\n", s.failedPackages)
	}
}

// failed reports a failed test or package.
func (s *summary) failed() bool { return s.failedTests > 0 || s.failedPackages > 0 }
