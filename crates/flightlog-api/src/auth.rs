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

/// The key in a request's headers ([`flightlog_app::keys::presented_key`]).
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    flightlog_app::keys::presented_key(text(header::AUTHORIZATION.as_str()), text("x-api-key"))
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
