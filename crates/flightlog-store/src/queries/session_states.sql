-- What the writer must know, before a group commit, of each session the
-- group touches: where its hash chain stands, and which of the group's step
-- numbers it already holds, with their hashes (a retry, or a conflict).
-- One primary-key range read per session.
SELECT
    session_id,
    max(session_seq)                                                      AS seq,
    lower(hex(argMax(chain_hash, session_seq)))                           AS head,
    groupArrayIf((step, lower(hex(step_hash))), step IN {steps:Array(UInt64)}) AS existing
FROM steps
WHERE project = {project:String}
  AND session_id IN {sessions:Array(String)}
GROUP BY session_id
