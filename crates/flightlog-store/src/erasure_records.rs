//! The records of erasures (`erasures`, schema/0027): who asked for which
//! session and/or user, when and why, and what each blanked; each signed by
//! the instance, never updated. What the steps' erased fields prove is
//! erasure.rs's.

use crate::backend::{Params, StoreError, rows};
use crate::Store;

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
