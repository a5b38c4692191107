//! Who is calling: the key a request presents, checked against the key
//! ring of the application core (`flightlog_app::keys`).

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode, header};
pub use flightlog_app::keys::{AuthError, KeyRing, Principal, Scope, hash_key};

/// Checks a request's key and that it carries a scope.
pub trait Authorize {
    fn authorize(&self, headers: &HeaderMap, scope: Scope) -> Result<Principal, ApiError>;
}

impl Authorize for KeyRing {
    fn authorize(&self, headers: &HeaderMap, scope: Scope) -> Result<Principal, ApiError> {
        let key = presented_key(headers).ok_or(AuthError::NoKey)?;
        Ok(self.check(&key, scope)?)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::NoKey | AuthError::UnknownKey => StatusCode::UNAUTHORIZED,
            AuthError::MissingScope(_) => StatusCode::FORBIDDEN,
        };
        let code = if status == StatusCode::FORBIDDEN { "forbidden" } else { "unauthorized" };
        ApiError::new(status, code, e.to_string())
    }
}

/// `Authorization: Bearer <key>`, `x-api-key: <key>` (what several agent
/// SDKs send), or `Authorization: Basic` with the key as the password (what
/// the Langfuse SDK sends: public key as user, secret key as password).
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
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
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_x_api_key_and_basic_headers_are_read() {
        let key = |name: &str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
            presented_key(&h)
        };
        assert_eq!(key("authorization", "Bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(key("x-api-key", "xyz").as_deref(), Some("xyz"));
        // base64("pk-lf-1:fl_secret") : the password is the key.
        assert_eq!(key("authorization", "Basic cGstbGYtMTpmbF9zZWNyZXQ=").as_deref(), Some("fl_secret"));
        assert_eq!(key("authorization", "Basic not-base64!").as_deref(), None);
        assert_eq!(key("authorization", "Basic dXNlcg==").as_deref(), None, "no password");
        assert_eq!(key("authorization", "Digest abc").as_deref(), None);
    }
}
