-- A project's steps in [from, to), flat, one page at a time in primary-key
-- order (keyset after a (session_id, step) cursor), for exports. Column
-- names are those of the CSV import, so an export imports back unchanged.
SELECT
    session_id, step, toUnixTimestamp64Micro(ts) AS timestamp_us,
    agent_name, agent_version, reasoning, toJSONString(considered_tools) AS considered_tools, chosen_tool, confidence,
    tool_name, tool_params, tool_result, tool_status, tool_error, tool_duration_ms,
    model_provider, model_name, model_version, temperature, top_p, seed, max_tokens,
    prompt_system, prompt_messages, completion,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_cost,
    user_id, toJSONString(tags) AS tags, metadata,
    log_index, lower(hex(step_hash)) AS step_hash, toUnixTimestamp64Micro(received_at) AS received_us
FROM steps
WHERE project = {project:String}
  AND ts >= fromUnixTimestamp64Micro({from_us:Int64}, 'UTC') AND ts < fromUnixTimestamp64Micro({to_us:Int64}, 'UTC')
  AND (session_id, step) > ({after_session:String}, {after_step:Int64})
ORDER BY session_id, step
LIMIT {limit:UInt32}
