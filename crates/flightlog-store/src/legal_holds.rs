//! Legal holds (`legal_holds`): placements and releases, each signed by the
//! instance, never updated. What is held now is the application core's to
//! work out from the signed rows.

use crate::backend::{Params, StoreError, rows};
use crate::Store;

const HOLD_CHANGES: &str = include_str!("queries/legal_hold_changes.sql");
const PUT_HOLD: &str = "INSERT INTO legal_holds (project, subject, id, held, reason, at_us, by_key, signature) \
    SELECT {project:String}, {subject:String}, {id:String}, {held:Bool}, {reason:String}, {at_us:Int64}, {by_key:String}, {signature:String}";

/// A hold placed (`held`) or released on a session or a user, by a key.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct HoldRow {
    #[serde(default)]
    pub project: String,
    /// `session` or `user` (the model's `HoldSubject`).
    pub subject: String,
    pub id: String,
    pub held: bool,
    pub reason: String,
    pub at_us: i64,
    pub by_key: String,
    pub signature: String,
}

impl Store {
    /// Every placement and release of `project`'s holds, oldest first.
    pub async fn legal_hold_changes(&self, project: &str) -> Result<Vec<HoldRow>, StoreError> {
        let mut found: Vec<HoldRow> = rows(&self.ch.query(HOLD_CHANGES, Params::new().text("project", project)).await?)?;
        for row in &mut found {
            row.project = project.to_string();
        }
        Ok(found)
    }

    /// Stores a (signed) placement or release.
    pub async fn put_legal_hold(&self, row: &HoldRow) -> Result<(), StoreError> {
        let params = Params::new()
            .text("project", &row.project)
            .text("subject", &row.subject)
            .text("id", &row.id)
            .number("held", row.held)
            .text("reason", &row.reason)
            .number("at_us", row.at_us)
            .text("by_key", &row.by_key)
            .text("signature", &row.signature);
        self.ch.query(PUT_HOLD, params).await?;
        Ok(())
    }
}
