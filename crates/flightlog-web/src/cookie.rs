//! The web UI's cookies, and the signed-in reader they stand for.
//!
//! - `flightlog_session`: the token of a web session ([`crate::web_sessions`]),
//!   never an API key.
//! - `flightlog_signin`: the sign-in form's pre-session cookie
//!   ([`crate::csrf::SignInForm`]), scoped to `/login`.
//!
//! Both are HttpOnly (no script reads them), SameSite=Strict (no other site
//! sends them) and Secure when the request came over TLS.

use crate::WebState;
use crate::csrf;
use crate::web_sessions::LIFETIME_MS;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use ::cookie::time::Duration;
use flightlog_app::keys::{Principal, Scope};

pub const SESSION: &str = "flightlog_session";
pub const SIGN_IN: &str = "flightlog_signin";

/// The signed-in reader of a page: handlers that take it only run for a
/// live web session whose API key still stands and has the read scope;
/// everyone else is sent to sign in.
pub struct Reader {
    pub principal: Principal,
    /// The token for the page's forms (sign-out).
    pub csrf: String,
    /// Whether its key has the admin scope: the header's admin links.
    pub admin: bool,
}

impl axum::extract::FromRequestParts<WebState> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let sign_in = || Redirect::to("/login").into_response();
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar.get(SESSION).map(|c| c.value().to_string()).ok_or_else(sign_in)?;
        let session = match state.sessions.find(&token).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(sign_in()),
            Err(e) => {
                tracing::error!(error = %e, "web sessions unavailable");
                return Err(crate::unavailable());
            }
        };
        // The key is checked on every request, so revoking it (or taking
        // its read scope) ends its web sessions at once.
        let principal = state.app.keys.principal_by_id(&session.key_id).filter(|p| p.allows(Scope::Read) && p.project == session.project);
        let Some(principal) = principal else {
            tracing::info!(key_id = %session.key_id, "web session ended: its API key was revoked");
            if let Err(e) = state.sessions.revoke(&token).await {
                tracing::error!(error = %e, "could not record the end of a web session");
            }
            return Err(sign_in());
        };
        let admin = principal.allows(Scope::Admin);
        Ok(Reader { principal, csrf: csrf::for_session(&token), admin })
    }
}

/// Behind a TLS-terminating proxy, as it says.
fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

pub fn session(token: String, headers: &HeaderMap) -> Cookie<'static> {
    Cookie::build((SESSION, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(Duration::milliseconds(LIFETIME_MS))
        .secure(over_tls(headers))
        .build()
}

pub fn sign_in_form(value: String, headers: &HeaderMap) -> Cookie<'static> {
    Cookie::build((SIGN_IN, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/login")
        .max_age(Duration::seconds(csrf::SIGN_IN_FORM_SECS as i64))
        .secure(over_tls(headers))
        .build()
}

/// A cookie that deletes `name` (same path as when it was set).
pub fn removal(name: &'static str, path: &'static str) -> Cookie<'static> {
    Cookie::build(name).http_only(true).same_site(SameSite::Strict).path(path).build()
}
