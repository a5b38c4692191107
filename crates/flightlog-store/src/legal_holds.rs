//! Legal holds (`legal_holds`): placements and releases, never updated.

use crate::backend::{Params, StoreError, rows};
use crate::Store;
use flightlog_model::retention::HoldSubject;

const HOLDS_IN_FORCE: &str = include_str!("queries/legal_holds_in_force.sql");
const PUT_HOLD: &str = "INSERT INTO legal_holds (project, subject, id, held, reason, at_us, by_key) \
    SELECT {project:String}, {subject:String}, {id:String}, {held:Bool}, {reason:String}, {at_us:Int64}, {by_key:String}";

/// A hold in force: since when, by which key, why.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct HoldRow {
    pub subject: String,
    pub id: String,
    #[serde(rename = "held_for")]
    pub reason: String,
    pub since_us: i64,
    #[serde(rename = "placed_by")]
    pub by_key: String,
}

/// A hold placed (`held`) or released on a session or a user, by a key.
pub struct HoldChange<'a> {
    pub project: &'a str,
    pub subject: HoldSubject,
    pub id: &'a str,
    pub held: bool,
    pub reason: &'a str,
    pub at_us: i64,
    pub by_key: &'a str,
}

impl Store {
    pub async fn legal_holds(&self, project: &str) -> Result<Vec<HoldRow>, StoreError> {
        rows(&self.ch.query(HOLDS_IN_FORCE, Params::new().text("project", project)).await?)
    }

    /// Stores a placement or a release.
    pub async fn put_legal_hold(&self, change: &HoldChange<'_>) -> Result<(), StoreError> {
        let params = Params::new()
            .text("project", change.project)
            .text("subject", change.subject.as_str())
            .text("id", change.id)
            .number("held", change.held)
            .text("reason", change.reason)
            .number("at_us", change.at_us)
            .text("by_key", change.by_key);
        self.ch.query(PUT_HOLD, params).await?;
        Ok(())
    }
}
