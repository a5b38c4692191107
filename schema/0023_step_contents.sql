-- Content stored once (issue 15). An agent sends the whole conversation so
-- far with each LLM call, so step k repeats the k messages before it. A
-- step whose prompt messages are long (flightlog_model::by_reference) keeps
-- in `message_refs` the SHA-256 of each of its messages, in order, and an
-- empty `prompt_messages`; each message is stored here once per session.
-- Reads put the messages back (crates/flightlog-store/src/content.rs), so
-- the step hash, verification and the evidence bundle see what was sent.
--
-- Per session, not per project: erasure and retention then decide what is
-- still needed by reading one session's references, never the project's.
--
-- Written before the steps that refer to it, in the same group commit, and
-- fsynced like them: an acknowledged step never refers to a message that is
-- not on disk. A message written twice (a retried commit) is the same row,
-- hence Replacing. Tampering with a message changes the step it is put back
-- into, and verification reports that step as changed.
CREATE TABLE IF NOT EXISTS step_contents
(
    project    LowCardinality(String),
    session_id String,
    hash       FixedString(32),
    body       String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
ORDER BY (project, session_id, hash)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 268435456,
         fsync_after_insert = 1, fsync_part_directory = 1;

ALTER TABLE steps ADD COLUMN IF NOT EXISTS message_refs Array(FixedString(32)) AFTER prompt_messages;
