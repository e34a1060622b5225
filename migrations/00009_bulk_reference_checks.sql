-- The statement-level reference and overlap checks of a large statement,
-- such as a tenant's first sync, look the whole range of its keys up at
-- once. They looked each row's key up (an index probe per row, over 0.7 s
-- for a first sync of 100,000 agents). Keys written together are mostly
-- consecutive: the new agents of one sync, the one run of a statement.
-- When the referenced table holds every number of their range, or the
-- range holds no other version of their agents, the rows pass without a
-- lookup each; otherwise each row is checked as before, and an error names
-- the offending key as before. Statements of fewer than 512 rows (a tenant
-- of tens of agents) are checked row by row, as before.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.check_references() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    columns text;
    bounds  bigint[];
    lo      bigint;
    hi      bigint;
    named   bigint;
    present bigint;
    missing text;
BEGIN
    -- A statement that wrote no row (most syncs insert no agent) costs
    -- nothing more.
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- Arguments come in threes: column, referenced table, referenced column
    -- (unique, as for a foreign key). A small statement (a tenant of tens
    -- of agents) looks each key up. In a large one, one pass over the rows
    -- finds, for each integer column, the lowest and highest key named and
    -- how many rows name one.
    IF (SELECT count(*) FROM (SELECT FROM new_rows LIMIT 512) n) = 512 THEN
        SELECT pg_catalog.string_agg(
                   CASE WHEN a.atttypid IN ('pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype)
                        THEN pg_catalog.format('min(%1$I), max(%1$I), count(%1$I)', a.attname)
                        ELSE 'NULL, NULL, NULL'
                   END, ', ' ORDER BY i)
          INTO columns
          FROM pg_catalog.generate_series(0, TG_NARGS / 3 - 1) i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = TG_RELID AND a.attname = TG_ARGV[3 * i];
        EXECUTE 'SELECT ARRAY[' || columns || ']::bigint[] FROM new_rows' INTO bounds;
    END IF;
    FOR i IN 0 .. TG_NARGS / 3 - 1 LOOP
        lo := bounds[3 * i + 1];
        hi := bounds[3 * i + 2];
        named := bounds[3 * i + 3];
        CONTINUE WHEN named = 0;
        -- Keys named close together (a first sync's new agents, the one
        -- run of a statement): the referenced table holds every key of
        -- the range when it holds as many as the range has numbers, its
        -- keys being unique. One index range instead of a lookup per row.
        IF named IS NOT NULL AND hi - lo < 4 * named THEN
            EXECUTE pg_catalog.format('SELECT count(*) FROM %1$s r WHERE r.%2$I BETWEEN $1 AND $2',
                                      TG_ARGV[3 * i + 1], TG_ARGV[3 * i + 2])
               INTO present USING lo, hi;
            CONTINUE WHEN present = hi - lo + 1;
        END IF;
        -- Else each key is looked up, a run once.
        EXECUTE pg_catalog.format(
            CASE WHEN TG_ARGV[3 * i + 1] = 'defender.sync_runs'
                 THEN 'SELECT n.k::text FROM (SELECT DISTINCT %1$I AS k FROM new_rows WHERE %1$I IS NOT NULL) n
                        WHERE NOT EXISTS (SELECT FROM %2$s r WHERE r.%3$I = n.k) LIMIT 1'
                 ELSE 'SELECT n.%1$I::text FROM new_rows n
                        WHERE n.%1$I IS NOT NULL
                          AND NOT EXISTS (SELECT FROM %2$s r WHERE r.%3$I = n.%1$I) LIMIT 1'
            END,
            TG_ARGV[3 * i], TG_ARGV[3 * i + 1], TG_ARGV[3 * i + 2]) INTO missing;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = pg_catalog.format('insert or update on table "%s" violates foreign key "%s_%s"',
                                            TG_TABLE_NAME, TG_TABLE_NAME, TG_ARGV[3 * i]),
                DETAIL = pg_catalog.format('Key (%s)=(%s) is not present in %s.', TG_ARGV[3 * i], missing, TG_ARGV[3 * i + 1]),
                TABLE = TG_TABLE_NAME,
                CONSTRAINT = TG_TABLE_NAME || '_' || TG_ARGV[3 * i];
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.check_history_overlap() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    lo       bigint;
    hi       bigint;
    written  bigint;
    agents   bigint;
    versions bigint;
    agent    bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- Many first versions of agents close together (a first sync's): when
    -- the range of their keys holds no other version, none can overlap. One
    -- index range instead of a lookup per row.
    IF (SELECT count(*) FROM (SELECT FROM new_rows LIMIT 512) n) = 512 THEN
        SELECT min(n.agent_key), max(n.agent_key), count(*), count(DISTINCT n.agent_key)
          INTO lo, hi, written, agents
          FROM new_rows n;
        IF agents = written AND hi - lo < 4 * written THEN
            SELECT count(*) INTO versions
              FROM (SELECT FROM defender.scan_agent_history h
                     WHERE h.agent_key BETWEEN lo AND hi LIMIT written + 1) v;
            IF versions = written THEN
                RETURN NULL;
            END IF;
        END IF;
    END IF;
    -- Two versions of an agent overlap when each starts before the other
    -- ends (an open version never ends).
    SELECT n.agent_key INTO agent
      FROM new_rows n
      JOIN defender.scan_agent_history h ON h.agent_key = n.agent_key AND h.history_id <> n.history_id
     WHERE h.valid_from < coalesce(n.valid_to, 'infinity') AND n.valid_from < coalesce(h.valid_to, 'infinity')
     LIMIT 1;
    IF agent IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'exclusion_violation',
            MESSAGE = 'conflicting key value violates exclusion constraint "scan_agent_history_no_overlap"',
            DETAIL = pg_catalog.format('Two versions of agent %s overlap in time.', agent),
            TABLE = 'scan_agent_history',
            CONSTRAINT = 'scan_agent_history_no_overlap';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.check_references() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    missing text;
BEGIN
    -- A statement that wrote no row (most syncs insert no agent) costs
    -- nothing more.
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- Arguments come in threes: column, referenced table, referenced column.
    -- The rows of one statement name one run or two: each is looked up
    -- once. Other keys (agents, sessions) are mostly distinct, and are
    -- looked up as they come.
    FOR i IN 0 .. TG_NARGS / 3 - 1 LOOP
        EXECUTE pg_catalog.format(
            CASE WHEN TG_ARGV[3 * i + 1] = 'defender.sync_runs'
                 THEN 'SELECT n.k::text FROM (SELECT DISTINCT %1$I AS k FROM new_rows WHERE %1$I IS NOT NULL) n
                        WHERE NOT EXISTS (SELECT FROM %2$s r WHERE r.%3$I = n.k) LIMIT 1'
                 ELSE 'SELECT n.%1$I::text FROM new_rows n
                        WHERE n.%1$I IS NOT NULL
                          AND NOT EXISTS (SELECT FROM %2$s r WHERE r.%3$I = n.%1$I) LIMIT 1'
            END,
            TG_ARGV[3 * i], TG_ARGV[3 * i + 1], TG_ARGV[3 * i + 2]) INTO missing;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = pg_catalog.format('insert or update on table "%s" violates foreign key "%s_%s"',
                                            TG_TABLE_NAME, TG_TABLE_NAME, TG_ARGV[3 * i]),
                DETAIL = pg_catalog.format('Key (%s)=(%s) is not present in %s.', TG_ARGV[3 * i], missing, TG_ARGV[3 * i + 1]),
                TABLE = TG_TABLE_NAME,
                CONSTRAINT = TG_TABLE_NAME || '_' || TG_ARGV[3 * i];
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.check_history_overlap() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    agent bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- Two versions of an agent overlap when each starts before the other
    -- ends (an open version never ends). One join, whatever the number of
    -- rows the statement wrote.
    SELECT n.agent_key INTO agent
      FROM new_rows n
      JOIN defender.scan_agent_history h ON h.agent_key = n.agent_key AND h.history_id <> n.history_id
     WHERE h.valid_from < coalesce(n.valid_to, 'infinity') AND n.valid_from < coalesce(h.valid_to, 'infinity')
     LIMIT 1;
    IF agent IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'exclusion_violation',
            MESSAGE = 'conflicting key value violates exclusion constraint "scan_agent_history_no_overlap"',
            DETAIL = pg_catalog.format('Two versions of agent %s overlap in time.', agent),
            TABLE = 'scan_agent_history',
            CONSTRAINT = 'scan_agent_history_no_overlap';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
