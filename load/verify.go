package load

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
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
	// digests computed, dropped ones included: they prove nothing of
	// before the upgrade.
	ComputedAtUpgrade int `json:"computed_at_upgrade"`
	// ObservationsDropped counts the runs whose observations retention
	// dropped: their observations part is taken as stored.
	ObservationsDropped int `json:"observations_dropped"`
	// SessionsDropped counts the runs that had written scan sessions or
	// targets SCAN_HISTORY_RETENTION dropped since: their session and
	// target parts are taken as stored.
	SessionsDropped int `json:"sessions_dropped"`
	// RunsDropped counts the runs RUN_RETENTION dropped that the chain
	// was recomputed through (runs_dropped): their rows are gone, their
	// digests and what the chain needs of their parts are kept. They are
	// not among Runs.
	RunsDropped int `json:"runs_dropped"`
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
							&r.sessionsDropped, &r.expected, &r.atUpgrade, &r.wholeParts)
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
		stretches, err := droppedStretches(ctx, first, t)
		if err != nil {
			return err
		}
		slices.SortFunc(stretches, func(a, b droppedStretch) int {
			return cmp.Or(strings.Compare(a.TenantID, b.TenantID), strings.Compare(a.Resource, b.Resource), cmp.Compare(a.FirstRunID, b.FirstRunID))
		})
		chains = chainsOf(runs, stretches)
		if len(chains) == 0 && tenant != "" {
			return unknownTenant(ctx, first, tenant)
		}
		return nil
	})
	return chains, err
}

// droppedStretches reads the stretches of runs RUN_RETENTION dropped (of
// tenant, unless nil); none before schema 42, which has no runs_dropped.
func droppedStretches(ctx context.Context, tx pgx.Tx, tenant *string) ([]droppedStretch, error) {
	var exists bool
	if err := tx.QueryRow(ctx, query("verify_runs_dropped_exists")).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	rows, err := tx.Query(ctx, query("verify_dropped_runs"), tenant)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[droppedStretch])
}

// chainsOf checks the runs, ordered by tenant, resource and run, chain by
// chain, up to each chain's first mismatch, recomputing each chain through
// the stretches of runs RUN_RETENTION dropped (ordered the same way).
func chainsOf(runs []verifiedRun, stretches []droppedStretch) []ChainVerification {
	var chains []ChainVerification
	var c *ChainVerification
	// The chain's last run so far, kept or dropped, and its stored digest;
	// dropped tells that the runs since the last kept one were dropped.
	var last, chainedBy *int64
	var lastDigest []byte
	var dropped bool
	chainThrough := func(s droppedStretch) {
		if c.Mismatch != nil {
			return
		}
		n, m := s.check(last, lastDigest)
		if m != nil {
			c.Mismatch = m
			return
		}
		c.RunsDropped += n
		c.ComputedAtUpgrade += s.ComputedAtUpgrade
		lastRun := s.LastRunID
		last, lastDigest, dropped, chainedBy = &lastRun, s.Digest, true, s.ChainedBy
	}
	// stretchesBefore chains through the stretches of the chain of c that
	// come before run (all of them when run is 0).
	stretchesBefore := func(run int64) {
		for len(stretches) > 0 {
			s := stretches[0]
			if cmp.Or(strings.Compare(s.TenantID, c.TenantID), strings.Compare(s.Resource, c.Resource)) < 0 {
				stretches = stretches[1:] // of a chain without a run left: nothing to chain it to
				continue
			}
			if s.TenantID != c.TenantID || s.Resource != c.Resource || (run != 0 && s.FirstRunID > run) {
				return
			}
			stretches = stretches[1:]
			chainThrough(s)
		}
	}
	for _, r := range runs {
		if c == nil || c.TenantID != r.tenantID || c.Resource != r.resource {
			if c != nil {
				stretchesBefore(0)
			}
			chains = append(chains, ChainVerification{TenantID: r.tenantID, Resource: r.resource})
			c = &chains[len(chains)-1]
			last, lastDigest, dropped = nil, nil, false
		}
		stretchesBefore(r.runID)
		if c.Mismatch != nil {
			continue
		}
		if dropped && r.status == "succeeded" {
			// The run before it was dropped: it should chain the last of
			// them (run_digest.previous_dropped_run_id).
			r.expectedPrevious = last
			r.expected = chainDigest(lastDigest, r.wholeParts)
			if r.previous == nil && chainedBy != nil && *chainedBy == r.runID {
				r.previous = last
			}
		}
		if m := r.check(); m != nil {
			c.Mismatch = m
			continue
		}
		runID := r.runID
		last, lastDigest, dropped = &runID, r.stored, false
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
	if c != nil {
		stretchesBefore(0)
	}
	return chains
}

// chainDigest is defender_storage.chain_digest: SHA-256 of the previous
// digest (nothing for a chain's first run) and the run's whole parts.
func chainDigest(previous, parts []byte) []byte {
	sum := sha256.Sum256(append(slices.Clip(previous), parts...))
	return sum[:]
}

// emptyPart is the digest of a part without rows (SHA-256 of nothing):
// parts 2 to 5 of every dropped run, and those of its parts 6 to 8 its
// link leaves out.
var emptyPart = sha256.Sum256(nil)

// droppedStretch is a row of verify_dropped_runs: consecutive runs of a
// chain that RUN_RETENTION dropped.
type droppedStretch struct {
	TenantID, Resource    string
	PreviousRunID         *int64
	FirstRunID, LastRunID int64
	Digest                []byte // of its last run
	Links                 []byte
	ChainedBy             *int64 // the run kept that chains its last run
	ComputedAtUpgrade     int    // its runs whose digest the upgrade to digests computed
}

// dropLink is a dropped run as runs_dropped.links keeps it.
type dropLink struct {
	runID int64
	parts []byte // its eight part digests, whole
}

// links reads the stretch's links: per run its run_id (8 bytes), its run
// part (32), a byte telling which of parts 6 to 8 follow (bits 0 to 2),
// then those. ok is false when they do not read so.
func (s droppedStretch) links() (links []dropLink, ok bool) {
	b := s.Links
	for len(b) > 0 {
		if len(b) < 8+32+1 {
			return nil, false
		}
		l := dropLink{runID: int64(binary.BigEndian.Uint64(b[:8])), parts: make([]byte, 0, 8*32)}
		l.parts = append(l.parts, b[8:40]...)
		for range 4 {
			l.parts = append(l.parts, emptyPart[:]...)
		}
		present := b[40]
		b = b[41:]
		if present > 7 {
			return nil, false
		}
		for bit := range 3 {
			if present&(1<<bit) == 0 {
				l.parts = append(l.parts, emptyPart[:]...)
				continue
			}
			if len(b) < 32 {
				return nil, false
			}
			l.parts, b = append(l.parts, b[:32]...), b[32:]
		}
		links = append(links, l)
	}
	return links, len(links) > 0
}

// check chains the stretch to the chain's last run before it (previous,
// with its stored digest): each run's digest is recomputed from the one
// before and its parts, and the last must be the stretch's digest. It
// returns the stretch's runs, or why they do not chain.
func (s droppedStretch) check(previous *int64, previousDigest []byte) (runs int, m *DigestMismatch) {
	links, ok := s.links()
	span := fmt.Sprintf("the runs RUN_RETENTION dropped from run %d to run %d", s.FirstRunID, s.LastRunID)
	if !ok || links[0].runID != s.FirstRunID || links[len(links)-1].runID != s.LastRunID {
		return 0, &DigestMismatch{RunID: s.FirstRunID, Reason: span + " are not stored whole (runs_dropped.links)"}
	}
	if !sameRun(s.PreviousRunID, previous) {
		return 0, &DigestMismatch{RunID: s.FirstRunID, Reason: fmt.Sprintf(
			"the chain is broken: %s chain %s, the previous run of the chain is %s", span, runName(s.PreviousRunID), runName(previous))}
	}
	digest := previousDigest
	for i, l := range links {
		if i > 0 && l.runID <= links[i-1].runID {
			return 0, &DigestMismatch{RunID: l.runID, Reason: span + " are out of order"}
		}
		digest = chainDigest(digest, l.parts)
	}
	if !bytes.Equal(digest, s.Digest) {
		return 0, &DigestMismatch{RunID: s.LastRunID, Reason: span +
			" no longer give the digest kept of the last of them: what was kept of them, or a run before them, was changed"}
	}
	return len(links), nil
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
	wholeParts                     []byte // the parts recomputed, whole, those retention dropped the rows of as stored
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
