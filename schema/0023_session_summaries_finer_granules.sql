-- Every session-list page reads the full summaries of its 50 sessions by
-- id (session_summaries_of.sql), and every page by start time reads a few
-- hundred rows at the edge of the list. With random ids (UUIDv4) 50
-- sessions fall in about 50 different granules, and each column of each
-- granule is read and decompressed whole: with the engine's defaults (8,192
-- rows a granule, compressed blocks of 64 KiB to 1 MiB) that read took
-- 30-34 ms over 1M sessions, against 15-17 ms with granules of 1,024 rows
-- in blocks of 4-16 KiB (the same rows, one merged part each; the ranking
-- of a whole list by cost took 17 against 15 ms, and the data 6% more
-- space). A page by start time took 12-18 ms less at p50
-- (`flightlog-bench sessions`, 1M sessions, two runs of each build in turn).
--
-- The granule size is fixed when a table is created, so the table is made
-- again and rebuilt from steps, its source of truth: the store finds it
-- empty beside the steps at start-up and rebuilds it
-- (repair_summaries_if_needed, the crash repair; about a minute for 10M
-- steps). Every statement can run twice: a start-up that stopped halfway
-- applies the migration again, and the rebuild follows.
--
-- The columns and the view are those of schema/0002, with `opens` and the
-- start-time projection of schema/0022.
DROP VIEW IF EXISTS session_summaries_mv SYNC;

DROP TABLE IF EXISTS session_summaries SYNC;

CREATE TABLE IF NOT EXISTS session_summaries
(
    project            LowCardinality(String),
    session_id         String,
    first_ts           SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_ts            SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    steps              SimpleAggregateFunction(sum, UInt64),
    failed_steps       SimpleAggregateFunction(sum, UInt64),
    input_tokens       SimpleAggregateFunction(sum, UInt64),
    output_tokens      SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens  SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens   SimpleAggregateFunction(sum, UInt64),
    estimated_cost     SimpleAggregateFunction(sum, Float64),
    agents             SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    models             SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    users              SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    tags               SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    opens              SimpleAggregateFunction(max, UInt8) DEFAULT 1,
    PROJECTION by_start
    (
        SELECT project, session_id, first_ts, last_ts, failed_steps, agents, models, users, opens
        ORDER BY project, first_ts
    )
)
ENGINE = AggregatingMergeTree
ORDER BY (project, session_id)
SETTINGS index_granularity = 1024, min_compress_block_size = 4096, max_compress_block_size = 16384,
         fsync_after_insert = 1, fsync_part_directory = 1, deduplicate_merge_projection_mode = 'rebuild';

CREATE MATERIALIZED VIEW IF NOT EXISTS session_summaries_mv TO session_summaries AS
SELECT
    project,
    session_id,
    min(ts)                                           AS first_ts,
    max(ts)                                           AS last_ts,
    count()                                           AS steps,
    countIf(failed)                                   AS failed_steps,
    sum(input_tokens)                                 AS input_tokens,
    sum(output_tokens)                                AS output_tokens,
    sum(cache_read_tokens)                            AS cache_read_tokens,
    sum(cache_write_tokens)                           AS cache_write_tokens,
    sum(reasoning_tokens)                             AS reasoning_tokens,
    sum(ifNull(estimated_cost, 0))                    AS estimated_cost,
    groupUniqArrayIf(toString(agent_name), agent_name != '') AS agents,
    groupUniqArrayIf(toString(model_name), model_name != '') AS models,
    groupUniqArrayIf(user_id, user_id != '')          AS users,
    arrayMap(t -> toString(t), groupUniqArrayArray(tags)) AS tags,
    max(session_seq = 0)                              AS opens
FROM steps
GROUP BY project, session_id;
