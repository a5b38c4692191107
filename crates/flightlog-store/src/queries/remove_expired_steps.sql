-- Removes a session's expired steps (exactly those its signed expiry
-- record lists) from storage. Synchronous: when it returns they are gone
-- from what reads see. The log of record keeps their hashes.
ALTER TABLE steps DELETE
WHERE project = {project:String} AND session_id = {session:String} AND log_index IN {indexes:Array(UInt64)}
SETTINGS mutations_sync = 2
