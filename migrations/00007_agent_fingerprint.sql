-- A sync reads what it needs of the tenant's active agents and stages only
-- the records that may have changed: a record whose descriptive values hash
-- to the stored fingerprint is unchanged, and one whose heartbeat alone
-- moved is applied to agent_heartbeat directly. The fingerprint is the
-- loader's; an agent without one (every agent stored before this
-- migration) is compared in full, and its fingerprint stored then.
--
-- The reference checks look each run up once: a first sync's rows all
-- name the same run.

-- +goose Up
ALTER TABLE defender.agent_state ADD COLUMN fingerprint bytea;
COMMENT ON COLUMN defender.agent_state.fingerprint IS
    'Internal: hash of the descriptive values of the agent''s latest record, kept by the loader to skip unchanged records; empty when not known yet.';

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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.check_references() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    missing text;
BEGIN
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    FOR i IN 0 .. TG_NARGS / 3 - 1 LOOP
        EXECUTE pg_catalog.format(
            'SELECT n.%1$I::text FROM new_rows n
              WHERE n.%1$I IS NOT NULL
                AND NOT EXISTS (SELECT FROM %2$s r WHERE r.%3$I = n.%1$I) LIMIT 1',
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
ALTER TABLE defender.agent_state DROP COLUMN fingerprint;
