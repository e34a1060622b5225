package load

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/scanagent"
)

// listing streams the records of one resource, as scanagent.ListFunc does
// agents.
type listing[T any] func(ctx context.Context, fn func(T) error) (scanagent.ListStats, error)

// copyStream adapts a push-style listing to pgx's pull-style
// CopyFromSource, through a coroutine (iter.Pull): one record in flight, no
// buffering, so a listing of any size streams in constant memory. A record
// may make several rows (a session and its targets), or none (an agent
// that needs no staging).
type copyStream[T any] struct {
	next    func() (T, bool)
	stopFn  func()
	rows    func(seq int64, r T) ([][]any, error)
	pending [][]any
	current []any
	seq     int64

	// primed is set when Next has made the current row ahead of COPY
	// (see copyInto): the next call hands it over.
	primed bool

	stats     scanagent.ListStats
	listErr   error // the listing failed: incomplete
	recordErr error // a record cannot be stored
	// waited is the time spent waiting for the listing's next record: the
	// API, its rate limits and retries.
	waited time.Duration
}

func newCopyStream[T any](ctx context.Context, list listing[T], rows func(seq int64, r T) ([][]any, error)) *copyStream[T] {
	s := &copyStream[T]{rows: rows}
	records := func(yield func(T) bool) {
		stats, err := list(ctx, func(r T) error {
			if !yield(r) {
				return errStopped
			}
			return nil
		})
		s.stats = stats
		if err != nil && !errors.Is(err, errStopped) {
			s.listErr = err
		}
	}
	s.next, s.stopFn = iter.Pull(iter.Seq[T](records))
	return s
}

func (s *copyStream[T]) stop() { s.stopFn() }

// Next implements pgx.CopyFromSource.
func (s *copyStream[T]) Next() bool {
	if s.primed {
		s.primed = false
		return true
	}
	for len(s.pending) == 0 {
		start := time.Now()
		r, ok := s.next()
		s.waited += time.Since(start)
		if !ok {
			return false
		}
		s.seq++
		rows, err := s.rows(s.seq, r)
		if err != nil {
			s.recordErr = err
			return false
		}
		s.pending = rows
	}
	s.current, s.pending = s.pending[0], s.pending[1:]
	return true
}

// Values implements pgx.CopyFromSource.
func (s *copyStream[T]) Values() ([]any, error) { return s.current, nil }

// Err implements pgx.CopyFromSource. A failed listing aborts the COPY, so
// nothing of an incomplete listing is applied.
func (s *copyStream[T]) Err() error {
	if s.listErr != nil {
		return s.listErr
	}
	return s.recordErr
}

// errStopped ends a listing whose consumer stopped early.
var errStopped = errors.New("listing stopped by the loader")

// copyInto streams list into the existing temporary table with COPY, the
// rows of each record made by rows. It returns the listing's statistics,
// and a *FetchError when the listing failed; it adds the time spent
// waiting for the listing to *waited.
//
// COPY starts with the first row to stage: a listing that stages none (an
// hourly sync of agents that only moved their heartbeats, a history whose
// sessions are all settled) sends no statement, where an empty COPY took
// two round trips.
func copyInto[T any](ctx, dbCtx context.Context, tx pgx.Tx, table string, columns []string, list listing[T],
	rows func(seq int64, r T) ([][]any, error), waited *time.Duration) (scanagent.ListStats, error) {
	src := newCopyStream(ctx, list, rows)
	defer src.stop()
	var copyErr error
	if src.primed = src.Next(); src.primed {
		_, copyErr = tx.CopyFrom(dbCtx, pgx.Identifier{"pg_temp", table}, columns, src)
	}
	src.stop() // ends the listing if COPY stopped early, and settles stats
	*waited += src.waited
	switch {
	case src.listErr != nil:
		return src.stats, &FetchError{Err: src.listErr}
	case src.recordErr != nil:
		return src.stats, src.recordErr
	case copyErr != nil:
		return src.stats, fmt.Errorf("copy into %s: %w", table, interpretError(copyErr))
	}
	return src.stats, stopped(ctx)
}

// checkTexts refuses text PostgreSQL cannot store, naming the record and
// the field; what names the record ("definition <id>"), called only for
// an error: making an id safe to show costs more than staging its record.
func checkTexts(what func() string, fields ...[2]string) error {
	for _, f := range fields {
		if !storableText(f[1]) {
			return fmt.Errorf("%s: field %s holds text PostgreSQL cannot store (NUL byte or invalid UTF-8)", what(), f[0])
		}
	}
	return nil
}

func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullBool(p *bool) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullDuration(d *scanagent.Duration) any {
	if d == nil {
		return nil
	}
	return time.Duration(*d)
}
