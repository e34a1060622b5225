package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress shows a long sync's progress (pages and agents fetched so far)
// on one terminal line rewritten in place. It observes the extractor through
// Page and Retry. When its output is not a terminal it draws nothing, so
// logs collected by a supervisor never see control characters; it prints
// only the milestones of a long command then, a plain line each.
//
// Log lines share the terminal with it: the logger writes through
// progress.logWriter, which clears the progress line first and draws it
// again after, so neither garbles the other.
type progress struct {
	mu      sync.Mutex
	out     io.Writer
	enabled bool
	now     func() time.Time
	label   string
	noun    string // what the listing counts: agents, definitions, sessions
	line    string // what is on screen now; "" when nothing
	drawn   time.Time
	pages   int
	agents  int
	retries int
}

// progressRedraw limits redraws, so a fast listing does not flood a slow
// terminal.
const progressRedraw = 100 * time.Millisecond

// newProgress returns a progress line on out, enabled only when out is a
// terminal.
func newProgress(out io.Writer) *progress {
	return &progress{out: out, enabled: isTerminal(out), now: time.Now}
}

// StartCounting begins a new line whose listing counts noun
// ("definitions", "sessions") instead of agents.
func (p *progress) StartCounting(label, noun string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label, p.noun, p.pages, p.agents, p.retries = label, noun, 0, 0, 0
	p.drawn = time.Time{}
	p.drawLocked(false)
}

// milestone tells that a step of a long command is done (a simulated day
// of the demo). On a terminal the progress line already shows it; off a
// terminal, where the line stays silent, it prints text on a line of its
// own, so that a log still shows the command moving.
func (p *progress) milestone(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.enabled {
		fmt.Fprintln(p.out, text)
	}
}

// Done clears the line at the end of a sync.
func (p *progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	p.label = ""
}

// Page is the extract observer's callback after each page.
func (p *progress) Page(page, agentsSoFar int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages, p.agents = page, agentsSoFar
	p.drawLocked(false)
}

// Retry is the extract observer's callback before a retry.
func (p *progress) Retry(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retries++
	p.drawLocked(true)
}

func (p *progress) drawLocked(force bool) {
	if !p.enabled || p.label == "" {
		return
	}
	now := p.now()
	if !force && !p.drawn.IsZero() && now.Sub(p.drawn) < progressRedraw {
		return
	}
	p.drawn = now
	line := fmt.Sprintf("%s: page %d, %d %s fetched", p.label, p.pages, p.agents, p.noun)
	if p.retries > 0 {
		line += fmt.Sprintf(", %d retries", p.retries)
	}
	// \r returns to the line's start, ESC[K erases what was there.
	fmt.Fprintf(p.out, "\r\033[K%s", line)
	p.line = line
}

func (p *progress) clearLocked() {
	if p.line != "" {
		fmt.Fprint(p.out, "\r\033[K")
		p.line = ""
	}
}

// logWriter returns the writer the logger should use on the same terminal.
func (p *progress) logWriter() io.Writer {
	if !p.enabled {
		return p.out
	}
	return progressLogWriter{p}
}

type progressLogWriter struct{ p *progress }

func (w progressLogWriter) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.line
	p.clearLocked()
	n, err := p.out.Write(b)
	if line != "" {
		fmt.Fprintf(p.out, "\r\033[K%s", line)
		p.line = line
	}
	return n, err
}

// APIRequest is part of extract.Observer; requests do not move the line.
func (p *progress) APIRequest(int, time.Duration) {}

// TokenFetch is part of extract.Observer; token requests do not move the
// line.
func (p *progress) TokenFetch(error) {}
