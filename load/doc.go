// Package load writes what a sync fetched into the defender schema of
// PostgreSQL, one resource at a time: scan agents (Sync: current state,
// history of descriptive attributes, observations of the volatile
// timestamps, daily rollups), scan definitions (SyncDefinitions: current
// state and versions) and scan history (SyncHistory: sessions and their
// targets, facts stored once). SyncResources runs several in order.
//
// Every resource gets the same guarantees. One sync of a resource is one
// run in sync_runs and one transaction. Records stream into a temporary
// staging table with COPY; set-based statements then apply them, so the
// cost does not grow with one round trip per record. An agents sync first
// reads the tenant's active agents (key, fingerprint of the descriptive
// values, heartbeat) and stages only the records that may change
// something: an unchanged record is skipped, and a record whose heartbeat
// alone moved is updated in place from arrays (see knownAgents). A sync that fails
// anywhere (fetch, database, cancellation) rolls back every data change
// and is recorded as failed; a failure of one resource never undoes
// another. Only a complete listing marks agents or definitions deleted,
// and a guard withholds mass deletions. Unchanged records are never
// written. Syncs of one tenant are serialized across processes by a
// lease on the tenant (defender_storage.tenant_leases: holder and expiry), taken
// once for the resources of a sync of the tenant (Hold), renewed and given
// back in short transactions of their own, so that it holds through a
// transaction pooler; those transactions do not wait for the WAL flush
// (see bookkeeping.go).
//
// Every statement the loader sends is written once, whole, in a file of
// its own under load/sql/ (named for what it does, such as
// agents_insert_new.sql or history_cover_targets.sql), embedded in the
// binary and sent as it is: each file starts with a comment saying what
// the statement does and what its parameters ($1 … $n) are. Tests check
// that every file is used and that PostgreSQL parses each one against the
// migrated schema. Only the partition DDL of DropObservations is composed,
// from a quoted partition name.
package load
