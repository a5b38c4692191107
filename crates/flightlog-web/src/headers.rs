//! Security headers on every response, set in one place (the server puts
//! this layer outermost, over the web UI, the API and their guards).
//!
//! The Content-Security-Policy allows no inline script or style at all:
//! styles come from `/static/app.css`, the one script (print) from
//! `/static/print.js`, and charts use SVG presentation attributes. So text
//! an agent recorded can never run in a reader's browser, even if a
//! template forgot to escape it.

use axum::http::{HeaderValue, header};
use axum::response::Response;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Pages show agent data: no shared or back-button cache keeps a copy.
    // Static files set their own.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
