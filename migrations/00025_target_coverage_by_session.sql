-- Scan history retention drops sessions; each dropped session is checked
-- against the foreign keys that name it, among them target_coverage's
-- latest_session_key and last_success_session_key, which no index served:
-- every check read the whole of target_coverage (54,000 rows at 1,000
-- tenants), 7.7 ms a dropped session. These indexes make each check a
-- probe.

-- +goose Up
CREATE INDEX target_coverage_by_latest_session ON defender_storage.target_coverage (latest_session_key);
CREATE INDEX target_coverage_by_last_success ON defender_storage.target_coverage (last_success_session_key)
    WHERE last_success_session_key IS NOT NULL;

-- +goose Down
DROP INDEX defender_storage.target_coverage_by_last_success;
DROP INDEX defender_storage.target_coverage_by_latest_session;
