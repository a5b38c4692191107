-- How far the similar-failure index is behind: key decisions (the
-- key_decision column, schema/0010_key_decision.sql) accepted
-- at or after its high-water mark (the first log_index not yet indexed), and when the oldest of them arrived.
SELECT
    count() AS steps_behind,
    if(count() = 0, 0, toUnixTimestamp64Micro(min(received_at))) AS oldest_us
FROM steps
WHERE log_index >= {from:UInt64}
  AND key_decision
