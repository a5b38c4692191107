-- One session in step order, one page at a time (keyset pagination on step:
-- each page is a primary-key range read, however deep into the session).
SELECT
    step,
    log_index,
    lower(hex(step_hash)) AS step_hash,
    toUnixTimestamp64Micro(received_at)  AS received_us,
    failed,
    key_decision,
    -- Whose step it is: the access log names the users a page showed.
    user_id,
    raw,
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
  AND session_id = {session:String}
  AND step > {after:Int64}
ORDER BY step
LIMIT {limit:UInt32}
-- Answered as RowBinaryWithNamesAndTypes (steps.rs, timeline_rows): a
-- content column with bytes that are not UTF-8 (changed behind Flightlog's
-- back) is read with replacement characters rather than failing the whole
-- answer, so the step reads as changed and verification names it.
