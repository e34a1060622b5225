#!/bin/sh
# Runs once, when the postgres container creates its database: the login
# role Grafana uses, a member of the reporting role defender_reader. The
# migrations that agentsync applies then grant defender_reader what it may
# read (the documented views of schema defender), nothing else.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v password="$(cat /run/secrets/grafana_db_password)" <<'SQL'
SELECT 'CREATE ROLE defender_reader NOLOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_reader')\gexec
CREATE ROLE grafana LOGIN PASSWORD :'password' IN ROLE defender_reader;
SQL
