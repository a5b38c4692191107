//! Legal holds (`legal_holds`): placements and releases, each signed by the
//! instance, never updated. What is held now is the application core's to
//! work out from the signed rows. Beside them, the records of erasures
//! (`erasures`), signed the same way.

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

/// The record of one erasure: who asked for which session and/or user, when
/// and why, and what it blanked (`schema/0027_erasures.sql`), signed by the
/// instance.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct ErasureRow {
    pub project: String,
    pub at_us: i64,
    pub session_id: String,
    pub user_id: String,
    pub reason: String,
    pub by_key: String,
    pub steps_erased: u64,
    pub fields_erased: u64,
    pub signature: String,
}

const ERASURES_PAGE: &str = include_str!("queries/erasures_page.sql");
const PUT_ERASURE: &str = "INSERT INTO erasures (project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature) \
    SELECT {project:String}, {at_us:Int64}, {session:String}, {user:String}, {reason:String}, {by_key:String}, {steps:UInt64}, {fields:UInt64}, {signature:String}";

impl Store {
    /// Keeps the record of an erasure (durably, before it is answered).
    pub async fn put_erasure(&self, row: &ErasureRow) -> Result<(), StoreError> {
        let params = Params::new()
            .text("project", &row.project)
            .number("at_us", row.at_us)
            .text("session", &row.session_id)
            .text("user", &row.user_id)
            .text("reason", &row.reason)
            .text("by_key", &row.by_key)
            .number("steps", row.steps_erased)
            .number("fields", row.fields_erased)
            .text("signature", &row.signature);
        self.ch.query(PUT_ERASURE, params).await?;
        Ok(())
    }

    /// `project`'s newest erasure records, at most `limit`.
    pub async fn erasures(&self, project: &str, limit: u32) -> Result<Vec<ErasureRow>, StoreError> {
        rows(&self.ch.query(ERASURES_PAGE, Params::new().text("project", project).number("limit", limit)).await?)
    }
}
