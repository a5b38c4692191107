-- Where each of these sessions' hash chains stands: its last link and
-- sequence number. The writer extends the chains from here.
SELECT
    session_id,
    max(session_seq)                              AS seq,
    lower(hex(argMax(chain_hash, session_seq)))   AS head
FROM steps
WHERE project = {project:String}
  AND session_id IN {sessions:Array(String)}
GROUP BY session_id
