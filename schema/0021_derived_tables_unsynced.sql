-- The tables that materialized views derive from steps are caches: the
-- store compares each with steps at start-up and rebuilds it when they
-- disagree (`rebuild_if_apart`), which is what a power cut that lost a
-- derived part (or kept one whose steps part it lost) leaves behind. So
-- their parts need not be fsynced before an insert is acknowledged: only
-- steps and the log of record must be on disk then. Measured with
-- `flightlog-bench write-path` (commits of 1,000 steps, the two settings
-- in turn, release build, 2 cores, ext4): a steps insert with its three
-- views took a mean of 55-72 ms fsyncing the steps part alone, 64-87 ms
-- fsyncing every part (4 runs); no difference with commits of 8,000.
-- A kill -9 loses nothing either way: written parts are in the page cache.
ALTER TABLE session_summaries MODIFY SETTING fsync_after_insert = 0, fsync_part_directory = 0;
ALTER TABLE session_actions MODIFY SETTING fsync_after_insert = 0, fsync_part_directory = 0;
ALTER TABLE cost_rollups MODIFY SETTING fsync_after_insert = 0, fsync_part_directory = 0;
