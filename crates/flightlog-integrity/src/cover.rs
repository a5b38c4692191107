//! When an erased field is lawful: a record this instance signed covers
//! its step. Written once here for every reader of the rule: the verifier
//! (the whole log, one session, one decision) and the offline bundle check.

use crate::signer::{erasure_message, expiry_message, signature_valid};
use flightlog_model::retention::ExpiryKind;
use flightlog_store::{ErasureRow, ExpirationRow};
use roaring::RoaringTreemap;
use std::collections::HashMap;

/// Whether `key` (hex) signed this erasure record.
pub(crate) fn erasure_signed(r: &ErasureRow, key: &str) -> bool {
    signature_valid(key, &erasure_message(r), &r.signature)
}

/// Whether `key` (hex) signed this expiry record, which names its signer.
pub(crate) fn expiry_signed(x: &ExpirationRow, key: &str) -> bool {
    x.public_key == key && signature_valid(key, &expiry_message(x), &x.signature)
}

/// Whether an expiry record blanked content (the kind that leaves erased
/// fields) rather than removed steps.
pub(crate) fn blanks_content(x: &ExpirationRow) -> bool {
    x.kind == ExpiryKind::Content.as_str()
}

/// The signed records that explain erased fields: an erasure record of the
/// step's session or user that reaches its log position, or a content
/// expiry listing that position.
#[derive(Default)]
pub(crate) struct Cover {
    /// Erasure records by the (project, session, user) they name: a record
    /// names a session, a user or both, the other left empty.
    erasures: HashMap<(String, String, String), Vec<ErasureRow>>,
    /// Log positions whose content a content expiry record lists.
    content_expired: RoaringTreemap,
}

impl Cover {
    /// The erasure records `key` signed among `erasures`, and the positions
    /// the content expiries it signed among `expiries` list. Whether those
    /// positions are the session's own is the caller's to have checked.
    pub fn signed(key: &str, erasures: impl IntoIterator<Item = ErasureRow>, expiries: &[ExpirationRow]) -> Self {
        let expiries: Vec<&ExpirationRow> = expiries.iter().filter(|x| expiry_signed(x, key)).collect();
        Self::checked(erasures.into_iter().filter(|r| erasure_signed(r, key)), expiries)
    }

    /// [`Cover::signed`] for records whose signatures were checked already.
    pub fn checked<'a>(erasures: impl IntoIterator<Item = ErasureRow>, expiries: impl IntoIterator<Item = &'a ExpirationRow>) -> Self {
        let mut cover = Self::default();
        for r in erasures {
            cover.erasures.entry((r.project.clone(), r.session_id.clone(), r.user_id.clone())).or_default().push(r);
        }
        for x in expiries.into_iter().filter(|x| blanks_content(x)) {
            cover.add_content_expiry(&x.log_indexes);
        }
        cover
    }

    /// Replaces the erasure records with those `key` signed among `records`.
    pub fn set_erasures(&mut self, key: &str, records: impl IntoIterator<Item = ErasureRow>) {
        self.erasures = Self::signed(key, records, &[]).erasures;
    }

    /// Adds the positions of a content expiry record already checked.
    pub fn add_content_expiry(&mut self, positions: &[u64]) {
        self.content_expired.extend(positions.iter().copied());
    }

    /// Whether a record explains the erased fields of the step of
    /// `project`, `session` and `user` at log position `log_index`.
    pub fn covers(&self, project: &str, session: &str, user: &str, log_index: u64) -> bool {
        let named = |session: &str, user: &str| self.erasures.get(&(project.to_string(), session.to_string(), user.to_string()));
        let candidates = [named(session, ""), named("", user), named(session, user)];
        self.content_expired.contains(log_index)
            || candidates.into_iter().flatten().flatten().any(|e| e.covers(project, session, user, log_index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::Signer;

    fn record(session: &str, user: &str, log_through: i64, signer: &Signer) -> ErasureRow {
        let mut r = ErasureRow {
            project: "p".into(),
            at_us: 1,
            session_id: session.into(),
            user_id: user.into(),
            reason: "asked".into(),
            by_key: "k".into(),
            steps_erased: 1,
            fields_erased: 1,
            signature: String::new(),
            log_through,
        };
        r.signature = signer.sign(&erasure_message(&r));
        r
    }

    #[test]
    fn a_signed_record_covers_its_session_or_user_up_to_its_bound_and_no_other() {
        let (ours, theirs) = (Signer::from_hex(&"11".repeat(32)).unwrap(), Signer::from_hex(&"22".repeat(32)).unwrap());
        let key = ours.public_key_hex();
        let mut altered = record("s3", "", -1, &ours);
        altered.reason = "another reason".into();
        let records =
            [record("s1", "", 10, &ours), record("", "u1", -1, &ours), record("s2", "", -1, &theirs), altered, record("s4", "u4", -1, &ours)];
        let cover = Cover::signed(&key, records, &[]);
        assert!(!cover.covers("p", "s3", "", 1), "changed after it was signed");
        assert!(cover.covers("p", "s4", "u4", 1), "a user's steps in one session");
        assert!(!cover.covers("p", "s4", "u5", 1) && !cover.covers("p", "s5", "u4", 1), "its other users' steps there, or the user's elsewhere");
        assert!(cover.covers("p", "s1", "anyone", 9));
        assert!(!cover.covers("p", "s1", "anyone", 10), "logged after the erasure read the log");
        assert!(cover.covers("p", "any", "u1", 1_000_000), "a record kept before its bound was signed reaches every step");
        assert!(!cover.covers("q", "s1", "u1", 1), "another project's steps");
        assert!(!cover.covers("p", "s2", "", 1), "signed by another key");
    }

    #[test]
    fn a_content_expiry_covers_the_positions_it_lists_when_signed_by_the_key() {
        let (ours, theirs) = (Signer::from_hex(&"11".repeat(32)).unwrap(), Signer::from_hex(&"22".repeat(32)).unwrap());
        let expiry = |kind: ExpiryKind, signer: &Signer| {
            let mut x = ExpirationRow {
                project: "p".into(),
                session_id: "s".into(),
                kind: kind.as_str().into(),
                log_indexes: vec![3, 4],
                last_link: String::new(),
                next_seq: 0,
                policy: "{}".into(),
                expired_us: 1,
                public_key: signer.public_key_hex(),
                signature: String::new(),
            };
            x.signature = signer.sign(&expiry_message(&x));
            x
        };
        let key = ours.public_key_hex();
        assert!(Cover::signed(&key, [], &[expiry(ExpiryKind::Content, &ours)]).covers("p", "s", "", 4));
        assert!(!Cover::signed(&key, [], &[expiry(ExpiryKind::Content, &theirs)]).covers("p", "s", "", 4));
        let mut named_ours_signed_by_theirs = expiry(ExpiryKind::Content, &theirs);
        named_ours_signed_by_theirs.public_key = key.clone();
        assert!(!Cover::signed(&key, [], &[named_ours_signed_by_theirs]).covers("p", "s", "", 4), "a record naming our key, not signed with it");
        assert!(!Cover::signed(&key, [], &[expiry(ExpiryKind::Steps, &ours)]).covers("p", "s", "", 4), "removed steps leave no fields");
    }
}
