//! Each project's policies (`project_policies`): one row per change, each
//! signed by the instance. The store keeps them as JSON text; which row is
//! in force (the newest validly signed) and what it means is the
//! application core's (redaction) and the model's (retention).

use crate::backend::{Params, StoreError, rows};
use crate::Store;

const POLICY_CHANGES: &str = include_str!("queries/policy_changes.sql");
const POLICY_CHANGES_OF_KIND: &str = include_str!("queries/policy_changes_of_kind.sql");
const SET_POLICY: &str = "INSERT INTO project_policies (project, kind, body, set_us, set_by, signature) \
    SELECT {project:String}, {kind:String}, {body:String}, {set_us:Int64}, {set_by:String}, {signature:String}";

/// Which policy a row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    Redaction,
    Retention,
    /// The detectors' thresholds (flightlog-model's `DetectConfig`).
    Detection,
    /// Where incidents are sent (the application core's alert rules).
    Alerts,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redaction => "redaction",
            Self::Retention => "retention",
            Self::Detection => "detection",
            Self::Alerts => "alerts",
        }
    }
}

/// A policy as stored: its JSON, when and by which key it was set, and the
/// instance's signature over all of that.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct PolicyRow {
    pub project: String,
    pub body: String,
    pub set_us: i64,
    pub set_by: String,
    pub signature: String,
}

impl Store {
    /// Every row of `kind` for `project`, newest first.
    pub async fn policy_changes(&self, project: &str, kind: PolicyKind) -> Result<Vec<PolicyRow>, StoreError> {
        let params = Params::new().text("project", project).text("kind", kind.as_str());
        rows(&self.ch.query(POLICY_CHANGES, params).await?)
    }

    /// Every project's rows of `kind`, by project, each newest first.
    pub async fn policy_changes_of_kind(&self, kind: PolicyKind) -> Result<Vec<PolicyRow>, StoreError> {
        rows(&self.ch.query(POLICY_CHANGES_OF_KIND, Params::new().text("kind", kind.as_str())).await?)
    }

    /// Stores a new (signed) policy row of `kind`.
    pub async fn set_policy(&self, kind: PolicyKind, row: &PolicyRow) -> Result<(), StoreError> {
        let params = Params::new()
            .text("project", &row.project)
            .text("kind", kind.as_str())
            .text("body", &row.body)
            .number("set_us", row.set_us)
            .text("set_by", &row.set_by)
            .text("signature", &row.signature);
        self.ch.query(SET_POLICY, params).await?;
        Ok(())
    }
}
