-- How many writes of the steps or of the log of record are still running on
-- the engine, from any client of this database. A Flightlog killed in the
-- middle of a group commit leaves its insert running on a ClickHouse
-- server, which finishes it (its views included) later: repairing the
-- derived tables or the log's tail before then would count its rows twice.
SELECT count() AS running
FROM system.processes
WHERE query_kind = 'Insert'
  AND current_database = currentDatabase()
  AND (query LIKE 'INSERT INTO steps (%' OR query LIKE 'INSERT INTO log_entries (%')
