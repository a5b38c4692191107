//! A project's policies as stored: each row signed by the instance when an
//! admin sets it, and only signed rows ever in force. A row written behind
//! Flightlog's back (redact nothing; expire everything tomorrow; release a
//! hold) carries no valid signature and is ignored, with a warning; except
//! a hold's placement, which fails closed ([`AppState::holds_in_force`]).

use crate::{AppError, AppState};
use flightlog_integrity::signer::{hold_message, policy_message};
use flightlog_model::retention::HoldSubject;
use flightlog_model::time::{format_timestamp, now_us};
use flightlog_store::{HoldRow, PolicyKind, PolicyRow};
use std::collections::BTreeMap;

impl AppState {
    /// The newest policy of `kind` this instance signed for `project`.
    pub(crate) async fn policy_in_force(&self, project: &str, kind: PolicyKind) -> Result<Option<PolicyRow>, AppError> {
        let rows = self.store.policy_changes(project, kind).await?;
        Ok(rows.into_iter().find(|r| self.policy_signed(kind, r)))
    }

    /// Every project's policy of `kind` in force (signed, newest).
    pub(crate) async fn policies_in_force(&self, kind: PolicyKind) -> Result<Vec<PolicyRow>, AppError> {
        let mut newest: BTreeMap<String, PolicyRow> = BTreeMap::new();
        for row in self.store.policy_changes_of_kind(kind).await? {
            if !newest.contains_key(&row.project) && self.policy_signed(kind, &row) {
                newest.insert(row.project.clone(), row);
            }
        }
        Ok(newest.into_values().collect())
    }

    /// Signs and stores a new policy of `kind`; returns its row.
    pub(crate) async fn put_policy(&self, project: &str, kind: PolicyKind, body: String, by: &str) -> Result<PolicyRow, AppError> {
        let set_us = now_us();
        let signature = self.checkpointer.sign(&policy_message(project, kind.as_str(), &body, set_us, by));
        let row = PolicyRow { project: project.to_string(), body, set_us, set_by: by.to_string(), signature };
        self.store.set_policy(kind, &row).await?;
        Ok(row)
    }

    fn policy_signed(&self, kind: PolicyKind, r: &PolicyRow) -> bool {
        let ok = self.checkpointer.signed(&policy_message(&r.project, kind.as_str(), &r.body, r.set_us, &r.set_by), &r.signature);
        if !ok {
            tracing::warn!(project = %r.project, kind = kind.as_str(), set_us = r.set_us, "a policy row is not signed by this instance; ignored");
        }
        ok
    }

    /// Every placement and release of `project`'s holds, oldest first,
    /// each with whether this instance signed it.
    async fn hold_changes(&self, project: &str) -> Result<Vec<(HoldRow, bool)>, AppError> {
        let rows = self.store.legal_hold_changes(project).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let signed = self.checkpointer.signed(&hold_message_of(&r), &r.signature);
                (r, signed)
            })
            .collect())
    }

    /// The legal holds of `project` in force, each with whether this
    /// instance signed it: its placements and signed releases replayed in
    /// order. A hold fails closed: a placement this instance did not sign
    /// (written behind its back, or signed under a key it no longer has)
    /// still holds, shown as not signed until an admin releases it, where
    /// ignoring it would let held data be erased or expire for want of a
    /// key. A release it did not sign releases nothing.
    pub(crate) async fn holds_in_force(&self, project: &str) -> Result<Vec<(HoldRow, bool)>, AppError> {
        let mut held: BTreeMap<(String, String), (HoldRow, bool)> = BTreeMap::new();
        for (row, signed) in self.hold_changes(project).await? {
            let key = (row.subject.clone(), row.id.clone());
            match (row.held, signed) {
                (true, _) => {
                    if !signed {
                        tracing::warn!(project, subject = %row.subject, id = %row.id, "a legal hold is not signed by this instance; it holds until released");
                    }
                    held.insert(key, (row, signed));
                }
                (false, true) => {
                    held.remove(&key);
                }
                (false, false) => {
                    tracing::warn!(project, subject = %row.subject, id = %row.id, "a release of a legal hold is not signed by this instance; ignored");
                }
            }
        }
        Ok(held.into_values().collect())
    }

    /// The placements and releases of `project`'s legal holds, newest
    /// first, at most `limit`: who held or released what, when and why, and
    /// whether the instance signed it.
    pub async fn legal_hold_history(&self, project: &str, limit: usize) -> Result<Vec<HoldChange>, AppError> {
        let mut changes: Vec<HoldChange> = Vec::new();
        for (row, signed) in self.hold_changes(project).await?.into_iter().rev() {
            if changes.len() == limit {
                break;
            }
            let Some(subject) = HoldSubject::parse(&row.subject) else { continue };
            // Listed whether signed or not: a row written behind the
            // instance's back is shown as such (it is not in force).
            let action = if row.held { HoldAction::Placed } else { HoldAction::Released };
            changes.push(HoldChange { subject, id: row.id, action, reason: row.reason, at: format_timestamp(row.at_us), by: row.by_key, signed });
        }
        Ok(changes)
    }

    /// Signs and stores a placement (`held`) or a release.
    pub(crate) async fn put_hold(&self, project: &str, subject: HoldSubject, id: &str, held: bool, reason: &str, by: &str) -> Result<HoldRow, AppError> {
        let mut row = HoldRow {
            project: project.to_string(),
            subject: subject.as_str().to_string(),
            id: id.to_string(),
            held,
            reason: reason.to_string(),
            at_us: now_us(),
            by_key: by.to_string(),
            signature: String::new(),
        };
        row.signature = self.checkpointer.sign(&hold_message_of(&row));
        self.store.put_legal_hold(&row).await?;
        Ok(row)
    }
}

fn hold_message_of(r: &HoldRow) -> Vec<u8> {
    hold_message(&r.project, &r.subject, &r.id, r.held, &r.reason, r.at_us, &r.by_key)
}

/// What was done to a legal hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldAction {
    Placed,
    Released,
}

impl HoldAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Released => "released",
        }
    }
}

/// A placement or release of a legal hold, as kept.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct HoldChange {
    pub subject: HoldSubject,
    pub id: String,
    pub action: HoldAction,
    pub reason: String,
    /// RFC 3339.
    pub at: String,
    /// The id of the key that did it.
    pub by: String,
    /// Whether this instance signed it; one it did not was written behind
    /// its back, and is not in force.
    pub signed: bool,
}
