-- How many writes of the steps or of the log of record are still running on
-- the engine, from any client of this database. A Flightlog killed in the
-- middle of a group commit leaves its insert running on a ClickHouse
-- server, which finishes it (its views included) later: repairing the
-- derived tables or the log's tail before then would count its rows twice.
-- The two statements are bound as the writer starts them (steps.rs).
SELECT count() AS running
FROM system.processes
WHERE query_kind = 'Insert'
  AND current_database = currentDatabase()
  AND (startsWith(query, {steps_insert:String}) OR startsWith(query, {log_insert:String}))
