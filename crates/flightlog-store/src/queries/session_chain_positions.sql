-- Where each of a session's stored steps stands in its hash chain and in
-- the log of record, in chain order, without their content: the plan of a
-- read of the session a page at a time in that order (its evidence
-- bundle). A step's number is its primary key; its place in the chain is
-- not, so each page is then read by its step numbers.
SELECT step, session_seq, log_index
FROM steps
WHERE project = {project:String} AND session_id = {session:String}
ORDER BY session_seq, log_index
