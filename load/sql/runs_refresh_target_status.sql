-- Brings target_status (behind scan_target_status) up to date for the
-- tenant: in a run that stored targets or wrote sessions, or changed or
-- deleted definitions (which cover targets), after those writes.
-- $1 tenant id.
SELECT defender_storage.refresh_target_status($1)
