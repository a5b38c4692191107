-- The key-decision rule, defined once (flightlog-model's decision module
-- says what it is for): a step is a key decision when it failed, or when
-- the agent chose a tool and said why, both of them not blank. Blank is
-- empty or only whitespace, whitespace meaning what Rust's
-- char::is_whitespace means (Unicode White_Space: \t \n \v \f \r, U+0085,
-- and the separators \pZ), so " " or "\t" is no tool and no reason.
--
-- An ALIAS column: computed from the row whenever it is read, never
-- stored. So every step already stored is judged by the same rule as a
-- new one, with nothing to backfill, and nothing the writer inserts
-- changes. The similar-failure indexer reads the key decisions with it
-- (queries/key_decisions_from.sql, key_decision_lag.sql) and the timeline
-- reads it to offer "similar decisions" (queries/session_timeline.sql).
ALTER TABLE steps ADD COLUMN IF NOT EXISTS key_decision Bool ALIAS
    failed OR (match(chosen_tool, '[^\\t\\n\\v\\f\\r\\x{85}\\pZ]') AND match(reasoning, '[^\\t\\n\\v\\f\\r\\x{85}\\pZ]'));
