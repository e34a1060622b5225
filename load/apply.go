package load

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// counts are what applying one listing did.
type counts struct {
	seen, inserted, changed, unchanged, deleted, withheld int
}

// applyStaged applies the staged listing: new agents, changed agents,
// history, observations and deletions, each as one set-based statement.
// Unchanged agents are never written.
//
// Descriptive attributes (every column but last_seen and
// last_command_execution_at) make history versions; the two volatile
// timestamps make observations instead. The statements name the columns of
// each group explicitly: keep them in step with the schema.
//
// unidentified counts the listing's records without a usable id: when
// there are any, no agent is deleted (see withhold below).
func (l *Loader) applyStaged(ctx, dbCtx context.Context, tx pgx.Tx, runID int64, fetchedAt time.Time, unidentified int) (counts, error) {
	var c counts
	tenant := l.cfg.TenantID

	// Compare every staged agent with its stored state once.
	if _, err := tx.Exec(dbCtx, `
		CREATE TEMPORARY TABLE agentsync_diff ON COMMIT DROP AS
		SELECT s.*,
		       a.agent_key,
		       a.deleted_at IS NOT NULL AS is_returning,
		       (a.machine_id, a.computer_dns_name, a.assigned_application_id,
		        a.scanner_software_version, a.mde_client_version, a.extra)
		         IS DISTINCT FROM
		       (s.machine_id, s.computer_dns_name, s.assigned_application_id,
		        s.scanner_software_version, s.mde_client_version, s.extra) AS descriptive_changed,
		       (a.last_seen, a.last_command_execution_at)
		         IS DISTINCT FROM
		       (s.last_seen, s.last_command_execution_at) AS volatile_changed
		  FROM pg_temp.agentsync_staging s
		  LEFT JOIN defender.agent_state a ON a.tenant_id = $1 AND a.agent_id = s.agent_id`,
		tenant); err != nil {
		return c, fmt.Errorf("compare with stored agents: %w", interpretError(err))
	}
	if _, err := tx.Exec(dbCtx, `ANALYZE pg_temp.agentsync_diff`); err != nil {
		return c, fmt.Errorf("analyze comparison: %w", interpretError(err))
	}
	if err := tx.QueryRow(dbCtx, `
		SELECT count(*),
		       count(*) FILTER (WHERE agent_key IS NULL),
		       count(*) FILTER (WHERE agent_key IS NOT NULL AND (descriptive_changed OR volatile_changed OR is_returning))
		  FROM pg_temp.agentsync_diff`).Scan(&c.seen, &c.inserted, &c.changed); err != nil {
		return c, fmt.Errorf("count changes: %w", interpretError(err))
	}
	c.unchanged = c.seen - c.inserted - c.changed

	// Deletions are decided before anything is written, against the agents
	// active before this sync.
	var active, missing int
	if err := tx.QueryRow(dbCtx, `
		SELECT count(*), count(*) FILTER (WHERE s.agent_id IS NULL AND u.agent_id IS NULL)
		  FROM defender.agent_state a
		  LEFT JOIN pg_temp.agentsync_staging s ON s.agent_id = a.agent_id
		  LEFT JOIN pg_temp.agentsync_unreadable u ON u.agent_id = a.agent_id
		 WHERE a.tenant_id = $1 AND a.deleted_at IS NULL`, tenant).Scan(&active, &missing); err != nil {
		return c, fmt.Errorf("count missing agents: %w", interpretError(err))
	}
	// A record without a usable id may be any agent the listing seems to
	// lack: such a listing deletes none, whatever the guard allows.
	massDeletion := !l.cfg.AllowMassDeletion &&
		missing > l.cfg.MaxDeletedCount && float64(missing) > l.cfg.MaxDeletedFraction*float64(active)
	withhold := missing > 0 && (unidentified > 0 || massDeletion)

	type statement struct {
		what string
		sql  string
		args []any
	}
	all := []any{tenant, fetchedAt, runID}
	statements := []statement{
		{"insert new agents", `
			WITH inserted AS (
				INSERT INTO defender.agent_state (
					tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
					scanner_software_version, mde_client_version, last_seen, last_command_execution_at,
					extra, first_seen_at, first_seen_run_id)
				SELECT $1, d.agent_id, d.machine_id, d.computer_dns_name, d.assigned_application_id,
				       d.scanner_software_version, d.mde_client_version, d.last_seen, d.last_command_execution_at,
				       d.extra, $2, $3
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
			)
			INSERT INTO defender.agent_observation (agent_key, run_id, last_seen, last_command_execution_at)
			SELECT i.agent_key, $3, i.last_seen, i.last_command_execution_at
			  FROM inserted i
			 WHERE i.last_seen IS NOT NULL OR i.last_command_execution_at IS NOT NULL`, all},
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
		{"observe changed timestamps", `
			INSERT INTO defender.agent_observation (agent_key, run_id, last_seen, last_command_execution_at)
			SELECT d.agent_key, $1, d.last_seen, d.last_command_execution_at
			  FROM pg_temp.agentsync_diff d
			 WHERE d.agent_key IS NOT NULL AND d.volatile_changed`, []any{runID}},
		{"update changed agents", `
			UPDATE defender.agent_state a
			   SET machine_id = d.machine_id,
			       computer_dns_name = d.computer_dns_name,
			       assigned_application_id = d.assigned_application_id,
			       scanner_software_version = d.scanner_software_version,
			       mde_client_version = d.mde_client_version,
			       last_seen = d.last_seen,
			       last_command_execution_at = d.last_command_execution_at,
			       extra = d.extra,
			       deleted_at = NULL,
			       deleted_by_run_id = NULL
			  FROM pg_temp.agentsync_diff d
			 WHERE a.agent_key = d.agent_key
			   AND (d.descriptive_changed OR d.volatile_changed OR d.is_returning)`, nil},
	}
	if missing > 0 && withhold {
		statements = append(statements, statement{"record withheld deletions", `
			INSERT INTO defender.withheld_deletions (agent_key, run_id)
			SELECT a.agent_key, $2
			  FROM defender.agent_state a
			 WHERE a.tenant_id = $1 AND a.deleted_at IS NULL
			   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_staging s WHERE s.agent_id = a.agent_id)
			   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_unreadable u WHERE u.agent_id = a.agent_id)`,
			[]any{tenant, runID}})
	} else if missing > 0 {
		statements = append(statements, statement{"delete missing agents", `
			WITH deleted AS (
				UPDATE defender.agent_state a
				   SET deleted_at = $2, deleted_by_run_id = $3
				 WHERE a.tenant_id = $1 AND a.deleted_at IS NULL
				   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_staging s WHERE s.agent_id = a.agent_id)
				   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_unreadable u WHERE u.agent_id = a.agent_id)
				RETURNING a.agent_key
			)
			UPDATE defender.scan_agent_history h
			   SET valid_to = $2, closed_by_run_id = $3
			  FROM deleted
			 WHERE h.agent_key = deleted.agent_key AND h.valid_to IS NULL`, all})
	}
	for _, s := range statements {
		if err := stopped(ctx); err != nil {
			return c, err
		}
		if _, err := tx.Exec(dbCtx, s.sql, s.args...); err != nil {
			return c, fmt.Errorf("%s: %w", s.what, interpretError(err))
		}
	}

	switch {
	case withhold && unidentified > 0:
		c.withheld = missing
		l.cfg.Logger.Warn("deletions withheld: the listing had records without a usable id, and any missing agent may be one of them",
			"tenant", tenant, "run_id", runID, "missing", missing, "unidentified", unidentified,
			"hint", "see the \"agent rejected\" lines; deletions resume with the first listing whose records all have an id")
	case withhold:
		c.withheld = missing
		l.cfg.Logger.Warn("deletions withheld: this sync would mark too many agents deleted",
			"tenant", tenant, "run_id", runID, "missing", missing, "active", active,
			"max_fraction", l.cfg.MaxDeletedFraction, "max_count", l.cfg.MaxDeletedCount,
			"hint", "if the tenant really lost these agents, run one sync with --allow-mass-deletion")
	default:
		c.deleted = missing
	}
	return c, nil
}
