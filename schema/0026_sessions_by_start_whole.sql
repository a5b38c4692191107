-- A page of the session list by start time reads its sessions' whole
-- summaries once it has ranked them (session_summaries_of.sql). Ordered by
-- session id, the 50 sessions of a page with random ids (UUIDv4) lie in
-- about a third of the table's granules, every column of them read.
--
-- Every summary row of a session starts at or after the session's start
-- and at or before its end, so the rows of a page's sessions all start
-- between the earliest start and the latest end on the page: near the edge
-- of the list for the pages by start time. This projection replaces
-- by_start (schema/0022), which held only the columns the page's first
-- reads test, with one holding every column in the same order, so that
-- those summaries are read from the few granules of that range too (over
-- 1M sessions: 38 against 12 ms, HTTP round trip included).
ALTER TABLE session_summaries ADD PROJECTION IF NOT EXISTS by_start_whole
(
    SELECT *
    ORDER BY project, first_ts
);
-- Builds it for the parts written before, and waits for it (and so for
-- every mutation before it, by_start's own build from schema/0022
-- included: a table's mutations run in order), on every replica: the
-- engine refuses to drop a projection whose build is still running, and
-- the pages by start time keep by_start until this one can serve them.
-- A store upgraded with many sessions waits here once (a part is built in
-- about the time a merge of it takes).
ALTER TABLE session_summaries MATERIALIZE PROJECTION by_start_whole SETTINGS mutations_sync = 2;
ALTER TABLE session_summaries DROP PROJECTION IF EXISTS by_start;
