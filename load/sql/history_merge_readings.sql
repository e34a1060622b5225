-- Merges into the reading by session (the records after $1) each session
-- that the reading by definition (the records up to $1) listed too, as if
-- the listing had been stored first and the reading by session had
-- completed it: what the reading by session sends wins, what it does not
-- send is kept from the listing, the definition is the listing's, and the
-- session keeps the listing's fingerprint (what the history by definition
-- said of it). The listing's records of those sessions are removed. So a
-- new session is written once, with its targets, rather than inserted
-- and then updated in the same transaction (which checks each of its
-- foreign keys again).
-- $1 the last seq of the reading by definition.
WITH by_id AS (
	SELECT DISTINCT ON (b.session_id) b.seq, b.session_id
	  FROM pg_temp.agentsync_work_sessions b
	 WHERE b.seq > $1 AND b.ordinal = -1 AND b.session_id IS NOT NULL
	 ORDER BY b.session_id, b.seq DESC
), listed AS (
	SELECT DISTINCT ON (l.session_id) l.session_id, l.definition_id, l.scanner_id, l.status, l.scanned_at, l.targets,
	       l.succeeded_targets, l.general_error, l.extra, l.fingerprint
	  FROM pg_temp.agentsync_work_sessions l
	 WHERE l.seq <= $1 AND l.ordinal = -1 AND l.session_id IS NOT NULL
	 ORDER BY l.session_id, l.seq DESC
), merged AS (
	UPDATE pg_temp.agentsync_work_sessions s
	   SET definition_id = l.definition_id,
	       scanner_id = coalesce(s.scanner_id, l.scanner_id),
	       status = coalesce(s.status, l.status),
	       scanned_at = coalesce(s.scanned_at, l.scanned_at),
	       targets = coalesce(s.targets, l.targets),
	       succeeded_targets = coalesce(s.succeeded_targets, l.succeeded_targets),
	       general_error = coalesce(s.general_error, l.general_error),
	       extra = coalesce(l.extra, '{}') || s.extra,
	       fingerprint = l.fingerprint
	  FROM by_id b JOIN listed l ON l.session_id = b.session_id
	 WHERE s.seq = b.seq AND s.ordinal = -1
	RETURNING s.session_id
)
DELETE FROM pg_temp.agentsync_work_sessions d
 WHERE d.seq IN (SELECT x.seq FROM pg_temp.agentsync_work_sessions x
                  WHERE x.seq <= $1 AND x.ordinal = -1 AND x.session_id IN (SELECT m.session_id FROM merged m))
