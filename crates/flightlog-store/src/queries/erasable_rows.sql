-- The steps an erasure request covers: a session, a user's steps, or a
-- user's steps within one session (an empty filter matches everything);
-- or some steps of a session (erasure.rs finishing older erasures), or a
-- session's steps up to a log position (the expiry of its content).
SELECT session_id, step, log_index, raw, mapApply((k, v) -> (k, lower(hex(v))), erased) AS erased,
       -- The content raw leaves to its columns (flightlog_model::stored).
       reasoning, tool_params, tool_result, tool_error, prompt_system, prompt_messages, completion, metadata,
       -- Long messages, stored once per session by reference (content.rs).
       arrayMap(h -> lower(hex(h)), message_refs) AS message_refs,
       -- Span attributes stored the same way (schema/0024): key -> pieces.
       mapApply((k, v) -> (k, arrayMap(h -> lower(hex(h)), v)), attribute_refs) AS attribute_refs,
       -- Texts stored whole the same way (schema/0025): place -> key.
       mapApply((k, v) -> (k, lower(hex(v))), text_refs) AS text_refs
FROM steps
WHERE project = {project:String}
  AND ({session:String} = '' OR session_id = {session:String})
  AND ({user:String} = '' OR user_id = {user:String})
  AND (empty({steps:Array(UInt64)}) OR has({steps:Array(UInt64)}, step))
  -- Or a session's steps up to a log position (a content expiry: the steps
  -- its record lists; one that arrives meanwhile is logged past them).
  AND ({through:Int64} < 0 OR log_index <= {through:Int64})
  -- Never what a legal hold keeps, even a step that arrived after the holds
  -- were checked against the request (erasure.rs, Held).
  AND NOT has({held_sessions:Array(String)}, session_id)
  AND NOT has({held_users:Array(String)}, user_id)
ORDER BY session_id, step
-- Answered as RowBinaryWithNamesAndTypes (erasure.rs): a content column
-- with bytes that are not UTF-8 (changed behind Flightlog's back) is read
-- with replacement characters rather than failing the whole erasure.
