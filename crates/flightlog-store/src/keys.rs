//! API key rows. The secret is never stored: only its SHA-256.

use crate::backend::{Params, StoreError, rows};
use crate::Store;

const ALL_KEYS: &str = "SELECT key_id, lower(hex(key_hash)) AS key_hash, project, scopes, name, \
    toUnixTimestamp64Milli(created_at) AS created_ms, toBool(revoked_at IS NOT NULL) AS revoked FROM api_keys FINAL ORDER BY created_at";

const PUT_KEY: &str = "INSERT INTO api_keys (key_id, key_hash, project, scopes, name, created_at, revoked_at, version) \
    SELECT {key_id:String}, unhex({key_hash:String}), {project:String}, {scopes:Array(String)}, {name:String}, \
    fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC'), if({revoked:Bool}, now64(3), NULL), {version:UInt64}";

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize, PartialEq)]
pub struct KeyRow {
    pub key_id: String,
    /// Hex SHA-256 of the full key.
    pub key_hash: String,
    pub project: String,
    pub scopes: Vec<String>,
    pub name: String,
    pub created_ms: i64,
    pub revoked: bool,
}

impl Store {
    pub async fn all_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        rows(&self.ch.query(ALL_KEYS, Params::new()).await?)
    }

    /// Writes a key row; a later write of the same key_id replaces it
    /// (used for revocation). `version` must grow with each write.
    pub async fn put_key(&self, key: &KeyRow, version: u64) -> Result<(), StoreError> {
        let params = Params::new()
            .text("key_id", &key.key_id)
            .text("key_hash", &key.key_hash)
            .text("project", &key.project)
            .texts("scopes", &key.scopes)
            .text("name", &key.name)
            .number("created_ms", key.created_ms)
            .number("revoked", key.revoked)
            .number("version", version);
        self.ch.query(PUT_KEY, params).await?;
        Ok(())
    }
}
