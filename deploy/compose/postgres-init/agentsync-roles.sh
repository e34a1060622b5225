#!/bin/sh
# Runs once, when the postgres container creates its database, as the
# server's administrator (POSTGRES_USER): deploy/postgres/setup.psql makes
# the owner role agentsync logs in as (no SUPERUSER, CREATEDB or
# CREATEROLE), btree_gist, the reporting role defender_reader and Grafana's
# login, a member of it. The migrations that agentsync applies then grant
# defender_reader what it may read (the documented views of schema
# defender), nothing else.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v owner=agentsync -v owner_password="$(cat /run/secrets/db_password)" \
	-v reader_login=grafana -v reader_password="$(cat /run/secrets/grafana_db_password)" \
	-f /etc/agentsync/setup.psql
