-- How many cost rollup rows a query of the project's whole hours
-- [rollup_from_us, rollup_to_us) would read: costs.rs sums them before
-- pricing only when they are many (it reads the two key columns only).
SELECT count() AS rows
FROM cost_rollups
WHERE project = {project:String}
  AND hour >= fromUnixTimestamp64Micro({rollup_from_us:Int64}, 'UTC')
  AND hour < fromUnixTimestamp64Micro({rollup_to_us:Int64}, 'UTC')
