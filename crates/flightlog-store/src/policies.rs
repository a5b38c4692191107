//! Each project's policies (`project_policies`): one row per change, the
//! newest in force. The store keeps them as JSON text; what they mean is
//! the application core's (redaction) and the model's (retention).

use crate::backend::{Params, StoreError, rows};
use crate::Store;

const POLICY_IN_FORCE: &str = include_str!("queries/policy_in_force.sql");
const POLICIES_IN_FORCE: &str = include_str!("queries/policies_in_force.sql");
const SET_POLICY: &str = "INSERT INTO project_policies (project, kind, body, set_us, set_by) \
    SELECT {project:String}, {kind:String}, {body:String}, {set_us:Int64}, {set_by:String}";

/// Which policy a row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    Redaction,
    Retention,
}

impl PolicyKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Redaction => "redaction",
            Self::Retention => "retention",
        }
    }
}

/// A policy as stored: its JSON, when and by which key it was set.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct PolicyRow {
    #[serde(default)]
    pub project: String,
    pub body: String,
    pub set_us: i64,
    pub set_by: String,
}

impl Store {
    /// The policy of `kind` in force for `project`, if one was ever set.
    pub async fn policy(&self, project: &str, kind: PolicyKind) -> Result<Option<PolicyRow>, StoreError> {
        let params = Params::new().text("project", project).text("kind", kind.as_str());
        Ok(rows(&self.ch.query(POLICY_IN_FORCE, params).await?)?.into_iter().next())
    }

    /// Every project's policy of `kind` in force now.
    pub async fn policies(&self, kind: PolicyKind) -> Result<Vec<PolicyRow>, StoreError> {
        rows(&self.ch.query(POLICIES_IN_FORCE, Params::new().text("kind", kind.as_str())).await?)
    }

    /// Puts a new policy of `kind` in force for `project`.
    pub async fn set_policy(&self, project: &str, kind: PolicyKind, body: &str, set_us: i64, set_by: &str) -> Result<(), StoreError> {
        let params = Params::new()
            .text("project", project)
            .text("kind", kind.as_str())
            .text("body", body)
            .number("set_us", set_us)
            .text("set_by", set_by);
        self.ch.query(SET_POLICY, params).await?;
        Ok(())
    }
}
