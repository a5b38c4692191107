-- Who read what (issue 13): one row per read of step content, through any
-- front end, written before the content is handed out (a read whose row
-- cannot be written fails). Append-only: Flightlog only ever inserts here;
-- no route updates or deletes a row, and reading it takes the admin scope.
--
-- read_id: random, unique; with at_us it orders a page (newest first) and
-- names one read.
-- front_end: api, web or mcp. route: the route template that was read
-- (`GET /v1/sessions/{id}/steps`), or the MCP tool (`session_timeline`).
-- session_id: the one session read, '' when the read spans sessions.
-- filter: what a read spanning sessions asked for (a search's text, an
-- export's time range), as the front end received it.
-- user_id: the user filter of the read, if any.
-- sessions, user_ids: the sessions and users whose content was returned,
-- as far as known when the row is written (the one session of a session
-- read, a search's hits; a page's users). items: how many steps or hits
-- were returned.
-- whole_project: a read of the project's steps by time (an export): it
-- names no session and may hold any of them, so it answers for all.
--
-- ORDER BY (project, at_us): the log is read newest first per project.
-- The bloom filters serve "who read this session / this user's steps".
CREATE TABLE IF NOT EXISTS access_log
(
    project       LowCardinality(String),
    at_us         Int64,
    read_id       String,
    key_id        String,
    front_end     LowCardinality(String),
    route         LowCardinality(String),
    session_id    String,
    filter        String,
    user_id       String,
    sessions      Array(String),
    user_ids      Array(String),
    items         UInt64,
    whole_project Bool,
    INDEX sessions_read sessions TYPE bloom_filter GRANULARITY 4,
    INDEX users_read user_ids TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
ORDER BY (project, at_us, read_id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
