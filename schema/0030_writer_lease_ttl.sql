-- The lease's time to live as its holder keeps it (docs/scale-out.md). A
-- standby waited its own: one started with a shorter `--writer-lease-ttl`
-- than the holder's took the lease while the holder still wrote, and both
-- numbered the log. A standby now waits the longer of the two. 0: a row
-- written before this column, whose holder's time to live is not known.
ALTER TABLE writer_leases ADD COLUMN IF NOT EXISTS ttl_ms UInt64 DEFAULT 0;
