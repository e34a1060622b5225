package report

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChainHead is the latest run digest of a tenant and resource
// (defender.run_digests): it stands for every run of the chain before it,
// so that an auditor who keeps it can later tell whether the history up to
// that run was edited (agentsync verify, docs/audit.md).
type ChainHead struct {
	// Resource is agents, definitions or history; each is a chain of
	// its own (the key of the manifest's object).
	Resource  string    `json:"-"`
	RunID     int64     `json:"run_id"`
	FetchedAt time.Time `json:"fetched_at"`
	// Digest is the run's SHA-256 digest, hex.
	Digest string `json:"digest"`
	// ComputedAtUpgrade is true when the upgrade to digests computed it:
	// it proves nothing of before the upgrade.
	ComputedAtUpgrade bool `json:"computed_at_upgrade"`
}

// chainHeadsQuery reads, per tenant of $1 and resource, the digest of the
// latest run fetched at or before $2 (null: the latest).
const chainHeadsQuery = `
	SELECT DISTINCT ON (tenant_id, resource) tenant_id, resource, run_id, fetched_at, digest, computed_at_upgrade
	  FROM defender.run_digests
	 WHERE tenant_id = ANY ($1) AND ($2::timestamptz IS NULL OR fetched_at <= $2::timestamptz)
	 ORDER BY tenant_id, resource, run_id DESC`

// readChainHeads returns the chain heads of the tenants as of a time, by
// tenant, in the order of their resources' names.
func readChainHeads(ctx context.Context, tx pgx.Tx, tenants []string, at time.Time) (map[string][]ChainHead, error) {
	rows, err := tx.Query(ctx, chainHeadsQuery, tenants, at)
	if err != nil {
		return nil, fmt.Errorf("read the chain heads: %w", err)
	}
	defer rows.Close()
	heads := map[string][]ChainHead{}
	for rows.Next() {
		var tenant string
		var h ChainHead
		if err := rows.Scan(&tenant, &h.Resource, &h.RunID, &h.FetchedAt, &h.Digest, &h.ComputedAtUpgrade); err != nil {
			return nil, fmt.Errorf("read the chain heads: %w", err)
		}
		h.FetchedAt = h.FetchedAt.UTC()
		heads[tenant] = append(heads[tenant], h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the chain heads: %w", err)
	}
	return heads, nil
}
