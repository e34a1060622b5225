-- Keeps the ids of the definitions listed but unreadable, in a table
-- dropped at commit.
-- $1 their ids (text[]).
CREATE TEMPORARY TABLE agentsync_definitions_unreadable ON COMMIT DROP AS
SELECT DISTINCT id AS definition_id FROM unnest($1::text[]) AS id
