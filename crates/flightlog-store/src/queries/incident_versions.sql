-- How far each of these incidents is stored: its count and when it last
-- changed. The incidents' writer reads it before writing, so that a state
-- found again (the detectors replaying stored steps at start-up) never
-- moves an incident back in time or writes it twice.
SELECT project, id, count, last_step, last_us, updated_us
FROM incidents FINAL
WHERE id IN {ids:Array(String)}
