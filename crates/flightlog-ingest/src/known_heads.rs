//! Where the hash chains of the sessions this writer extended stand.
//!
//! A session's chain head is its row with the highest `session_seq`,
//! which the order of `steps` (by step number) cannot find: reading it
//! reads every row of the session (session_states.sql), 7.7 ms for a
//! session of 1,000 steps and 24 ms for one of 200,000, at every commit
//! into it. The writer is the only part of Flightlog that inserts steps,
//! so after each of its commits it knows the heads it just wrote, and the
//! next commit into those sessions reads only whether its step numbers are
//! stored (existing_steps.sql). (Rows written behind Flightlog's back, say
//! with `flightlog sql`, are tampering, which verification finds; the
//! chain goes on from what this writer stored.)
//!
//! What it knows holds while nothing else moves a chain: it is forgotten
//! when the writer reads the log again (start-up, a new tenure of the
//! writer lease, during which another process may have written), when a
//! commit fails (part of it may be stored), and when steps are removed
//! (retention: a session re-sent after its steps expired starts a new
//! chain, as it would from the store).

use flightlog_store::ChainHead;
use std::collections::HashMap;

/// Sessions remembered at most; past it everything is forgotten at once,
/// and the heads are read from the store again. An entry is about 150
/// bytes with short ids, about 600 with ids of 256 bytes (the default
/// limit): 30 MB at most. One group commit holds at most 50,000 steps.
const MAX_SESSIONS: usize = 50_000;

#[derive(Default)]
pub(crate) struct KnownHeads {
    heads: HashMap<(String, String), ChainHead>,
    /// The store's count of step removals when these heads were learned.
    removals: u64,
}

impl KnownHeads {
    /// The head of a session, if known and no steps were removed since it
    /// was learned (`removals`: the store's count now, read before the
    /// commit decides).
    pub fn get(&mut self, project: &str, session: &str, removals: u64) -> Option<ChainHead> {
        if removals != self.removals {
            self.forget(removals);
            return None;
        }
        self.heads.get(&(project.to_string(), session.to_string())).copied()
    }

    /// Heads a commit has just stored durably; `removals`: the store's
    /// count now. A removal since the commit decided (which read the count
    /// through [`KnownHeads::get`]) may have taken steps of these sessions
    /// away, so nothing is learned then.
    pub fn learn(&mut self, heads: impl IntoIterator<Item = ((String, String), ChainHead)>, removals: u64) {
        if removals != self.removals {
            self.forget(removals);
            return;
        }
        for (key, head) in heads {
            if self.heads.len() >= MAX_SESSIONS && !self.heads.contains_key(&key) {
                self.heads.clear();
            }
            self.heads.insert(key, head);
        }
    }

    pub fn forget(&mut self, removals: u64) {
        self.heads.clear();
        self.removals = removals;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(session: &str) -> (String, String) {
        ("p".to_string(), session.to_string())
    }

    fn head(seq: u64) -> ChainHead {
        ChainHead { seq, head: [seq as u8; 32] }
    }

    #[test]
    fn a_learned_head_is_known_until_steps_are_removed() {
        let mut known = KnownHeads::default();
        known.learn([(key("a"), head(3))], 0);
        assert_eq!(known.get("p", "a", 0), Some(head(3)));
        assert_eq!(known.get("q", "a", 0), None, "another project's session of that id");
        assert_eq!(known.get("p", "a", 1), None, "a removal started");
        known.learn([(key("a"), head(4))], 1);
        assert_eq!(known.get("p", "a", 1), Some(head(4)));
    }

    #[test]
    fn heads_learned_across_a_removal_are_not_kept() {
        let mut known = KnownHeads::default();
        known.learn([(key("a"), head(3))], 0);
        // A commit decides at count 0, then a removal moves it to 2 before
        // the commit's heads are learned.
        assert_eq!(known.get("p", "a", 0), Some(head(3)));
        known.learn([(key("a"), head(4)), (key("b"), head(1))], 2);
        assert_eq!((known.get("p", "a", 2), known.get("p", "b", 2)), (None, None));
        known.learn([(key("b"), head(2))], 2);
        assert_eq!(known.get("p", "b", 2), Some(head(2)), "learned again once nothing moved");
    }

    #[test]
    fn past_its_bound_it_starts_again() {
        let mut known = KnownHeads::default();
        known.learn((0..MAX_SESSIONS as u64).map(|n| (key(&n.to_string()), head(n))), 0);
        assert_eq!(known.heads.len(), MAX_SESSIONS);
        known.learn([(key("0"), head(9))], 0);
        assert_eq!(known.heads.len(), MAX_SESSIONS, "a known session is updated in place");
        known.learn([(key("new"), head(1))], 0);
        assert_eq!((known.heads.len(), known.get("p", "new", 0)), (1, Some(head(1))));
    }
}
