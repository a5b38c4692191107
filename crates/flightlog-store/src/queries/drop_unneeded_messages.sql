-- Drops a session's stored messages (schema/0023) that none of its steps
-- refers to any more, leaving aside the steps at log positions {leaving}
-- (about to be removed by retention). Erasure empties an erased step's
-- references first, so what only erased steps held goes. Synchronous, as
-- erasure's own mutation: when it returns, the messages are gone from the
-- parts that serve reads. The subquery reads the steps table: allowed for a
-- replicated table only with allow_nondeterministic_mutations, and every
-- replica holds the same steps.
ALTER TABLE step_contents DELETE
WHERE project = {project:String}
  AND session_id = {session:String}
  AND hash NOT IN (SELECT arrayJoin(message_refs) FROM steps
                   WHERE project = {project:String}
                     AND session_id = {session:String}
                     AND log_index NOT IN {leaving:Array(UInt64)})
SETTINGS mutations_sync = 2, allow_nondeterministic_mutations = 1
