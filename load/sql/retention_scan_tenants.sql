-- Lists the tenants that have scan sessions that ran before the cutoff.
-- $1 the cutoff (timestamptz).
SELECT t.tenant_id FROM defender_storage.tenants t
 WHERE EXISTS (SELECT FROM defender_storage.session_result s
                WHERE s.tenant_id = t.tenant_id AND s.scanned_at < $1)
 ORDER BY t.tenant_id
