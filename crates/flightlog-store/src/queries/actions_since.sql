-- What steps did, in order of acceptance, for the guard's memory at
-- start-up: the steps at log positions [from, from + count) taken at or
-- after `since_us`. Read in pages (the log_index skip index prunes each)
-- so a million actions never make one huge answer.
SELECT project, session_id, step, toUnixTimestamp64Micro(ts) AS ts_us, agent_name, user_id,
       tool_name, tool_params, failed, input_tokens + output_tokens AS tokens,
       hex(substring(SHA256(tool_result), 1, 8)) AS result_hex
FROM steps
WHERE log_index >= {from:UInt64} AND log_index < {from:UInt64} + {count:UInt64}
  AND ts >= fromUnixTimestamp64Micro({since_us:Int64}, 'UTC')
ORDER BY log_index
