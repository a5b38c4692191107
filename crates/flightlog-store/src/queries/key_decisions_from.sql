-- The next key decisions to embed, in order of acceptance: steps where the
-- agent chose a tool and said why, or that failed (the key_decision column,
-- schema/0010_key_decision.sql). `from` is the indexer's high-water mark: the first log_index
-- not yet indexed. The single writer assigns log_index in commit order, so
-- nothing can later appear below a mark already passed.
SELECT
    log_index,
    project,
    session_id,
    step,
    toUnixTimestamp64Micro(ts) AS ts_us,
    agent_name,
    model_name,
    reasoning,
    chosen_tool,
    tool_name,
    tool_params,
    tool_status,
    tool_error,
    failed,
    key_decision,
    length(erased) AS erased_fields
FROM steps
WHERE log_index >= {from:UInt64}
  AND key_decision
ORDER BY log_index
LIMIT {limit:UInt32}
