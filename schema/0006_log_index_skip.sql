-- The similar-failure indexer reads steps by log_index (its high-water
-- mark), which is not in the sort key. Each group commit writes one part
-- holding one contiguous log_index range, so a minmax index lets "steps
-- after the mark" skip every part already indexed instead of scanning them.
ALTER TABLE steps ADD INDEX IF NOT EXISTS log_index_range log_index TYPE minmax GRANULARITY 1;
ALTER TABLE steps MATERIALIZE INDEX log_index_range;
