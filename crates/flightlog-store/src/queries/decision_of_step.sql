-- One step's decision fields, to find decisions like it.
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
WHERE project = {project:String} AND session_id = {session:String} AND step = {step:UInt64}
LIMIT 1
