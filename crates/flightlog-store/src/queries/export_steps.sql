-- A project's steps in [from, to), flat, one page at a time in primary-key
-- order (keyset after a (session_id, step) cursor), for exports. The
-- columns (put in place of the marker below by export.rs) come from the one
-- definition of the step's columns (flightlog_model::columns::exported):
-- those of the CSV import, so an export imports back unchanged, then the
-- record; times as microseconds, arrays as JSON, hashes as hex.
SELECT {columns},
       -- Long messages, stored once per session by reference: export.rs
       -- puts them back into prompt_messages (content.rs).
       arrayMap(h -> lower(hex(h)), message_refs) AS message_refs,
       -- A system prompt stored whole the same way (schema/0025).
       mapApply((k, v) -> (k, lower(hex(v))), text_refs) AS text_refs
FROM steps
WHERE project = {project:String}
  AND ts >= fromUnixTimestamp64Micro({from_us:Int64}, 'UTC') AND ts < fromUnixTimestamp64Micro({to_us:Int64}, 'UTC')
  -- After the cursor, written out rather than as a tuple comparison: the
  -- primary-key index reads neither a tuple comparison nor a bound on the
  -- session alone within a session, so each page of one long session read
  -- its keys from the session's start (quadratic in the session's length).
  AND (session_id > {after_session:String}
       OR (session_id = {after_session:String} AND step > {after_step:Int64}))
ORDER BY session_id, step
LIMIT {limit:UInt32}
