package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/scanagent"
)

// Defaults of the mass-deletion guard: deletions are withheld when one sync
// would mark more than half of the active agents deleted, and more than 10.
const (
	DefaultMaxDeletedFraction = 0.5
	DefaultMaxDeletedCount    = 10
)

// DefaultSyncTimeout bounds one sync: far beyond a healthy sync of the
// largest tenant (minutes), and short enough that a hung sync does not
// hold the tenant for hours.
const DefaultSyncTimeout = 30 * time.Minute

// Config configures a Loader. Zero values take the defaults; New fills them
// in and validates.
type Config struct {
	// TenantID is the Entra tenant whose agents are loaded. It is stored
	// trimmed and in lower case, so "Contoso.com" and "contoso.com" are one.
	TenantID string
	// TenantName is the tenant's display name from the configuration,
	// stored with it (defender.fleet_daily.tenant_name); empty keeps the
	// stored one.
	TenantName string
	// Logger receives the loader's messages; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil. Every change a sync records
	// carries the time Now returns when the fetch starts.
	Now func() time.Time
	// Worker names this process in sync_runs.worker; host:pid when empty.
	Worker string
	// MaxDeletedFraction and MaxDeletedCount configure the mass-deletion
	// guard: a sync that would mark more than MaxDeletedFraction of the
	// active agents deleted and more than MaxDeletedCount of them withholds
	// its deletions (and applies everything else). Zero means the default.
	MaxDeletedFraction float64
	MaxDeletedCount    int
	// AllowMassDeletion disables the guard, for a sync the operator knows
	// is right (the tenant really lost most of its agents).
	AllowMassDeletion bool
	// SyncTimeout bounds one sync: a sync still going after it is
	// cancelled, rolled back and recorded failed (ErrSyncTimeout). LastRun
	// takes a run still marked running after it as stuck. Zero means
	// DefaultSyncTimeout.
	SyncTimeout time.Duration
	// HistoryLookback bounds every history sync of a tenant: it reads the
	// sessions of this long before its fetch time, so that a session
	// listed late within it is still stored; the sessions already stored
	// write nothing. Zero means DefaultHistoryLookback.
	HistoryLookback time.Duration
	// LeaseDuration is how long a sync holds the tenant without renewing
	// its lease (see DefaultLeaseDuration); a sync renews it every quarter
	// of it. Zero means DefaultLeaseDuration.
	LeaseDuration time.Duration

	// schema is the schema version of a database the migrations have not
	// brought up to date, set by tests only (export_test.go): the loader
	// then calls only what that version has. Zero is the latest.
	schema int64
}

// schemaBefore tells whether the loader syncs into a database older than
// schema version (tests of earlier migrations, Config.schema), so that it
// calls only what that database has.
func (c Config) schemaBefore(version int64) bool {
	return c.schema != 0 && c.schema < version
}

// DefaultHistoryLookback is a week of scan history: every definition's
// recent sessions, at the documented intervals (hours to a day), and the
// sessions a scanner uploads days late, without reading months at each
// sync.
const DefaultHistoryLookback = 7 * 24 * time.Hour

// Loader syncs the agents, scan definitions and scan history of one
// tenant into PostgreSQL.
type Loader struct {
	pool *pgxpool.Pool
	cfg  Config
}

// New returns a Loader for cfg.TenantID writing through pool.
func New(pool *pgxpool.Pool, cfg Config) (*Loader, error) {
	if pool == nil {
		return nil, errors.New("load: nil pool")
	}
	cfg.TenantID = strings.ToLower(strings.TrimSpace(cfg.TenantID))
	cfg.TenantName = strings.TrimSpace(cfg.TenantName)
	if cfg.TenantID == "" {
		return nil, errors.New("load: tenant id is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Worker == "" {
		host, _ := os.Hostname()
		cfg.Worker = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if cfg.MaxDeletedFraction == 0 {
		cfg.MaxDeletedFraction = DefaultMaxDeletedFraction
	}
	if cfg.MaxDeletedCount == 0 {
		cfg.MaxDeletedCount = DefaultMaxDeletedCount
	}
	if cfg.MaxDeletedFraction < 0 || cfg.MaxDeletedFraction > 1 {
		return nil, fmt.Errorf("load: max deleted fraction %v is not between 0 and 1", cfg.MaxDeletedFraction)
	}
	if cfg.MaxDeletedCount < 0 {
		return nil, fmt.Errorf("load: max deleted count %d is negative", cfg.MaxDeletedCount)
	}
	if cfg.SyncTimeout == 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	if cfg.SyncTimeout < 0 {
		return nil, fmt.Errorf("load: sync timeout %s is negative", cfg.SyncTimeout)
	}
	if cfg.HistoryLookback == 0 {
		cfg.HistoryLookback = DefaultHistoryLookback
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.LeaseDuration < time.Second {
		return nil, fmt.Errorf("load: lease duration %s is shorter than a second", cfg.LeaseDuration)
	}
	if cfg.HistoryLookback < 0 {
		return nil, fmt.Errorf("load: history lookback %s is negative", cfg.HistoryLookback)
	}
	return &Loader{pool: pool, cfg: cfg}, nil
}

// TenantID returns the tenant as stored.
func (l *Loader) TenantID() string { return l.cfg.TenantID }

// Result describes one sync of one resource.
type Result struct {
	// Resource is what the run synced.
	Resource  scanagent.Resource
	RunID     int64
	FetchedAt time.Time
	Duration  time.Duration
	// Seen counts the distinct records of the listing (agents,
	// definitions or sessions); the others count how they were applied:
	// Inserted+Changed+HeartbeatOnly+Unchanged == Seen. Changed counts
	// known records with a changed descriptive value (agents and
	// definitions: a new version; sessions: completed or corrected), or
	// that returned after a deletion.
	Seen, Inserted, Changed, Unchanged int
	// HeartbeatOnly counts the known agents of which only the heartbeat
	// (last_seen, last_command_execution_at) moved: no new version, no
	// change; what the sync's summary calls "seen". 0 for other resources.
	HeartbeatOnly int
	// FieldsRepaired counts the fields the extractor had to repair to
	// store them: a NUL dropped, invalid UTF-8 replaced by U+FFFD. A
	// history run adds both its readings (the sessions by definition,
	// their targets by session).
	FieldsRepaired int
	// Deleted counts agents or definitions marked deleted;
	// DeletionsWithheld counts the missing ones the guard kept instead.
	Deleted, DeletionsWithheld int
	// Targets counts the scanned targets a history sync stored.
	Targets int
	// Rejected and APIRequests come from the extractor's statistics.
	Rejected, APIRequests int
	// Duplicates counts records whose id repeated within the listing.
	Duplicates int
	// FetchDuration is the part of Duration spent waiting for the listing
	// (the API); the rest is the database's.
	FetchDuration time.Duration
}

// Sync fetches one complete listing of agents with list and applies it in
// one transaction, under the tenant's lease taken for it. It returns
// ErrSyncInProgress, having written nothing, when another sync of the
// tenant is running, and a *HeldError (matching ErrTenantHeld) when another
// holder has the tenant's lease with no sync of it running. On any other
// error every data change is rolled back and the run is recorded as
// failed. A sync that runs longer than Config.SyncTimeout is cancelled that
// way, with an error that matches ErrSyncTimeout; one whose lease is lost,
// with ErrLeaseLost.
//
// Cancelling ctx stops the listing at once; the database work then stops
// at the next statement and rolls back. Interrupting a statement in flight
// would leave the connection in an unknown state (pgx may wait seconds to
// close it), so a statement is only interrupted when it is still running
// dbInterruptDelay after ctx ended.
func (l *Loader) Sync(ctx context.Context, list scanagent.ListFunc) (Result, error) {
	return l.SyncRound(ctx, list, time.Time{})
}

// SyncRound is Sync for one round of a schedule shared by several
// processes: it returns ErrSyncedAlready, having written nothing, when a
// sync of the tenant's agents that started at or after roundStart has
// finished, so that a replica reaching a tenant another one has just synced
// goes on with the next instead of syncing it again. A zero roundStart
// always syncs.
func (l *Loader) SyncRound(ctx context.Context, list scanagent.ListFunc, roundStart time.Time) (Result, error) {
	return l.alone(ctx, scanagent.Agents, roundStart, func(ctx context.Context, h *Hold) (Result, error) {
		return h.Sync(ctx, list)
	})
}

// Sync is Loader.Sync under the lease h holds.
func (h *Hold) Sync(ctx context.Context, list scanagent.ListFunc) (Result, error) {
	var clock clockReading
	return h.syncResource(ctx, scanagent.Agents, clock.queue(h.l), func(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64) (Result, error) {
		return h.l.apply(ctx, dbCtx, conn, runID, list, &clock)
	})
}

// applyFunc applies one resource's data within a sync: it runs the data
// transaction, records the run's success in it, and commits. The listing
// runs under ctx, the statements under dbCtx.
type applyFunc func(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64) (Result, error)

// syncResource runs one sync of resource under the lease h holds: it
// renews the lease, marks the runs a dead process left running failed and
// records the run (startRun), applies, and records a failure. Every
// resource gets the same guarantees. alongside, if not nil, queues what
// the resource reads before its data transaction, sent in the round trip
// that records the run's start.
func (h *Hold) syncResource(ctx context.Context, resource scanagent.Resource, alongside func(*batch), apply applyFunc) (Result, error) {
	l := h.l
	start := time.Now()
	taking := h.taking
	h.taking = 0
	ctx, cancel := context.WithTimeoutCause(ctx, l.cfg.SyncTimeout,
		fmt.Errorf("%w: still running after %s, cancelled and rolled back", ErrSyncTimeout, l.cfg.SyncTimeout))
	defer cancel()
	dbCtx, release := delayedCancel(ctx, dbInterruptDelay)
	defer release()
	conn, err := l.pool.Acquire(dbCtx)
	if err != nil {
		return Result{Resource: resource}, fmt.Errorf("acquire connection: %w", interpretError(err))
	}
	defer conn.Release()

	runID, err := l.startRun(dbCtx, conn.Conn(), h.lease, resource, alongside)
	if ae := (alongsideError{}); errors.As(err, &ae) {
		res := Result{Resource: resource, RunID: runID, Duration: time.Since(start) + taking}
		l.failRun(dbCtx, runID, res, ae.err)
		return res, ae.err
	}
	if err != nil {
		return Result{Resource: resource}, err
	}
	res, err := apply(ctx, dbCtx, conn.Conn(), runID)
	res.Resource, res.RunID = resource, runID
	res.Duration = time.Since(start) + taking
	if err != nil {
		l.failRun(dbCtx, runID, res, err)
		return res, err
	}
	return res, nil
}

// tempBuffers and workMem size a sync's session: the staging tables and
// the hash joins of a listing of 100,000 agents fit in memory.
const (
	tempBuffers = "64MB"
	workMem     = "64MB"
)

// dbInterruptDelay is how long a database statement may go on after the
// sync's context ended; the set-based statements of even a large sync take
// well under that.
const dbInterruptDelay = 5 * time.Second

// delayedCancel returns a context for database work that ends delay after
// ctx ends, with ctx's cause.
func delayedCancel(ctx context.Context, delay time.Duration) (context.Context, context.CancelFunc) {
	dbCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	var timer *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(delay, func() { cancel(context.Cause(ctx)) })
	})
	return dbCtx, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel(context.Canceled)
	}
}

// stopped returns ctx's cause once ctx has ended, else nil.
func stopped(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// apply runs the data transaction of one sync. The listing runs under ctx,
// the statements under dbCtx; between statements, an ended ctx aborts.
// clock holds the fetch time and the latest successful sync's, as read
// when the run started.
func (l *Loader) apply(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64, list scanagent.ListFunc, clock *clockReading) (Result, error) {
	var res Result
	fetchedAt := clock.fetchedAt
	res.FetchedAt = fetchedAt
	day, err := clock.check()
	if err != nil {
		return res, err
	}

	// The transaction begins (beginSync) in the round trip that reads the
	// stored agents.
	var prepare batch
	prepare.beginSync(workTables)
	known := queueKnown(&prepare, l.cfg.TenantID)
	tx, err := prepare.sendBegin(dbCtx, conn, l.cfg.Logger, "prepare the transaction")
	if tx != nil {
		defer func() {
			// A no-op after Commit; after a failure, it must run even when
			// the sync was cancelled.
			_ = tx.Rollback(context.WithoutCancel(dbCtx))
		}()
	}
	if err != nil {
		return res, err
	}

	start := time.Now()
	stats, staged, waited, err := stage(ctx, dbCtx, tx, list, known)
	logStep(l.cfg.Logger, "stage the listing", start, "waiting_for_the_api", waited.Round(time.Microsecond).String())
	res.Rejected, res.APIRequests, res.Duplicates = stats.Rejected, stats.Requests, stats.Duplicates
	res.FieldsRepaired = stats.FieldsRepaired
	res.FetchDuration = waited
	if err != nil {
		return res, err
	}
	var last batch
	counts, checkHeartbeats, err := l.applyStaged(dbCtx, tx, runID, fetchedAt, day, known, staged, stats.Unidentified, &last)
	if err != nil {
		return res, err
	}
	res.Seen, res.Inserted, res.Changed, res.Unchanged = counts.seen, counts.inserted, counts.changed, counts.unchanged
	res.HeartbeatOnly = counts.heartbeatOnly
	res.Deleted, res.DeletionsWithheld = counts.deleted, counts.withheld
	// After the writes applyStaged queued: the tenant's day and latest
	// sync, its fleet's counts and the run's success, in the data
	// transaction (the run is succeeded exactly when its data is
	// committed), in one round trip.
	for _, s := range append(recordDay(l.cfg.TenantID, runID, res.FetchedAt, day, counts.lastSeen), l.finishRunStep(runID, res, day.previous), digestStep(runID),
		agentsWorkTablesEnd.step(runID, staged)) {
		last.exec(s, nil)
	}
	if err := last.send(dbCtx, tx, l.cfg.Logger, "write and record the run and its day"); err != nil {
		return res, err
	}
	if err := checkHeartbeats(); err != nil {
		return res, err
	}
	// The last moment a cancellation can still undo the sync.
	if err := stopped(ctx); err != nil {
		return res, err
	}
	if err := tx.Commit(dbCtx); err != nil {
		return res, fmt.Errorf("commit: %w", interpretError(err))
	}
	return res, nil
}
