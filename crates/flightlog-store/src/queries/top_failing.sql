-- The tools (by = 'tool') or agents (by = 'agent') with the most failed
-- steps since from_us, with how often they ran.
SELECT
    if({by:String} = 'agent', toString(agent_name), if(tool_name != '', toString(tool_name), toString(chosen_tool))) AS name,
    countIf(failed)  AS failed,
    count()          AS runs
FROM steps
WHERE project = {project:String} AND ts >= fromUnixTimestamp64Micro({from_us:Int64})
GROUP BY name
HAVING failed > 0 AND name != ''
ORDER BY failed DESC, name
LIMIT {limit:UInt32}
