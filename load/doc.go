// Package load writes listings of scan agents into the defender schema of
// PostgreSQL: current state, history of descriptive attributes, observations
// of the volatile timestamps, and one sync_runs row per sync.
//
// One sync is one transaction. Records stream into a temporary staging table
// with COPY; set-based statements then apply them, so the cost does not grow
// with one round trip per agent. A sync that fails anywhere (fetch, database,
// cancellation) rolls back every data change and is recorded as failed.
// Only a complete listing marks agents deleted, and a guard withholds mass
// deletions. Syncs of one tenant are serialized across processes by a
// PostgreSQL advisory lock.
package load
