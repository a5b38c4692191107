-- How many fields are erased in the steps still stored at these log
-- positions. The indexer reads it after writing a batch's points and takes
-- back those of steps erased or expired since it read them (by this process
-- or by another sharing the store), whose points hold content now gone.
SELECT log_index, length(erased) AS erased_fields
FROM steps
WHERE log_index BETWEEN {first:UInt64} AND {last:UInt64}
  AND log_index IN {indexes:Array(UInt64)}
