-- Gives back the lease of a maintenance task held by a holder.
-- $1 task, $2 holder.
DELETE FROM defender_storage.maintenance_leases WHERE task = $1 AND holder = $2
