-- Brings target_status (behind scan_target_status) up to date for the
-- targets whose coverage names a session the run rewrote or stored the
-- targets of: in a history run that stored targets or wrote sessions,
-- after those writes.
-- $1 tenant id, $2 run id.
SELECT defender_storage.refresh_run_target_status($1, $2)
