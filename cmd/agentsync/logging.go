package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"
)

// newLogger builds the process logger: text on a terminal, JSON otherwise,
// unless the settings say which.
func newLogger(w io.Writer, s logSettings) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.Level)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", s.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	format := strings.ToLower(s.Format)
	if format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(&uniqueKeys{next: slog.NewTextHandler(w, opts)}), nil
	case "json":
		return slog.New(&uniqueKeys{next: slog.NewJSONHandler(w, opts)}), nil
	default:
		return nil, fmt.Errorf("LOG_FORMAT %q: want text or json", s.Format)
	}
}

// newProgressLogger builds the terminal progress line of a command and the
// logger that writes around it. With the progress line on, newLogger sees
// the progress writer rather than the terminal, so the terminal's default
// format, text, is chosen here.
func newProgressLogger(stderr io.Writer, s logSettings) (*progress, *slog.Logger, error) {
	prog := newProgress(stderr)
	if s.Format == "" && prog.enabled {
		s.Format = "text"
	}
	logger, err := newLogger(prog.logWriter(), s)
	return prog, logger, err
}

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
