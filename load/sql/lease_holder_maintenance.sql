-- Reads the holder of the lease of a maintenance task.
-- $1 task.
SELECT holder FROM defender_storage.maintenance_leases WHERE task = $1
