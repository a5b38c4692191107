-- The messages, span attribute pieces and whole texts stored by reference
-- (schema/0023 to 0025) that rows being read refer to: a primary-key read of the named
-- sessions. A key stored twice comes back twice (content.rs keeps a copy
-- that does not match its key). The key is named `key`: an alias `hash`
-- would stand for the hex in WHERE, and the look-up by hash would find
-- nothing.
SELECT session_id, lower(hex(hash)) AS key, body
FROM step_contents
WHERE project = {project:String}
  AND session_id IN {sessions:Array(String)}
  AND hash IN (SELECT toFixedString(unhex(arrayJoin({hashes:Array(String)})), 32))
-- Answered as RowBinaryWithNamesAndTypes (content.rs): a message is JSON
-- text, which JSON output would escape and the reader unescape again. One
-- with bytes that are not UTF-8 (changed behind Flightlog's back) is read
-- with replacement characters: its step then reads as changed.
