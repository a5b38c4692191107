-- What steps did, in order of acceptance, for the guard's memory at
-- start-up: the steps at log positions [from, from + count) taken at or
-- after `since_us`. Read in pages (the log_index skip index prunes each)
-- so a million actions never make one huge answer. A step whose content
-- was erased comes with what it did before (erased_actions, schema/0029):
-- its parameters and result are blank here.
SELECT s.project AS project, s.session_id AS session_id, s.step AS step, s.ts_us AS ts_us, s.received_us AS received_us,
       s.agent_name AS agent_name, s.user_id AS user_id, s.tool_name AS tool_name, s.tool_params AS tool_params,
       s.failed AS failed, s.tokens AS tokens, s.result_hex AS result_hex,
       e.action_key AS erased_action_key, e.result AS erased_result
FROM
(
    SELECT project, session_id, step, toUnixTimestamp64Micro(ts) AS ts_us, toUnixTimestamp64Micro(received_at) AS received_us, agent_name, user_id,
           tool_name, tool_params, failed, input_tokens + output_tokens AS tokens,
           hex(substring(SHA256(tool_result), 1, 8)) AS result_hex, log_index
    FROM steps
    WHERE log_index >= {from:UInt64} AND log_index < {from:UInt64} + {count:UInt64}
      AND ts >= fromUnixTimestamp64Micro({since_us:Int64}, 'UTC')
) AS s
-- ANY: a row written twice (an erasure retried) is one.
LEFT ANY JOIN
(
    SELECT log_index, action_key, result
    FROM erased_actions
    WHERE log_index >= {from:UInt64} AND log_index < {from:UInt64} + {count:UInt64}
) AS e ON e.log_index = s.log_index
ORDER BY s.log_index
SETTINGS join_use_nulls = 0
