INSERT INTO steps (
    project, session_id, step, ts,
    agent_name, agent_version,
    reasoning, considered_tools, chosen_tool, confidence,
    tool_name, tool_params, tool_result, tool_status, tool_error, tool_duration_ms,
    model_provider, model_name, model_version, model_key, temperature, top_p, seed, max_tokens,
    prompt_system, prompt_messages, completion,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_cost,
    user_id, tags, metadata,
    raw, failed, step_hash, erased,
    session_seq, chain_hash, log_index, received_at
)
