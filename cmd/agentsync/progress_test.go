package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressDrawsPagesAndKeepsLogLinesApart(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{out: &out, enabled: true, now: func() time.Time { return clock }}
	p.StartCounting("sync", "agents")
	p.Page(1, 100)
	clock = clock.Add(time.Second)
	p.Page(2, 200)
	if !strings.HasSuffix(out.String(), "sync: page 2, 200 agents fetched") {
		t.Fatalf("progress line = %q", out.String())
	}
	p.Page(3, 300) // within the redraw interval: not drawn
	if strings.Contains(out.String(), "page 3") {
		t.Fatalf("redrawn within %s: %q", progressRedraw, out.String())
	}
	p.Retry("throttled") // a retry is always shown
	if !strings.HasSuffix(out.String(), "page 3, 300 agents fetched, 1 retries") {
		t.Fatalf("after a retry: %q", out.String())
	}

	out.Reset()
	p.logWriter().Write([]byte("level=INFO msg=hello\n"))
	want := "\r\033[Klevel=INFO msg=hello\n\r\033[Ksync: page 3, 300 agents fetched, 1 retries"
	if out.String() != want {
		t.Fatalf("log through progress = %q, want %q", out.String(), want)
	}
	out.Reset()
	p.Done()
	if out.String() != "\r\033[K" {
		t.Fatalf("done wrote %q, want the line cleared", out.String())
	}
}

func TestProgressIsSilentOffATerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := newProgress(&out) // a buffer is no terminal
	p.StartCounting("sync", "agents")
	p.Page(1, 100)
	p.Retry("server error")
	p.Done()
	if out.Len() != 0 {
		t.Fatalf("wrote %q to a non-terminal", out.String())
	}
	p.milestone("day 1/3 synced")
	if out.String() != "day 1/3 synced\n" {
		t.Fatalf("a milestone off a terminal wrote %q, want a line of its own", out.String())
	}
	if w := p.logWriter(); w != &out {
		t.Fatal("logs off a terminal should go straight to the output")
	}
}

func TestProgressMilestonesStayOnTheLineOnATerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := &progress{out: &out, enabled: true, now: time.Now}
	p.milestone("day 1/3 synced")
	if out.Len() != 0 {
		t.Fatalf("a milestone on a terminal wrote %q; the progress line shows it", out.String())
	}
}
