-- Recomputes session_summaries from steps, the source of truth. Same
-- aggregation as session_summaries_mv (schema/0002, and `opens` since
-- 0022); run at start-up when the two tables' totals disagree (a crash
-- between the two parts of one insert), and for one session after its
-- steps expired.
INSERT INTO session_summaries (project, session_id, first_ts, last_ts, steps, failed_steps, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_cost, agents, models, users, tags, opens)
SELECT
    project,
    session_id,
    min(ts),
    max(ts),
    count(),
    countIf(failed),
    sum(input_tokens),
    sum(output_tokens),
    sum(cache_read_tokens),
    sum(cache_write_tokens),
    sum(reasoning_tokens),
    sum(ifNull(estimated_cost, 0)),
    groupUniqArrayIf(toString(agent_name), agent_name != ''),
    groupUniqArrayIf(toString(model_name), model_name != ''),
    groupUniqArrayIf(user_id, user_id != ''),
    arrayMap(t -> toString(t), groupUniqArrayArray(tags)),
    -- opens: this row is rebuilt from all of its session's steps.
    1
FROM steps
GROUP BY project, session_id
