//! The sign-in cookie: the API key, hex-encoded (cookie values cannot hold
//! every character a bootstrap key may contain).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use flightlog_api::AppState;
use flightlog_api::auth::{Principal, Scope};

const NAME: &str = "flightlog_key";

/// The signed-in reader of a page: handlers that take it only run for a
/// valid key with the read scope; everyone else is sent to sign in.
pub struct Reader(pub Principal);

impl axum::extract::FromRequestParts<AppState> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Response> {
        let key = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().strip_prefix(NAME).and_then(|rest| rest.strip_prefix('=')))
            .find_map(|hex_key| hex::decode(hex_key).ok().and_then(|b| String::from_utf8(b).ok()));
        let sign_in = || Redirect::to("/login").into_response();
        let key = key.ok_or_else(sign_in)?;
        state.keys.check(&key, Scope::Read).map(Reader).map_err(|_| sign_in())
    }
}

/// HttpOnly, SameSite=Strict, Path=/, 12 hours; Secure when the request
/// came over TLS (as a proxy in front says).
pub fn set(key: &str, headers: &HeaderMap) -> HeaderValue {
    let secure = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let value = format!(
        "{NAME}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200{}",
        hex::encode(key),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).expect("hex and fixed text make a valid header")
}

pub fn clear() -> HeaderValue {
    HeaderValue::from_static("flightlog_key=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}
