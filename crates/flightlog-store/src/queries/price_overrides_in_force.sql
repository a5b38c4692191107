-- A project's price overrides in force: one per model and date. An
-- override posted again for a model and date supersedes the one before it
-- (the later created_at; within one millisecond, the larger prices), so
-- that every read of the costs picks the same row. The other queries take
-- this one as a subquery (the overrides marker), with their project
-- parameter.
SELECT model_key, effective_from, input, output, cache_read, cache_write, reasoning,
       tier_threshold, tier_input, tier_output, tier_cache_read, tier_cache_write, note
FROM price_overrides
WHERE project = {project:String}
ORDER BY model_key, effective_from, created_at DESC, input DESC, output DESC, cache_read DESC, cache_write DESC,
         reasoning DESC, tier_threshold DESC, tier_input DESC, tier_output DESC, tier_cache_read DESC, tier_cache_write DESC, note DESC
LIMIT 1 BY model_key, effective_from
