-- Brings target_status (behind scan_target_status) up to date for every
-- target of the tenant: in a definitions run that added, changed or
-- deleted definitions (which cover targets), after those writes.
-- $1 tenant id.
SELECT defender_storage.refresh_target_status($1)
