//! The records of erasures (`erasures`, schema/0027): who asked for which
//! session and/or user, when and why, and what each blanked; each signed by
//! the instance, never updated. What the steps' erased fields prove is
//! erasure.rs's.

use crate::backend::{Params, StoreError, rows};
use crate::Store;

/// The record of one erasure: who asked for which session and/or user, when
/// and why, and what it blanked (`schema/0027_erasures.sql`), signed by the
/// instance.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
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
    /// The erasure covers the steps it matched at log positions below
    /// this; -1 for a record kept before it was (schema/0031), which covers
    /// its session's and/or user's steps wherever they stand.
    pub log_through: i64,
}

/// An erasure's record as the list shows it: with whether all its content
/// is blanked (`erasures_finished`, or kept before that mark was).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct ListedErasure {
    #[serde(flatten)]
    pub record: ErasureRow,
    pub finished: bool,
}

impl ErasureRow {
    /// Whether this erasure (its signature checked apart) covers an erased
    /// step of `project`, `session` and `user` at log position `log_index`.
    pub fn covers(&self, project: &str, session: &str, user: &str, log_index: u64) -> bool {
        self.project == project
            && (self.session_id.is_empty() || self.session_id == session)
            && (self.user_id.is_empty() || self.user_id == user)
            && (self.log_through < 0 || log_index < self.log_through as u64)
    }
}

const ERASURES_PAGE: &str = include_str!("queries/erasures_page.sql");
const ERASURES_COVERING: &str = include_str!("queries/erasures_covering.sql");
const ALL_ERASURES: &str = include_str!("queries/all_erasures.sql");
const ERASURES_OF_SESSION: &str = include_str!("queries/erasures_of_session.sql");
const UNFINISHED_ERASURES: &str = include_str!("queries/unfinished_erasures.sql");
const PUT_ERASURE: &str = "INSERT INTO erasures (project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through) \
    SELECT {project:String}, {at_us:Int64}, {session:String}, {user:String}, {reason:String}, {by_key:String}, {steps:UInt64}, {fields:UInt64}, {signature:String}, {log_through:Int64}";
const PUT_ERASURE_FINISHED: &str =
    "INSERT INTO erasures_finished (project, at_us, signature) SELECT {project:String}, {at_us:Int64}, {signature:String}";

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
            .text("signature", &row.signature)
            .number("log_through", row.log_through);
        self.ch.query(PUT_ERASURE, params).await?;
        Ok(())
    }

    /// Marks the erasure `record` as done: all its content is blanked
    /// (schema/0031). By its signature too: two records of one project
    /// can share a time (a clock set back, a failover to a host behind).
    pub async fn put_erasure_finished(&self, record: &ErasureRow) -> Result<(), StoreError> {
        let params = Params::new().text("project", &record.project).number("at_us", record.at_us).text("signature", &record.signature);
        self.ch.query(PUT_ERASURE_FINISHED, params).await?;
        Ok(())
    }

    /// Erasure records whose erasure a crash or a failure cut short (kept,
    /// not marked finished), oldest first, at most `limit`.
    pub async fn unfinished_erasures(&self, limit: u32) -> Result<Vec<ErasureRow>, StoreError> {
        rows(&self.ch.query(UNFINISHED_ERASURES, Params::new().number("limit", limit)).await?)
    }

    /// The erasure records that could cover an erased step of `session`
    /// or of any of `users` in `project` (their signatures unchecked): for
    /// one step, whose user is known.
    pub async fn erasures_covering(&self, project: &str, session: &str, users: &[String]) -> Result<Vec<ErasureRow>, StoreError> {
        let params = Params::new().text("project", project).text("session", session).texts("users", users);
        rows(&self.ch.query(ERASURES_COVERING, params).await?)
    }

    /// `project`'s newest erasure records, at most `limit`, each with
    /// whether its erasure is finished (a crash or a failure can cut one
    /// short; the writer finishes it).
    pub async fn erasures(&self, project: &str, limit: u32) -> Result<Vec<ListedErasure>, StoreError> {
        rows(&self.ch.query(ERASURES_PAGE, Params::new().text("project", project).number("limit", limit)).await?)
    }

    /// Every erasure record (their signatures unchecked).
    pub async fn all_erasures(&self) -> Result<Vec<ErasureRow>, StoreError> {
        rows(&self.ch.query(ALL_ERASURES, Params::new()).await?)
    }

    /// The erasure records that could cover an erased step of `session`
    /// in `project`: of it, or of a user with steps in it (their
    /// signatures unchecked).
    pub async fn erasures_of_session(&self, project: &str, session: &str) -> Result<Vec<ErasureRow>, StoreError> {
        rows(&self.ch.query(ERASURES_OF_SESSION, Params::new().text("project", project).text("session", session)).await?)
    }
}
