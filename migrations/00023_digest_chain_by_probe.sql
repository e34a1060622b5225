-- A run's digest chains with the previous successful run of its tenant and
-- resource. record_run_digest found that run by joining every earlier run
-- of the tenant and resource to its digest, then sorting: at a year of
-- hourly history, 8,760 runs and about 13 ms for each run's digest, and
-- more every hour. It now reads the runs by tenant backwards and stops at
-- the first with a digest.
--
-- The digests do not change: the same run is found.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean DEFAULT false) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r        record;
    previous record;
    parts    bytea;
    stored   bytea;
BEGIN
    -- The sessions the run wrote, as it left them. At the upgrade every
    -- earlier writer is known, not the values it wrote: they are taken
    -- as they are now.
    INSERT INTO defender_storage.session_write (run_id, session_key, values_digest)
    SELECT run, s.session_key, defender_storage.session_digest(s)
      FROM defender_storage.session_result s
     WHERE (s.recorded_by_run_id = run AND (at_upgrade OR s.updated_by_run_id IS NULL))
        OR s.updated_by_run_id = run;
    SELECT q.run_id, q.tenant_no, q.resource, q.fetched_at INTO r
      FROM defender_storage.sync_run q WHERE q.run_id = run AND q.status = 's';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % is not a succeeded run: only successful runs have a digest', run;
    END IF;
    -- The chain's previous link: the latest earlier successful run of the
    -- tenant and resource that has a digest, read backwards through the
    -- runs by tenant until the first (a probe, however long the history).
    -- The digest's test is per row, so that no plan joins every earlier
    -- run; the run id's bound is a filter (+ 0), so that no plan reads
    -- every earlier run by its key and sorts them.
    SELECT q.run_id, (SELECT d.digest FROM defender_storage.run_digest d WHERE d.run_id = q.run_id) AS digest
      INTO previous
      FROM defender_storage.sync_run q
     WHERE q.tenant_no = r.tenant_no AND q.resource = r.resource AND q.status = 's'
       AND q.fetched_at < r.fetched_at AND q.run_id + 0 < r.run_id
       AND (SELECT true FROM defender_storage.run_digest d WHERE d.run_id = q.run_id)
     ORDER BY q.fetched_at DESC
     LIMIT 1;
    SELECT p.digest_parts INTO parts FROM defender_storage.run_digest_parts(ARRAY[run]) p;
    INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
    VALUES (run, previous.run_id, defender_storage.chain_digest(previous.digest, parts),
            defender_storage.compact_digest_parts(parts), at_upgrade)
    RETURNING digest INTO stored;
    RETURN stored;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean DEFAULT false) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    stored bytea;
BEGIN
    -- The sessions the run wrote, as it left them. At the upgrade every
    -- earlier writer is known, not the values it wrote: they are taken
    -- as they are now.
    INSERT INTO defender_storage.session_write (run_id, session_key, values_digest)
    SELECT run, s.session_key, defender_storage.session_digest(s)
      FROM defender_storage.session_result s
     WHERE (s.recorded_by_run_id = run AND (at_upgrade OR s.updated_by_run_id IS NULL))
        OR s.updated_by_run_id = run;
    INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
    SELECT r.run_id, p.run_id, defender_storage.chain_digest(p.digest, x.parts), defender_storage.compact_digest_parts(x.parts), at_upgrade
      FROM defender_storage.sync_run r
     CROSS JOIN LATERAL (SELECT q.digest_parts AS parts FROM defender_storage.run_digest_parts(ARRAY[r.run_id]) q) x
      LEFT JOIN LATERAL (
           SELECT d.run_id, d.digest
             FROM defender_storage.sync_run q
             JOIN defender_storage.run_digest d ON d.run_id = q.run_id
            WHERE q.tenant_no = r.tenant_no AND q.resource = r.resource AND q.status = 's'
              AND q.fetched_at < r.fetched_at AND q.run_id < r.run_id
            ORDER BY q.fetched_at DESC
            LIMIT 1) p ON true
     WHERE r.run_id = run AND r.status = 's'
    RETURNING digest INTO stored;
    IF stored IS NULL THEN
        RAISE EXCEPTION 'run % is not a succeeded run: only successful runs have a digest', run;
    END IF;
    RETURN stored;
END;
$$;
-- +goose StatementEnd
