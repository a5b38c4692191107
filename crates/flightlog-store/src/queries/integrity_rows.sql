-- What verification needs of each step: its recorded hashes and positions,
-- the content they must match (raw, with the content its columns hold put
-- back: IntegrityRow::content), and the typed columns that must agree with
-- that content. Keyset-paged in primary-key order; the {{where}}
-- marker narrows to one session or continues after a (project, session,
-- step) cursor, with bound parameters only.
SELECT
    project, session_id, step, log_index, session_seq,
    lower(hex(step_hash))  AS step_hash,
    lower(hex(chain_hash)) AS chain_hash,
    mapApply((k, v) -> (k, lower(hex(v))), erased) AS erased,
    raw,
    -- Long messages, stored once per session by reference (content.rs).
    arrayMap(h -> lower(hex(h)), message_refs) AS message_refs,
    -- Span attributes stored the same way (schema/0024): key -> pieces.
    mapApply((k, v) -> (k, arrayMap(h -> lower(hex(h)), v)), attribute_refs) AS attribute_refs,
    -- Texts stored whole the same way (schema/0025): place -> key.
    mapApply((k, v) -> (k, lower(hex(v))), text_refs) AS text_refs,
    agent_name, reasoning, chosen_tool, tool_name, tool_params, tool_result, tool_status, tool_error,
    model_provider, model_name, model_version, temperature, top_p, seed,
    prompt_system, prompt_messages, completion,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_cost, user_id,
    ts, agent_version, considered_tools, confidence, tool_duration_ms, model_key, max_tokens, tags, metadata, failed
FROM steps
WHERE {{where}}
ORDER BY project, session_id, step
LIMIT {limit:UInt32}
