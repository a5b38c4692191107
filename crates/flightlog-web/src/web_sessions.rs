//! Web sessions: what a signed-in browser's cookie stands for.
//!
//! Signing in creates a random 256-bit token. The browser keeps the token;
//! the `web_sessions` table keeps only its SHA-256, with the API key id,
//! the project and the expiry, so neither the cookie nor the table ever
//! holds an API key. An in-memory map mirrors the table, so a page view
//! costs no query; it is filled from the table the first time it is
//! needed, which is how sessions survive a restart.

use flightlog_app::keys::{Principal, hash_key};
use flightlog_store::web_sessions::WebSessionRow;
use flightlog_store::{Store, StoreError};
use rand::RngCore;
use std::collections::HashMap;
use std::sync::RwLock;
use tokio::sync::OnceCell;

/// How long a sign-in lasts: a working day.
pub const LIFETIME_MS: i64 = 12 * 3600 * 1000;

pub struct WebSessions {
    store: Store,
    /// Hex SHA-256 of the token → its row; signed-out sessions are removed.
    live: RwLock<HashMap<String, WebSessionRow>>,
    loaded: OnceCell<()>,
}

impl WebSessions {
    pub fn new(store: Store) -> Self {
        Self { store, live: RwLock::new(HashMap::new()), loaded: OnceCell::new() }
    }

    /// Fills the map from the table once. A failed load is retried by the
    /// next request instead of leaving every reader signed out.
    async fn loaded(&self) -> Result<(), StoreError> {
        self.loaded
            .get_or_try_init(|| async {
                let rows = self.store.live_web_sessions(now_ms()).await?;
                tracing::info!(sessions = rows.len(), "web sessions loaded");
                self.live.write().unwrap_or_else(|p| p.into_inner()).extend(rows.into_iter().map(|r| (r.token_hash.clone(), r)));
                Ok::<(), StoreError>(())
            })
            .await
            .map(|_| ())
    }

    /// Signs `principal` in; returns the token for the cookie. The row is
    /// written before the session is usable, so a restart never forgets it.
    pub async fn create(&self, principal: &Principal) -> Result<String, StoreError> {
        self.loaded().await?;
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = hex::encode(secret);
        let now = now_ms();
        let row = WebSessionRow {
            token_hash: hash(&token),
            key_id: principal.key_id.clone(),
            project: principal.project.clone(),
            created_ms: now,
            expires_ms: now + LIFETIME_MS,
        };
        self.store.put_web_session(&row).await?;
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        // Expired sessions are never used again: drop them here rather than
        // let the map grow for as long as the server runs.
        live.retain(|_, r| r.expires_ms > now);
        live.insert(row.token_hash.clone(), row);
        Ok(token)
    }

    /// The live (signed-in, unexpired) session of this token.
    pub async fn find(&self, token: &str) -> Result<Option<WebSessionRow>, StoreError> {
        self.loaded().await?;
        let row = self.live.read().unwrap_or_else(|p| p.into_inner()).get(&hash(token)).cloned();
        Ok(row.filter(|r| r.expires_ms > now_ms()))
    }

    /// Ends a session for good (sign-out, or its key was revoked). Unknown
    /// tokens are ignored.
    pub async fn revoke(&self, token: &str) -> Result<(), StoreError> {
        self.loaded().await?;
        let key = hash(token);
        let row = self.live.read().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        let Some(row) = row else { return Ok(()) };
        // Stored first: if that fails the session stays live (and the
        // sign-out can be retried), rather than live again after a restart.
        self.store.revoke_web_session(&row).await?;
        self.live.write().unwrap_or_else(|p| p.into_inner()).remove(&key);
        Ok(())
    }
}

/// Tokens are stored and looked up as API keys are: by their hex SHA-256.
fn hash(token: &str) -> String {
    hash_key(token)
}

fn now_ms() -> i64 {
    flightlog_model::time::now_us() / 1000
}
