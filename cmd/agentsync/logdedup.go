package main

import (
	"context"
	"log/slog"
	"slices"
)

// uniqueKeys is a slog.Handler that keeps the first attribute of each key
// of a log line and drops the others: a logger given an attribute by With
// (tenantsync adds "tenant" to every line of a tenant's sync) may log a
// line that names it again (load's warnings name their tenant, for loggers
// without one), and a JSON line with a key twice is one that many log
// pipelines reject or read as either value. Within a group the keys are
// the group's, so only those before the first group are looked at.
type uniqueKeys struct {
	next slog.Handler
	keys []string // keys added by With, before any group
	// grouped is set once WithGroup was called: keys after it are the
	// group's, which cannot clash with those before.
	grouped bool
}

func (h *uniqueKeys) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *uniqueKeys) Handle(ctx context.Context, r slog.Record) error {
	if h.grouped {
		return h.next.Handle(ctx, r)
	}
	seen := map[string]bool{}
	for _, k := range h.keys {
		seen[k] = true
	}
	dup := false
	r.Attrs(func(a slog.Attr) bool {
		if seen[a.Key] {
			dup = true
			return false
		}
		seen[a.Key] = true
		return true
	})
	if !dup {
		return h.next.Handle(ctx, r)
	}
	clear(seen)
	for _, k := range h.keys {
		seen[k] = true
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if !seen[a.Key] {
			seen[a.Key] = true
			out.AddAttrs(a)
		}
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *uniqueKeys) WithAttrs(attrs []slog.Attr) slog.Handler {
	if h.grouped {
		return &uniqueKeys{next: h.next.WithAttrs(attrs), grouped: true}
	}
	keys := slices.Clone(h.keys)
	var kept []slog.Attr
	for _, a := range attrs {
		if !slices.Contains(keys, a.Key) {
			keys = append(keys, a.Key)
			kept = append(kept, a)
		}
	}
	return &uniqueKeys{next: h.next.WithAttrs(kept), keys: keys}
}

func (h *uniqueKeys) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &uniqueKeys{next: h.next.WithGroup(name), grouped: true}
}
