//! Web UI sign-ins (`web_sessions`). The token itself is never stored:
//! only its SHA-256, with the key it was signed in with and its expiry.

use crate::backend::rows;
use crate::{Params, Store, StoreError};

const LIVE: &str = "SELECT lower(hex(token_hash)) AS token_hash, key_id, project, \
    toUnixTimestamp64Milli(created_at) AS created_ms, toUnixTimestamp64Milli(expires_at) AS expires_ms \
    FROM web_sessions FINAL WHERE revoked_at IS NULL AND expires_at > fromUnixTimestamp64Milli({now_ms:Int64}, 'UTC')";

/// One sign-in, when it is live: for processes that share the table, where
/// another may have signed it in or out. The column is named through the
/// table's alias: bare, `token_hash` would be the hex alias selected. A
/// FINAL read with conditions: without the query condition cache (see
/// docs/scale-out.md, *Server versions*).
const ONE_LIVE: &str = "SELECT lower(hex(token_hash)) AS token_hash, key_id, project, \
    toUnixTimestamp64Milli(created_at) AS created_ms, toUnixTimestamp64Milli(expires_at) AS expires_ms \
    FROM web_sessions AS w FINAL WHERE w.token_hash = unhex({token_hash:String}) \
    AND revoked_at IS NULL AND expires_at > fromUnixTimestamp64Milli({now_ms:Int64}, 'UTC') \
    SETTINGS use_query_condition_cache = 0";

const PUT: &str = "INSERT INTO web_sessions (token_hash, key_id, project, created_at, expires_at, revoked_at, version) \
    SELECT unhex({token_hash:String}), {key_id:String}, {project:String}, \
    fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC'), fromUnixTimestamp64Milli({expires_ms:Int64}, 'UTC'), \
    if({revoked:Bool}, now64(3), NULL), if({revoked:Bool}, 2, 1)";

#[derive(Clone, Debug, serde::Deserialize, PartialEq)]
pub struct WebSessionRow {
    /// Hex SHA-256 of the cookie's token.
    pub token_hash: String,
    pub key_id: String,
    pub project: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

impl Store {
    /// Sign-ins that are neither signed out nor expired at `now_ms`.
    pub async fn live_web_sessions(&self, now_ms: i64) -> Result<Vec<WebSessionRow>, StoreError> {
        rows(&self.ch.query(LIVE, Params::new().number("now_ms", now_ms)).await?)
    }

    /// The sign-in whose token hashes to `token_hash` (hex), if live.
    pub async fn live_web_session(&self, token_hash: &str, now_ms: i64) -> Result<Option<WebSessionRow>, StoreError> {
        let params = Params::new().text("token_hash", token_hash).number("now_ms", now_ms);
        Ok(rows(&self.ch.query(ONE_LIVE, params).await?)?.into_iter().next())
    }

    pub async fn put_web_session(&self, row: &WebSessionRow) -> Result<(), StoreError> {
        self.write(row, false).await
    }

    /// Signs a session out for good: a newer version of its row, which
    /// `live_web_sessions` no longer returns.
    pub async fn revoke_web_session(&self, row: &WebSessionRow) -> Result<(), StoreError> {
        self.write(row, true).await
    }

    async fn write(&self, row: &WebSessionRow, revoked: bool) -> Result<(), StoreError> {
        let params = Params::new()
            .text("token_hash", &row.token_hash)
            .text("key_id", &row.key_id)
            .text("project", &row.project)
            .number("created_ms", row.created_ms)
            .number("expires_ms", row.expires_ms)
            .number("revoked", revoked);
        self.ch.query(PUT, params).await?;
        Ok(())
    }
}
