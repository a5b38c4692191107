-- The steps of a session that start in [from_us, to_us), each as a bar of
-- its waterfall: when it started, how long it ran, what it called, how it
-- ended, its tokens, and how often the session ran the same action (tool
-- with identical parameters, the rule of the repeated-action flag).
SELECT
    step,
    toUnixTimestamp64Micro(ts)                                                AS start_us,
    ifNull(tool_duration_ms, 0)                                               AS duration_ms,
    if(tool_name != '', tool_name, chosen_tool)                               AS tool,
    tool_status                                                               AS status,
    failed,
    input_tokens + output_tokens                                              AS tokens,
    if(tool_name = '', 0, count() OVER (PARTITION BY tool_name, cityHash64(tool_params))) AS same_action
FROM steps
WHERE project = {project:String} AND session_id = {session:String}
QUALIFY start_us >= {from_us:Int64} AND start_us < {to_us:Int64}
ORDER BY start_us, step
