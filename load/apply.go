package load

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// counts are what applying one listing did.
type counts struct {
	seen, inserted, changed, unchanged, deleted, withheld int
}

// step is one set-based statement of a sync.
type step struct {
	what string
	sql  string
	args []any
}

// exec runs steps in order, stopping between them once ctx has ended.
func exec(ctx, dbCtx context.Context, tx pgx.Tx, log *slog.Logger, steps []step) error {
	for _, s := range steps {
		if err := stopped(ctx); err != nil {
			return err
		}
		start := time.Now()
		if _, err := tx.Exec(dbCtx, s.sql, s.args...); err != nil {
			return fmt.Errorf("%s: %w", s.what, interpretError(err))
		}
		log.Debug("sync step", "step", s.what, "duration", time.Since(start).Round(time.Microsecond).String())
	}
	return nil
}

// applyStaged applies the staged listing: new agents, changed agents,
// history, heartbeats, observations and deletions, each as one set-based
// statement. Unchanged agents are never written, and an agent whose
// heartbeat alone moved is written only in agent_heartbeat (in place) and
// in one packed observation.
//
// Descriptive attributes (every column but last_seen and
// last_command_execution_at) make history versions; the two volatile
// timestamps make observations instead. The statements name the columns of
// each group explicitly: keep them in step with the schema.
//
// unidentified counts the listing's records without a usable id: when
// there are any, no agent is deleted (see withhold below).
func (l *Loader) applyStaged(ctx, dbCtx context.Context, tx pgx.Tx, runID int64, fetchedAt time.Time, day dayState, unidentified int) (counts, error) {
	var c counts
	tenant := l.cfg.TenantID

	// Before anything changes, the state is the one the tenant's previous
	// sync saw: if that was on an earlier day, that day is now closed.
	if day.closesPrevious(fetchedAt) {
		if err := exec(ctx, dbCtx, tx, l.cfg.Logger, []step{closeDay(tenant)}); err != nil {
			return c, err
		}
	}

	var matchedActive int
	if err := tx.QueryRow(dbCtx, `
		SELECT count(*), count(a.agent_key) FILTER (WHERE a.deleted_at IS NULL)
		  FROM pg_temp.agentsync_staging s
		  LEFT JOIN defender.agent_state a ON a.tenant_id = $1 AND a.agent_id = s.agent_id`,
		tenant).Scan(&c.seen, &matchedActive); err != nil {
		return c, fmt.Errorf("match stored agents: %w", interpretError(err))
	}
	if _, err := tx.Exec(dbCtx, `
		CREATE TEMPORARY TABLE agentsync_diff ON COMMIT DROP AS
		SELECT * FROM (
			SELECT s.*,
			       a.agent_key,
			       a.deleted_at IS NOT NULL AS is_returning,
			       (a.machine_id, a.computer_dns_name, a.assigned_application_id,
			        a.scanner_software_version, a.mde_client_version, a.extra)
			         IS DISTINCT FROM
			       (s.machine_id, s.computer_dns_name, s.assigned_application_id,
			        s.scanner_software_version, s.mde_client_version, s.extra) AS descriptive_changed,
			       (hb.last_seen, hb.last_command_execution_at)
			         IS DISTINCT FROM
			       (s.last_seen, s.last_command_execution_at) AS volatile_changed
			  FROM pg_temp.agentsync_staging s
			  LEFT JOIN defender.agent_state a ON a.tenant_id = $1 AND a.agent_id = s.agent_id
			  LEFT JOIN defender.agent_heartbeat hb ON hb.agent_key = a.agent_key) d
		 WHERE d.agent_key IS NULL OR d.is_returning OR d.descriptive_changed OR d.volatile_changed`,
		tenant); err != nil {
		return c, fmt.Errorf("compare with stored agents: %w", interpretError(err))
	}
	if err := tx.QueryRow(dbCtx, `
		SELECT count(*) FILTER (WHERE agent_key IS NULL), count(agent_key) FROM pg_temp.agentsync_diff`,
	).Scan(&c.inserted, &c.changed); err != nil {
		return c, fmt.Errorf("count changes: %w", interpretError(err))
	}
	c.unchanged = c.seen - c.inserted - c.changed

	// Deletions are decided before anything is written, against the agents
	// active before this sync: those neither listed nor listed unreadable.
	var active, missing int
	if err := tx.QueryRow(dbCtx, `
		SELECT (SELECT count(*) FROM defender.agent_state WHERE tenant_id = $1 AND deleted_at IS NULL),
		       (SELECT count(*) FROM pg_temp.agentsync_unreadable u
		          JOIN defender.agent_state a ON a.tenant_id = $1 AND a.agent_id = u.agent_id AND a.deleted_at IS NULL
		         WHERE NOT EXISTS (SELECT FROM pg_temp.agentsync_staging s WHERE s.agent_id = u.agent_id))`,
		tenant).Scan(&active, &missing); err != nil {
		return c, fmt.Errorf("count missing agents: %w", interpretError(err))
	}
	missing = active - matchedActive - missing
	withhold, why := l.withholdDeletions(missing, active, unidentified)

	all := []any{tenant, fetchedAt, runID}
	steps := []step{
		// New agents: state, first version, heartbeat, and with the known
		// agents whose heartbeat moved, one packed observation row per
		// block of 64 agent keys.
		{"insert new agents", `
			WITH inserted AS (
				INSERT INTO defender.agent_state (
					tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
					scanner_software_version, mde_client_version, extra, first_seen_at, first_seen_run_id, active_since)
				SELECT $1, d.agent_id, d.machine_id, d.computer_dns_name, d.assigned_application_id,
				       d.scanner_software_version, d.mde_client_version, d.extra, $2, $3, $2
				  FROM pg_temp.agentsync_diff d
				 WHERE d.agent_key IS NULL
				RETURNING *
			), history AS (
				INSERT INTO defender.scan_agent_history (
					agent_key, tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
					scanner_software_version, mde_client_version, extra, valid_from, opened_by_run_id)
				SELECT i.agent_key, i.tenant_id, i.agent_id, i.machine_id, i.computer_dns_name, i.assigned_application_id,
				       i.scanner_software_version, i.mde_client_version, i.extra, $2, $3
				  FROM inserted i
			), heartbeat AS (
				INSERT INTO defender.agent_heartbeat (agent_key, last_seen, last_command_execution_at)
				SELECT i.agent_key, d.last_seen, d.last_command_execution_at
				  FROM inserted i
				  JOIN pg_temp.agentsync_diff d ON d.agent_id = i.agent_id
				RETURNING *
			), observed AS (
				SELECT h.agent_key, h.last_seen, h.last_command_execution_at
				  FROM heartbeat h
				 WHERE h.last_seen IS NOT NULL OR h.last_command_execution_at IS NOT NULL
				UNION ALL
				SELECT d.agent_key, d.last_seen, d.last_command_execution_at
				  FROM pg_temp.agentsync_diff d
				 WHERE d.agent_key IS NOT NULL AND d.volatile_changed
			)
			INSERT INTO defender.observation_block
			       (observed_at, run_id, block, slots, last_seen, last_command_execution_at)
			SELECT $2, $3, o.agent_key / 64,
			       array_agg((o.agent_key % 64)::smallint ORDER BY o.agent_key),
			       array_agg(o.last_seen ORDER BY o.agent_key),
			       array_agg(o.last_command_execution_at ORDER BY o.agent_key)
			  FROM observed o
			 GROUP BY o.agent_key / 64`, all},
		// Close the current version of agents whose descriptive attributes
		// changed; deleted agents have none open.
		{"close changed history versions", `
			UPDATE defender.scan_agent_history h
			   SET valid_to = $1, closed_by_run_id = $2
			  FROM pg_temp.agentsync_diff d
			 WHERE h.agent_key = d.agent_key AND h.valid_to IS NULL AND d.descriptive_changed`,
			[]any{fetchedAt, runID}},
		{"open new history versions", `
			INSERT INTO defender.scan_agent_history (
				agent_key, tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
				scanner_software_version, mde_client_version, extra, valid_from, opened_by_run_id)
			SELECT d.agent_key, $1, d.agent_id, d.machine_id, d.computer_dns_name, d.assigned_application_id,
			       d.scanner_software_version, d.mde_client_version, d.extra, $2, $3
			  FROM pg_temp.agentsync_diff d
			 WHERE d.agent_key IS NOT NULL AND (d.descriptive_changed OR d.is_returning)`, all},
		{"update changed agents", `
			UPDATE defender.agent_state a
			   SET machine_id = d.machine_id,
			       computer_dns_name = d.computer_dns_name,
			       assigned_application_id = d.assigned_application_id,
			       scanner_software_version = d.scanner_software_version,
			       mde_client_version = d.mde_client_version,
			       extra = d.extra,
			       active_since = CASE WHEN d.is_returning THEN $1 ELSE a.active_since END,
			       deleted_at = NULL,
			       deleted_by_run_id = NULL
			  FROM pg_temp.agentsync_diff d
			 WHERE a.agent_key = d.agent_key AND (d.descriptive_changed OR d.is_returning)`,
			[]any{fetchedAt}},
		{"update heartbeats", `
			UPDATE defender.agent_heartbeat hb
			   SET last_seen = d.last_seen,
			       last_command_execution_at = d.last_command_execution_at
			  FROM pg_temp.agentsync_diff d
			 WHERE hb.agent_key = d.agent_key AND d.volatile_changed`, nil},
	}
	if missing > 0 {
		steps = append(steps, step{"find missing agents", `
			CREATE TEMPORARY TABLE agentsync_missing ON COMMIT DROP AS
			SELECT a.agent_key
			  FROM defender.agent_state a
			 WHERE a.tenant_id = $1 AND a.deleted_at IS NULL
			   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_staging s WHERE s.agent_id = a.agent_id)
			   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_unreadable u WHERE u.agent_id = a.agent_id)`,
			[]any{tenant}})
	}
	switch {
	case missing > 0 && withhold:
		steps = append(steps, step{"record withheld deletions", `
			INSERT INTO defender.withheld_deletions (agent_key, run_id)
			SELECT m.agent_key, $1 FROM pg_temp.agentsync_missing m`, []any{runID}})
	case missing > 0:
		if day.sameDay(fetchedAt) {
			// The agents were active at an earlier sync of today: their day
			// so far is stored before they go.
			steps = append(steps, keepDayOfDeleted(tenant))
		}
		steps = append(steps, step{"delete missing agents", `
			WITH deleted AS (
				UPDATE defender.agent_state a
				   SET deleted_at = $1, deleted_by_run_id = $2
				  FROM pg_temp.agentsync_missing m
				 WHERE a.agent_key = m.agent_key
				RETURNING a.agent_key
			)
			UPDATE defender.scan_agent_history h
			   SET valid_to = $1, closed_by_run_id = $2
			  FROM deleted
			 WHERE h.agent_key = deleted.agent_key AND h.valid_to IS NULL`,
			[]any{fetchedAt, runID}})
	}
	steps = append(steps, recordDay(tenant, runID, fetchedAt)...)
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, steps); err != nil {
		return c, err
	}

	if withhold {
		c.withheld = missing
		l.logWithheld("agents", why, runID, missing, active, unidentified)
	} else {
		c.deleted = missing
	}
	return c, nil
}

// Why a sync withholds its deletions.
const (
	withheldUnidentified = "unidentified"
	withheldMassDeletion = "mass deletion"
)

// withholdDeletions decides whether a complete listing that misses
// missing of the active records withholds its deletions, and why: a
// record without a usable id may be any record the listing seems to lack,
// so such a listing deletes none, whatever the guard allows; else the
// mass-deletion guard decides.
func (l *Loader) withholdDeletions(missing, active, unidentified int) (bool, string) {
	switch {
	case missing <= 0:
		return false, ""
	case unidentified > 0:
		return true, withheldUnidentified
	case !l.cfg.AllowMassDeletion && missing > l.cfg.MaxDeletedCount && float64(missing) > l.cfg.MaxDeletedFraction*float64(active):
		return true, withheldMassDeletion
	}
	return false, ""
}

// rejectedLine is the log message of a rejected record, by records.
var rejectedLine = map[string]string{"agents": "agent rejected", "definitions": "scan definition rejected"}

// logWithheld warns that a sync of records (agents, definitions) withheld
// its deletions, saying why and what to do.
func (l *Loader) logWithheld(records, why string, runID int64, missing, active, unidentified int) {
	tenant := l.cfg.TenantID
	if why == withheldUnidentified {
		l.cfg.Logger.Warn("deletions withheld: the listing had records without a usable id, and any missing "+strings.TrimSuffix(records, "s")+" may be one of them",
			"tenant", tenant, "run_id", runID, "missing", missing, "unidentified", unidentified,
			"hint", "see the \""+rejectedLine[records]+"\" lines; deletions resume with the first listing whose records all have an id")
		return
	}
	l.cfg.Logger.Warn("deletions withheld: this sync would mark too many "+records+" deleted",
		"tenant", tenant, "run_id", runID, "missing", missing, "active", active,
		"max_fraction", l.cfg.MaxDeletedFraction, "max_count", l.cfg.MaxDeletedCount,
		"hint", "if the tenant really lost these "+records+", run one sync with --allow-mass-deletion")
}
