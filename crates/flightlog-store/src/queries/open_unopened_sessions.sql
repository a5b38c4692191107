-- Gives an opening row (opens = 1) to every session whose summary rows have
-- none, so that pages newest first, which leave out a session none of whose
-- opening rows starts past their threshold (sessions.rs), list it again.
-- Every session gets one from the view (its chain place 0) or a rebuild,
-- unless a step arrived while its session's older steps expired and landed
-- after the session was rebuilt, or the view failed on the block that held
-- the first step. The row added holds the session's first and last times
-- and nothing else (sums 0, lists empty), so merged with the others it
-- changes nothing but `opens`. Rows with opens = 0 are later rows of their
-- sessions, few once merged: only their sessions are grouped.
INSERT INTO session_summaries (project, session_id, first_ts, last_ts, opens)
SELECT project, session_id, min(ts), max(ts), 1
FROM steps
WHERE (project, session_id) IN
(
    SELECT project, session_id
    FROM session_summaries
    PREWHERE (project, session_id) IN (SELECT project, session_id FROM session_summaries WHERE opens = 0)
    GROUP BY project, session_id
    HAVING max(opens) = 0
)
GROUP BY project, session_id
