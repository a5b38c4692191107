-- Every price row that applies to a project (the list's and its own), as
-- far as the cost rollups care: from when, and at which tier threshold
-- (the overrides in force: the overrides marker, price_overrides_in_force.sql).
SELECT toString(model_key) AS model_key, toUnixTimestamp64Micro(effective_from) AS from_us, tier_threshold
FROM prices
UNION ALL
SELECT toString(model_key) AS model_key, toUnixTimestamp64Micro(effective_from) AS from_us, tier_threshold
FROM ({{overrides}})
