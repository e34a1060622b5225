-- Lets the transaction it runs in commit without waiting for its WAL to
-- reach the disk (synchronous_commit off, for this transaction only).
-- Only for a sync's bookkeeping (taking and giving back its lease,
-- recording its run as started), whose loss in a server crash is
-- harmless: see load/bookkeeping.go.
SELECT pg_catalog.set_config('synchronous_commit', 'off', true)
