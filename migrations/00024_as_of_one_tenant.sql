-- defender.scan_agents_as_of takes an optional tenant, as scan_agents_diff
-- does: asked of one tenant through a WHERE on its result, it computed
-- every tenant's fleet first (92 to 124 ms of a year of 200 tenants, for
-- 40 rows); given the tenant it reads that tenant's alone. A call without
-- it answers as before.

-- +goose Up
DROP FUNCTION defender.scan_agents_as_of(timestamp with time zone);
-- +goose StatementBegin
CREATE FUNCTION defender.scan_agents_as_of(at timestamp with time zone, tenant text DEFAULT NULL::text) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    BEGIN ATOMIC
 SELECT a.tenant_id,
     a.agent_id,
     a.machine_id,
     a.computer_dns_name,
     a.assigned_application_id,
     a.scanner_software_version,
     a.mde_client_version,
     a.last_seen,
     a.last_command_execution_at,
     a.extra,
     a.as_of_run_id,
     a.as_of_fetched_at
    FROM defender_storage.scan_agents_as_of(scan_agents_as_of.at, CURRENT_USER, scan_agents_as_of.tenant) a(tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id, scanner_software_version, mde_client_version, last_seen, last_command_execution_at, extra, as_of_run_id, as_of_fetched_at);
END;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.scan_agents_as_of(at timestamp with time zone, tenant text) IS 'The agents exactly as the last successful sync at or before the given time saw them, per tenant, or of the given tenant alone (any case; faster than a WHERE on the result, which computes every tenant first): the columns of scan_agents without bookkeeping, then as_of_run_id and as_of_fetched_at: the sync the answer comes from. Example: SELECT * FROM defender.scan_agents_as_of(''2026-10-01''), or SELECT * FROM defender.scan_agents_as_of(''2026-10-01'', ''contoso.onmicrosoft.com''). Beyond OBSERVATION_RETENTION, last_seen and last_command_execution_at are those of the last sync of the previous day.';
SELECT defender.grant_reader_access();

-- +goose Down
DROP FUNCTION defender.scan_agents_as_of(timestamp with time zone, text);
-- +goose StatementBegin
CREATE FUNCTION defender.scan_agents_as_of(at timestamp with time zone) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    BEGIN ATOMIC
 SELECT a.tenant_id,
     a.agent_id,
     a.machine_id,
     a.computer_dns_name,
     a.assigned_application_id,
     a.scanner_software_version,
     a.mde_client_version,
     a.last_seen,
     a.last_command_execution_at,
     a.extra,
     a.as_of_run_id,
     a.as_of_fetched_at
    FROM defender_storage.scan_agents_as_of(scan_agents_as_of.at, CURRENT_USER, NULL::text) a(tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id, scanner_software_version, mde_client_version, last_seen, last_command_execution_at, extra, as_of_run_id, as_of_fetched_at);
END;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.scan_agents_as_of(at timestamp with time zone) IS 'The agents exactly as the last successful sync at or before the given time saw them, per tenant (the columns of scan_agents without bookkeeping), then as_of_run_id and as_of_fetched_at: the sync the answer comes from. Example: SELECT * FROM defender.scan_agents_as_of(''2026-10-01''). Beyond OBSERVATION_RETENTION, last_seen and last_command_execution_at are those of the last sync of the previous day.';
SELECT defender.grant_reader_access();
