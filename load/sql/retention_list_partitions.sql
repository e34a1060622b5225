-- Lists the partitions of defender_storage.observation, each with whether
-- a detach of it is pending.
-- No parameters.
SELECT c.relname, i.inhdetachpending
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'defender_storage.observation'::pg_catalog.regclass
 ORDER BY c.relname
