//! Web sessions: what a signed-in browser's cookie stands for.
//!
//! Signing in creates a random 256-bit token. The browser keeps the token;
//! the `web_sessions` table keeps only its SHA-256, with the API key id,
//! the project and the expiry, so neither the cookie nor the table ever
//! holds an API key. An in-memory map mirrors the table, so a page view
//! costs no query; it is filled from the table the first time it is
//! needed, which is how sessions survive a restart.
//!
//! Processes that share one ClickHouse share the table, and any of them
//! may sign a session in or out: there the map is only trusted for a
//! second, and a token it does not hold is looked up. (Trusted for good,
//! a sign-out on one process left the cookie working on the others, and a
//! sign-in on one was refused by those that had loaded the map before.)

use flightlog_app::keys::{Principal, hash_key};
use flightlog_store::web_sessions::WebSessionRow;
use flightlog_store::{Store, StoreError};
use rand::RngCore;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How long a sign-in lasts: a working day.
pub const LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// How long a process sharing the table trusts what it last read of a
/// session: a sign-out elsewhere takes at most this long to be seen here.
const SHARED_TRUST: Duration = Duration::from_secs(1);

/// At most this many unknown tokens are remembered at once.
const MAX_UNKNOWN: usize = 10_000;

struct Known {
    row: WebSessionRow,
    /// When the table last said so.
    read: Instant,
}

pub struct WebSessions {
    store: Store,
    /// Hex SHA-256 of the token → its row; signed-out sessions are removed.
    live: RwLock<HashMap<String, Known>>,
    loaded: OnceCell<()>,
    /// Whether other processes may write the table too.
    shared: bool,
    /// Tokens the shared table did not hold, and when it said so.
    unknown: std::sync::Mutex<HashMap<String, Instant>>,
}

impl WebSessions {
    pub fn new(store: Store) -> Self {
        let shared = store.backend().remote();
        Self { store, live: RwLock::new(HashMap::new()), loaded: OnceCell::new(), shared, unknown: Default::default() }
    }

    /// Fills the map from the table once. A failed load is retried by the
    /// next request instead of leaving every reader signed out.
    async fn loaded(&self) -> Result<(), StoreError> {
        self.loaded
            .get_or_try_init(|| async {
                let rows = self.store.live_web_sessions(now_ms()).await?;
                tracing::info!(sessions = rows.len(), "web sessions loaded");
                let read = Instant::now();
                self.live.write().unwrap_or_else(|p| p.into_inner()).extend(rows.into_iter().map(|row| (row.token_hash.clone(), Known { row, read })));
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
        live.retain(|_, k| k.row.expires_ms > now);
        live.insert(row.token_hash.clone(), Known { row, read: Instant::now() });
        Ok(token)
    }

    /// The live (signed-in, unexpired) session of this token.
    pub async fn find(&self, token: &str) -> Result<Option<WebSessionRow>, StoreError> {
        self.loaded().await?;
        let key = hash(token);
        let known = self.live.read().unwrap_or_else(|p| p.into_inner()).get(&key).map(|k| (k.row.clone(), k.read));
        let row = match known {
            Some((row, read)) if !self.shared || read.elapsed() < SHARED_TRUST => Some(row),
            _ if !self.shared => None,
            _ => self.read_shared(&key).await?,
        };
        Ok(row.filter(|r| r.expires_ms > now_ms()))
    }

    /// What the shared table says of a session now, kept in the map. A
    /// token the table does not hold is remembered so for a second too:
    /// anyone can send a cookie, and each unknown one was a query.
    async fn read_shared(&self, key: &str) -> Result<Option<WebSessionRow>, StoreError> {
        let known_unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner()).get(key).is_some_and(|at| at.elapsed() < SHARED_TRUST);
        if known_unknown {
            return Ok(None);
        }
        let row = self.store.live_web_session(key, now_ms()).await?;
        match &row {
            Some(row) => {
                self.live.write().unwrap_or_else(|p| p.into_inner()).insert(key.to_string(), Known { row: row.clone(), read: Instant::now() });
            }
            None => {
                self.live.write().unwrap_or_else(|p| p.into_inner()).remove(key);
                let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
                // Bounded: past this many a second, the oldest are let go.
                if unknown.len() >= MAX_UNKNOWN {
                    unknown.clear();
                }
                unknown.insert(key.to_string(), Instant::now());
            }
        }
        Ok(row)
    }

    /// Ends a session for good (sign-out, or its key was revoked). Unknown
    /// tokens are ignored.
    pub async fn revoke(&self, token: &str) -> Result<(), StoreError> {
        self.loaded().await?;
        let key = hash(token);
        let row = self.live.read().unwrap_or_else(|p| p.into_inner()).get(&key).map(|k| k.row.clone());
        // Signed in on another process sharing the table: found there.
        let row = match row {
            None if self.shared => self.store.live_web_session(&key, now_ms()).await?,
            row => row,
        };
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
