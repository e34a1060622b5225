-- defender.scan_outcome and defender.version_key were declared STRICT,
-- and their bodies are CASE expressions, which PostgreSQL does not take
-- as strict: it then called them row by row as functions, each call
-- costing more than the expression itself, where it inlines a function
-- declared CALLED ON NULL INPUT into the query that uses it. The targets'
-- coverage a history sync brings up to date (scan_outcome of every target
-- it stored) spent most of its time in those calls, and the views that
-- read outcomes and versions did too. Both answer as before, NULL for
-- NULL (their bodies give NULL for it): the expression index on
-- scan_outcome holds as it is, and every answer is unchanged. The
-- upgrade changes the catalog alone. A session open during the upgrade
-- matches that index against the function as it was until it reconnects.

-- +goose Up
ALTER FUNCTION defender.scan_outcome(text) CALLED ON NULL INPUT;
ALTER FUNCTION defender.version_key(text) CALLED ON NULL INPUT;

-- +goose Down
ALTER FUNCTION defender.scan_outcome(text) STRICT;
ALTER FUNCTION defender.version_key(text) STRICT;
