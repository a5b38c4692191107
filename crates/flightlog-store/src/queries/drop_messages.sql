-- Drops these stored messages, span attribute pieces and whole texts
-- (schema/0023 to 0025): the (session, key) pairs that unneeded_messages.sql found, listed
-- rather than recomputed, so every replica drops the same rows.
-- Synchronous, as erasure's own mutation: when it returns, they are gone
-- from the parts that serve reads.
ALTER TABLE step_contents DELETE
WHERE project = {project:String}
  AND session_id IN {sessions:Array(String)}
  AND has(arrayZip({pair_sessions:Array(String)}, {pair_keys:Array(String)}), (session_id, lower(hex(hash))))
SETTINGS mutations_sync = 2
