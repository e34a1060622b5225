package load

import "time"

// WithoutDigests runs f with syncs that store no run digest: the digest's
// statement is replaced by one that only returns the run id, in the same
// place of the same batch, so that a benchmark measures what the digest
// adds to a sync. Not safe while another goroutine syncs.
func WithoutDigests(f func()) {
	saved := digestStep
	digestStep = func(runID int64) step {
		return step{"skip the run's digest (benchmark)", "SELECT $1::bigint", []any{runID}}
	}
	defer func() { digestStep = saved }()
	f()
}

// AtSchema returns cfg for a loader syncing into a database at schema
// version, older than the latest: its statements call only what that
// version has, so that a test can compare what two schemas store for the
// same syncs.
func AtSchema(cfg Config, version int64) Config {
	cfg.schema = version
	return cfg
}

// Statement is the text of the loader's statement sql/name.sql.
func Statement(name string) string { return query(name) }

// WithRunRetentionBatch runs f with run retention looking at n runs of a
// tenant per transaction, and pausing a pass after budget. Not safe while
// another goroutine drops runs.
func WithRunRetentionBatch(n int, budget time.Duration, f func()) {
	savedBatch, savedBudget := runRetentionBatch, runRetentionBudget
	runRetentionBatch, runRetentionBudget = n, budget
	defer func() { runRetentionBatch, runRetentionBudget = savedBatch, savedBudget }()
	f()
}
