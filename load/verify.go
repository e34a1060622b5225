package load

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
)

// DigestParts names the eight parts of a run digest, in the order of
// run_digest.parts, with the stored rows each covers (docs/audit.md).
var DigestParts = [8]string{
	"the run (its row of defender.sync_runs: status, fetch times, counts)",
	"the versions it opened (scan_agent_history, definition_version: opened_by_run_id)",
	"the versions it closed (scan_agent_history, definition_version: closed_by_run_id, valid_to)",
	"its deletions (agent_state, definition_state: deleted_by_run_id, deleted_at)",
	"the deletions it withheld (withheld_deletions, definition_withheld)",
	"its observations (observation: last_seen, last_command_execution_at)",
	"the sessions it wrote (session_result, session_write)",
	"the targets it stored (target_result of the sessions whose targets_run_id is the run)",
}

// The parts retention may drop the rows of, by their index in
// DigestParts: run_digest keeps them whole.
const (
	observationsPart = 5 // OBSERVATION_RETENTION
	sessionsPart     = 6 // SCAN_HISTORY_RETENTION: the sessions a run wrote, then the targets it stored
	targetsPart      = 7
)

// partBounds are where each part lies in run_digest.parts: the first 4
// bytes of each part's SHA-256, enough to name the part that changed,
// and the whole 32 of the last three, which retention may drop the rows of
// (defender_storage.compact_digest_parts). The digest covers the parts
// whole.
var partBounds = [len(DigestParts) + 1]int{0, 4, 8, 12, 16, 20, 52, 84, 116}

// ChainVerification is what verify found of one chain: the successful runs
// of a tenant and resource.
type ChainVerification struct {
	TenantID string `json:"tenant_id"`
	Resource string `json:"resource"`
	// Runs is the number of runs verified: the whole chain, or those
	// before Mismatch.
	Runs int `json:"runs_verified"`
	// HeadRunID and HeadDigest are the latest run of the chain and its
	// digest (hex) as stored; zero and empty when the chain has no run.
	HeadRunID     int64     `json:"head_run_id"`
	HeadFetchedAt time.Time `json:"head_fetched_at"`
	HeadDigest    string    `json:"head_digest"`
	// ComputedAtUpgrade counts the runs whose digest the upgrade to
	// digests computed: they prove nothing of before the upgrade.
	ComputedAtUpgrade int `json:"computed_at_upgrade"`
	// ObservationsDropped counts the runs whose observations retention
	// dropped: their observations part is taken as stored.
	ObservationsDropped int `json:"observations_dropped"`
	// SessionsDropped counts the runs that had written scan sessions or
	// targets SCAN_HISTORY_RETENTION dropped since: their session and
	// target parts are taken as stored.
	SessionsDropped int `json:"sessions_dropped"`
	// Mismatch is the first run whose stored rows no longer give its
	// digest; nil when the chain verifies.
	Mismatch *DigestMismatch `json:"mismatch"`
}

// DigestMismatch names a run whose digest no longer matches, and why.
type DigestMismatch struct {
	RunID     int64      `json:"run_id"`
	FetchedAt *time.Time `json:"fetched_at"`
	// Reason says what differs, in a sentence.
	Reason string `json:"reason"`
	// Parts are the parts of DigestParts whose rows changed, when the
	// rows are what differs.
	Parts []string `json:"parts,omitempty"`
}

// Verified reports whether every chain verified.
func Verified(chains []ChainVerification) bool {
	for _, c := range chains {
		if c.Mismatch != nil {
			return false
		}
	}
	return true
}

// Verify recomputes every chain of run digests (of one tenant when tenant
// is not empty) from the rows as stored, all in one read-only snapshot:
// the runs are shared among up to workers transactions that import the
// snapshot of the first. It reads the storage schema, so it runs as the
// owner of the schema (a reader gets ErrNotOwner). A tenant never synced
// is an UnknownTenantError naming the tenants there are.
func Verify(ctx context.Context, pool *pgxpool.Pool, tenant string) ([]ChainVerification, error) {
	chains, err := verify(ctx, pool, strings.TrimSpace(tenant))
	if err != nil {
		var unknown *UnknownTenantError
		if errors.As(err, &unknown) {
			return nil, err
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return nil, fmt.Errorf("%w: %s", ErrNotOwner, pgErr.Message)
		}
		return nil, fmt.Errorf("verify run digests: %w", interpretError(err))
	}
	return chains, nil
}

// verifyWorkers is how many transactions share the runs to recompute:
// one per core, within the pool (the first transaction holds one
// connection while the workers read).
func verifyWorkers(pool *pgxpool.Pool) int {
	return max(1, min(runtime.NumCPU(), int(pool.Config().MaxConns)-1))
}

// snapshotID is what pg_export_snapshot returns, checked before it is
// written into SET TRANSACTION SNAPSHOT (which takes no parameter).
var snapshotID = regexp.MustCompile(`^[0-9A-F]+-[0-9A-F]+-[0-9]+$`)

func verify(ctx context.Context, pool *pgxpool.Pool, tenant string) ([]ChainVerification, error) {
	readOnly := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	var t *string
	if tenant != "" {
		t = &tenant
	}
	var chains []ChainVerification
	err := pgx.BeginTxFunc(ctx, pool, readOnly, func(first pgx.Tx) error {
		var snapshot string
		if err := first.QueryRow(ctx, query("verify_export_snapshot")).Scan(&snapshot); err != nil {
			return err
		}
		if !snapshotID.MatchString(snapshot) {
			return fmt.Errorf("unexpected snapshot id %q", snapshot)
		}
		workers := verifyWorkers(pool)
		parts := make([][]verifiedRun, workers)
		g, gctx := errgroup.WithContext(ctx)
		for w := range workers {
			g.Go(func() error {
				return pgx.BeginTxFunc(gctx, pool, readOnly, func(tx pgx.Tx) error {
					if _, err := tx.Exec(gctx, "SET TRANSACTION SNAPSHOT '"+snapshot+"'"); err != nil {
						return fmt.Errorf("share the snapshot: %w", err)
					}
					rows, err := tx.Query(gctx, query("verify_runs"), t, workers, w)
					if err != nil {
						return err
					}
					parts[w], err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (verifiedRun, error) {
						var r verifiedRun
						err := row.Scan(&r.runID, &r.tenantID, &r.resource, &r.status, &r.fetchedAt, &r.hasDigest,
							&r.previous, &r.expectedPrevious, &r.stored, &r.parts, &r.recomputed, &r.observationsDropped,
							&r.sessionsDropped, &r.expected, &r.atUpgrade)
						return r, err
					})
					return err
				})
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		runs := slices.Concat(parts...)
		slices.SortFunc(runs, func(a, b verifiedRun) int {
			return cmp.Or(strings.Compare(a.tenantID, b.tenantID), strings.Compare(a.resource, b.resource), cmp.Compare(a.runID, b.runID))
		})
		chains = chainsOf(runs)
		if len(chains) == 0 && tenant != "" {
			return unknownTenant(ctx, first, tenant)
		}
		return nil
	})
	return chains, err
}

// chainsOf checks the runs, ordered by tenant, resource and run, chain by
// chain, up to each chain's first mismatch.
func chainsOf(runs []verifiedRun) []ChainVerification {
	var chains []ChainVerification
	var c *ChainVerification
	for _, r := range runs {
		if c == nil || c.TenantID != r.tenantID || c.Resource != r.resource {
			chains = append(chains, ChainVerification{TenantID: r.tenantID, Resource: r.resource})
			c = &chains[len(chains)-1]
		}
		if c.Mismatch != nil {
			continue
		}
		if m := r.check(); m != nil {
			c.Mismatch = m
			continue
		}
		c.Runs++
		c.HeadRunID, c.HeadDigest = r.runID, hex.EncodeToString(r.stored)
		if r.fetchedAt != nil {
			c.HeadFetchedAt = r.fetchedAt.UTC()
		}
		if r.atUpgrade {
			c.ComputedAtUpgrade++
		}
		if r.observationsDropped && r.differs(observationsPart) {
			c.ObservationsDropped++
		}
		if r.sessionsDropped && (r.differs(sessionsPart) || r.differs(targetsPart)) {
			c.SessionsDropped++
		}
	}
	return chains
}

// verifiedRun is a row of verify_runs.
type verifiedRun struct {
	runID                          int64
	tenantID, resource, status     string
	fetchedAt                      *time.Time
	hasDigest                      bool
	previous, expectedPrevious     *int64
	stored, parts, recomputed      []byte // the digest and parts stored, the parts recomputed
	expected                       []byte // the digest of the parts recomputed, chained with the previous digest stored
	observationsDropped, atUpgrade bool
	sessionsDropped                bool
}

// part is what run_digest keeps of part i (of DigestParts) in parts, empty
// when parts is.
func (r verifiedRun) part(parts []byte, i int) []byte {
	if len(parts) < partBounds[i+1] {
		return nil
	}
	return parts[partBounds[i]:partBounds[i+1]]
}

// differs reports whether part i as stored differs from what the rows
// give now.
func (r verifiedRun) differs(i int) bool {
	return !bytes.Equal(r.part(r.parts, i), r.part(r.recomputed, i))
}

// takenAsStored reports whether retention dropped the rows of part i, so
// that verify takes the part as stored.
func (r verifiedRun) takenAsStored(i int) bool {
	switch i {
	case observationsPart:
		return r.observationsDropped
	case sessionsPart, targetsPart:
		return r.sessionsDropped
	}
	return false
}

// check compares what is stored of the run with what its rows give now.
func (r verifiedRun) check() *DigestMismatch {
	m := &DigestMismatch{RunID: r.runID, FetchedAt: r.fetchedAt}
	switch {
	case r.status != "succeeded":
		m.Reason = fmt.Sprintf("the run is %s, yet has a digest: only successful runs have one", r.status)
	case !r.hasDigest:
		m.Reason = "the run succeeded, yet has no digest: its digest was removed"
	case !sameRun(r.previous, r.expectedPrevious):
		m.Reason = fmt.Sprintf("the chain is broken: its digest chains %s, the previous successful run is %s",
			runName(r.previous), runName(r.expectedPrevious))
	default:
		for i := range DigestParts {
			if r.differs(i) && !r.takenAsStored(i) {
				m.Parts = append(m.Parts, DigestParts[i])
			}
		}
		switch {
		case len(m.Parts) > 0:
			m.Reason = "its stored rows changed since the run wrote them: " + strings.Join(m.Parts, "; ")
		case !bytes.Equal(r.stored, r.expected):
			m.Reason = "its rows match, but its digest is not that of its parts chained with the previous run's: the digest was changed"
		default:
			return nil
		}
	}
	return m
}

func sameRun(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func runName(id *int64) string {
	if id == nil {
		return "none"
	}
	return fmt.Sprintf("run %d", *id)
}

// unknownTenant is the error for a tenant with no run to verify.
func unknownTenant(ctx context.Context, tx pgx.Tx, tenant string) error {
	rows, err := tx.Query(ctx, query("verify_tenants"))
	if err != nil {
		return err
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	return &UnknownTenantError{Tenant: tenant, Known: known}
}
