//! API keys: generation, the in-memory key ring, and scope checks. How a
//! key arrives (a header, a web session) is the front end's business; this
//! says whether it stands and what it may do.
//!
//! A key is `fl_` + 12 hex characters (its public id) + `_` + 43 random
//! base64url characters (256 bits). Only its SHA-256 is stored. Every
//! request hashes the presented key and looks the hash up in the ring, which
//! mirrors the `api_keys` table and is refreshed whenever a key changes.
//!
//! Scopes: `ingest` (write steps), `read` (read sessions), `admin` (manage
//! keys; implies ingest and read). A key reads and writes only its own
//! project. Admin keys are the operators of the instance: they may create
//! keys for any project, which is how a new project starts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flightlog_store::{KeyRow, Store, StoreError};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Read, Scope::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.name() == s)
    }
}

/// Who is calling: the key's project and scopes.
#[derive(Clone, Debug)]
pub struct Principal {
    pub key_id: String,
    pub project: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }
}

/// Why a key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing API key: send `Authorization: Bearer <key>`")]
    NoKey,
    #[error("unknown or revoked API key")]
    UnknownKey,
    #[error("this key lacks the `{}` scope", .0.name())]
    MissingScope(Scope),
}

pub struct KeyRing {
    store: Store,
    /// Hex SHA-256 of the key → its row. Revoked keys are left out.
    by_hash: RwLock<HashMap<String, KeyRow>>,
}

/// The key a caller presents, whatever the transport (HTTP headers, gRPC
/// metadata): `Authorization: Bearer <key>`; `Authorization: Basic` with the
/// key as the password (what the Langfuse SDK sends: public key as user,
/// secret key as password); else `x-api-key: <key>` (what several agent
/// SDKs send). `authorization` and `x_api_key` are those values as sent.
pub fn presented_key(authorization: Option<&str>, x_api_key: Option<&str>) -> Option<String> {
    if let Some(value) = authorization {
        let (scheme, credentials) = value.trim().split_once(' ')?;
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(credentials.to_string()).filter(|k| !k.is_empty());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD.decode(credentials).ok()?;
            let pair = String::from_utf8(decoded).ok()?;
            let (_user, password) = pair.split_once(':')?;
            return Some(password.to_string()).filter(|k| !k.is_empty());
        }
        return None;
    }
    x_api_key.map(str::trim).filter(|k| !k.is_empty()).map(str::to_string)
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new random key and the row that records it.
pub fn generate_key(project: &str, scopes: &[Scope], name: &str) -> (String, KeyRow) {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let key_id = hex::encode(id);
    let key = format!("fl_{key_id}_{}", URL_SAFE_NO_PAD.encode(secret));
    (key.clone(), row_for(&key, key_id, project, scopes, name))
}

fn row_for(key: &str, key_id: String, project: &str, scopes: &[Scope], name: &str) -> KeyRow {
    let created_ms = flightlog_model::time::now_us() / 1000;
    KeyRow {
        key_id,
        key_hash: hash_key(key),
        project: project.to_string(),
        scopes: scopes.iter().map(|s| s.name().to_string()).collect(),
        name: name.to_string(),
        created_ms,
        revoked: false,
    }
}

impl KeyRing {
    pub async fn load(store: Store) -> Result<Self, StoreError> {
        let ring = Self { store, by_hash: RwLock::new(HashMap::new()) };
        ring.refresh().await?;
        Ok(ring)
    }

    pub async fn refresh(&self) -> Result<(), StoreError> {
        let rows = self.store.all_keys().await?;
        let map = rows.into_iter().filter(|k| !k.revoked).map(|k| (k.key_hash.clone(), k)).collect();
        *self.by_hash.write().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// At first start (no key exists yet), makes `given` or a generated key
    /// an admin key of project `default`. Returns the generated key, which
    /// the caller prints once; `None` when nothing was generated.
    pub async fn bootstrap(&self, given: Option<&str>) -> Result<Option<String>, StoreError> {
        if !self.store.all_keys().await?.is_empty() {
            return Ok(None);
        }
        let (key, row, generated) = match given {
            Some(key) => {
                let id = hash_key(key)[..12].to_string();
                (key.to_string(), row_for(key, id, "default", &[Scope::Admin], "bootstrap"), false)
            }
            None => {
                let (key, row) = generate_key("default", &[Scope::Admin], "bootstrap");
                (key, row, true)
            }
        };
        self.store.put_key(&row, 1).await?;
        self.refresh().await?;
        Ok(generated.then_some(key))
    }

    pub async fn create(&self, project: &str, scopes: &[Scope], name: &str) -> Result<(String, KeyRow), StoreError> {
        let (key, row) = generate_key(project, scopes, name);
        self.store.put_key(&row, 1).await?;
        self.refresh().await?;
        Ok((key, row))
    }

    /// Revokes a key by id; false when no such key exists.
    pub async fn revoke(&self, key_id: &str) -> Result<bool, StoreError> {
        let Some(mut row) = self.store.all_keys().await?.into_iter().find(|k| k.key_id == key_id) else {
            return Ok(false);
        };
        row.revoked = true;
        self.store.put_key(&row, 2).await?;
        self.refresh().await?;
        Ok(true)
    }

    pub async fn list(&self) -> Result<Vec<KeyRow>, StoreError> {
        self.store.all_keys().await
    }

    /// The key with this id, unless it is revoked or unknown: how a web
    /// session, which holds no key, learns that its key still stands.
    pub fn principal_by_id(&self, key_id: &str) -> Option<Principal> {
        let ring = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        ring.values().find(|row| row.key_id == key_id).map(|row| Principal {
            key_id: row.key_id.clone(),
            project: row.project.clone(),
            scopes: row.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        })
    }

    /// Checks a key, however it was presented (header, or the UI's cookie).
    pub fn check(&self, key: &str, scope: Scope) -> Result<Principal, AuthError> {
        let ring = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        let row = ring
            .get(&hash_key(key))
            .ok_or(AuthError::UnknownKey)?;
        let principal = Principal {
            key_id: row.key_id.clone(),
            project: row.project.clone(),
            scopes: row.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        };
        if !principal.allows(scope) {
            return Err(AuthError::MissingScope(scope));
        }
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_unique_and_only_their_hash_is_kept() {
        let (a, row) = generate_key("p", &[Scope::Read], "ci");
        let (b, _) = generate_key("p", &[Scope::Read], "ci");
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("fl_{}_", row.key_id)));
        assert_eq!(row.key_hash, hash_key(&a));
        assert!(!row.key_hash.contains(&a[16..]));
    }

    #[test]
    fn admin_implies_the_other_scopes() {
        let p = Principal { key_id: "k".into(), project: "p".into(), scopes: vec![Scope::Admin] };
        assert!(p.allows(Scope::Read) && p.allows(Scope::Ingest));
        let r = Principal { scopes: vec![Scope::Read], ..p };
        assert!(!r.allows(Scope::Ingest) && !r.allows(Scope::Admin));
    }
}

/// A key to create, as received.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    /// Defaults to the caller's project.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub project: Option<String>,
    /// ingest, read and/or admin.
    #[schema(schema_with = crate::param_schemas::scopes)]
    pub scopes: Vec<String>,
    /// A note for people, at most 256 bytes.
    #[serde(default)]
    pub name: String,
}

impl crate::AppState {
    /// Creates a key (the caller is an admin of `caller_project`); returns
    /// the key, shown once, and its row.
    pub async fn create_key(&self, caller_project: &str, req: NewKey) -> Result<(String, KeyRow), crate::AppError> {
        use crate::AppError;
        let project = req.project.unwrap_or_else(|| caller_project.to_string());
        if project.is_empty() || project.len() > 64 || !project.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(AppError::invalid("project", "must be 1-64 characters of letters, digits, '-', '_' or '.'"));
        }
        if req.scopes.is_empty() {
            return Err(AppError::invalid("scopes", "must list at least one of ingest, read, admin"));
        }
        let scopes = req
            .scopes
            .iter()
            .map(|s| Scope::parse(s).ok_or_else(|| AppError::invalid("scopes", format!("unknown scope {s:?}; use ingest, read or admin"))))
            .collect::<Result<Vec<_>, _>>()?;
        if req.name.len() > 256 {
            return Err(AppError::invalid("name", "is longer than 256 bytes"));
        }
        let (key, row) = self.keys.create(&project, &scopes, &req.name).await?;
        tracing::info!(key_id = %row.key_id, project = %row.project, scopes = ?row.scopes, "API key created");
        Ok((key, row))
    }

    /// Revokes a key by id; `by` is the caller's key id, for the log.
    pub async fn revoke_key(&self, key_id: &str, by: &str) -> Result<(), crate::AppError> {
        if !self.keys.revoke(key_id).await? {
            return Err(crate::AppError::NotFound(format!("no key with id {key_id:?}")));
        }
        tracing::info!(key_id = %key_id, by = %by, "API key revoked");
        Ok(())
    }
}
