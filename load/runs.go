package load

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
)

// abandonedRunError is the error recorded on a run whose process stopped
// before finishing it.
const abandonedRunError = "abandoned: the process running this sync stopped before it finished"

// clockReading is an agents sync's fetch time and the latest successful
// agents sync's, read in the round trip that records the run's start
// (queue), which also makes the month's observation partition ready
// before the data transaction needs it.
type clockReading struct {
	fetchedAt time.Time
	latest    *time.Time
}

// queue takes the fetch time (after the run's start time, which the
// statement queued before took) and queues on b the reading of the
// latest successful agents sync.
func (c *clockReading) queue(l *Loader) func(*batch) {
	return func(b *batch) {
		c.fetchedAt = l.cfg.Now().UTC().Truncate(time.Microsecond)
		b.queryRow(step{"read latest run", query("runs_check_clock"), []any{l.cfg.TenantID, c.fetchedAt}}, &c.latest, nil)
	}
}

// check refuses a fetch time at or before the latest successful run's:
// history ranges and as-of queries rely on fetch times moving forward. It
// returns what the daily rollups need of that run.
func (c *clockReading) check() (dayState, error) {
	if c.latest == nil {
		return dayState{}, nil
	}
	if !c.fetchedAt.After(*c.latest) {
		return dayState{}, fmt.Errorf("%w: now %s, latest sync %s", ErrClockBehind,
			c.fetchedAt.Format(time.RFC3339Nano), c.latest.UTC().Format(time.RFC3339Nano))
	}
	return dayState{previous: *c.latest}, nil
}

// checkLatestFetch returns the fetch time of the latest successful run of
// a resource other than agents (whose latest is in tenants), as
// runs_latest_fetch read it (latest, nil before the first), in UTC, and
// refuses a fetch time at or before it (ErrClockBehind): versions and
// provenance rely on fetch times moving forward. It is zero before the
// first.
func checkLatestFetch(resource scanagent.Resource, fetchedAt time.Time, latest *time.Time) (time.Time, error) {
	if latest == nil {
		return time.Time{}, nil
	}
	if !fetchedAt.After(*latest) {
		return time.Time{}, fmt.Errorf("%w: now %s, latest %s sync %s", ErrClockBehind,
			fetchedAt.Format(time.RFC3339Nano), resource, latest.UTC().Format(time.RFC3339Nano))
	}
	return latest.UTC(), nil
}

// digestStep stores the digest of the run, once its success and counts are
// recorded (they are part of what it covers): see docs/audit.md. A
// variable only so that a benchmark can measure syncs without it
// (export_test.go); the loader always stores it.
var digestStep = func(runID int64) step {
	return step{"record the run's digest", query("runs_record_digest"), []any{runID}}
}

// targetStatusStep brings scan_target_status's storage up to date for
// every target of the tenant, after a definitions run's writes that it
// reads (a definition covers targets).
func targetStatusStep(tenant string) step {
	return step{"update target status", query("runs_refresh_target_status"), []any{tenant}}
}

// runTargetStatusStep brings scan_target_status's storage up to date for
// the targets whose coverage names a session the run wrote, after a
// history run's writes: nothing else it reads changes in such a run.
func (l *Loader) runTargetStatusStep(tenant string, runID int64) step {
	if l.cfg.schemaBefore(36) { // 00036_target_status_of_a_run.sql
		return targetStatusStep(tenant)
	}
	return step{"update target status", query("history_refresh_target_status"), []any{tenant, runID}}
}

// coverStep brings scan_coverage's storage up to date for the definitions
// whose sessions the run wrote.
func coverStep(tenant string, runID int64) step {
	return step{"update definition coverage", query("runs_cover_definitions"), []any{tenant, runID}}
}

// finishRunStep is the step recording the run's success, its counts and
// the previous successful sync: the agents_* columns for agent runs only,
// records_* and fields_repaired for all.
func (l *Loader) finishRunStep(runID int64, res Result, previousFetch time.Time) step {
	var previous *time.Time
	if !previousFetch.IsZero() {
		previous = &previousFetch
	}
	finish := query("runs_finish")
	if l.cfg.schemaBefore(41) { // 00041_zero_counts_stored_as_null.sql
		finish = query("runs_finish_zero_counts")
	}
	return step{"record run result", finish,
		[]any{runID, res.FetchedAt, l.cfg.Now().UTC(),
			res.Seen, res.Inserted, res.Changed, res.Unchanged,
			res.Deleted, res.DeletionsWithheld, res.Rejected, res.APIRequests, previous, res.Targets,
			res.HeartbeatOnly, res.FieldsRepaired}}
}

// failRun records a failed run after its transaction rolled back. It uses a
// fresh connection and ignores cancellation: the connection of the sync may
// have been closed by the cancellation, and the failure must be recorded.
//
// The error may quote what the API sent. It is stored as safetext makes
// it, whatever the extractor did already: valid UTF-8 without NUL, which
// every text column accepts, escaped, redacted and bounded. A run whose
// error could not be stored would stay running.
func (l *Loader) failRun(ctx context.Context, runID int64, res Result, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var fetchedAt *time.Time
	if !res.FetchedAt.IsZero() {
		fetchedAt = &res.FetchedAt
	}
	fail := query("runs_fail")
	if l.cfg.schemaBefore(41) { // 00041_zero_counts_stored_as_null.sql
		fail = query("runs_fail_zero_counts")
	}
	_, err := l.pool.Exec(ctx, fail,
		runID, l.cfg.Now().UTC(), fetchedAt, safetext.Text(cause.Error()), res.Rejected, res.APIRequests)
	if err != nil {
		l.cfg.Logger.Error("record failed run", "run_id", runID, "error", interpretError(err))
	}
}

// Run is a run of a tenant, as recorded in defender.sync_runs.
type Run struct {
	RunID int64
	// Status is succeeded or failed; running only for a run LastRun takes
	// as stuck.
	Status     string
	StartedAt  time.Time
	FetchedAt  time.Time // zero when the run failed before fetching
	FinishedAt time.Time // zero while running
	Error      string
}

// Stuck reports a run still marked running after Config.SyncTimeout: its
// sync would have been cancelled by then, so it hangs or its process died
// (the tenant's next sync marks it failed).
func (r Run) Stuck() bool { return r.Status == "running" }

// LastRun returns the tenant's latest agents run that tells how its syncs
// go: the latest finished run, or a later one still marked running after
// Config.SyncTimeout, which is stuck (see Run.Stuck). A run still running
// within the timeout is skipped: it may yet succeed, so the run before it
// tells. ok is false when the tenant has no such run.
func (l *Loader) LastRun(ctx context.Context) (run Run, ok bool, err error) {
	var fetchedAt, finishedAt *time.Time
	var errText *string
	err = l.pool.QueryRow(ctx, query("runs_last"), l.cfg.TenantID, l.cfg.Now().Add(-l.cfg.SyncTimeout)).Scan(
		&run.RunID, &run.Status, &run.StartedAt, &fetchedAt, &finishedAt, &errText)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("read last run: %w", interpretError(err))
	}
	if fetchedAt != nil {
		run.FetchedAt = *fetchedAt
	}
	if finishedAt != nil {
		run.FinishedAt = *finishedAt
	}
	if errText != nil {
		run.Error = *errText
	}
	return run, true, nil
}
