//! Cross-site request forgery. A form POST is accepted only when
//!
//! - its `Origin` (or, without one, its `Referer`) names this site, the
//!   request's own `Host`: checked for every POST, in [`same_origin`];
//! - and its hidden `csrf` field holds the token of the form's page. A
//!   signed-in page's token is derived from the session's cookie
//!   ([`for_session`]); the sign-in form, which has no session yet, gets a
//!   short-lived pre-session cookie and a token bound to it ([`SignInForm`]).
//!
//! Another site can neither read our cookies nor our pages, so it cannot
//! know the token a forged form would need.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How long a sign-in form stays usable.
pub const SIGN_IN_FORM_SECS: u64 = 30 * 60;

/// Refuses any POST whose Origin (or Referer) is not this site.
pub async fn same_origin(req: Request, next: Next) -> Response {
    if req.method() != Method::POST || from_this_site(req.headers()) {
        return next.run(req).await;
    }
    tracing::warn!(path = %req.uri().path(), "form POST from another site refused");
    forbidden("This form was not sent from a Flightlog page (its Origin is another site). Open the page again and resend it.")
}

fn from_this_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(host) = text(header::HOST) else { return false };
    // Browsers send Origin with every form POST; Referer covers old ones.
    let Some(source) = text(header::ORIGIN).or_else(|| text(header::REFERER)) else { return false };
    let authority = source.split_once("://").map_or("", |(_, rest)| rest);
    let authority = authority.split(['/', '?', '#']).next().unwrap_or("");
    !authority.is_empty() && authority.eq_ignore_ascii_case(host)
}

pub fn forbidden(message: &str) -> Response {
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message.to_string()).into_response()
}

/// The token of every form on a signed-in page: a hash of the session's
/// cookie, so it needs no storage and survives a restart like the session.
pub fn for_session(session_token: &str) -> String {
    digest(b"flightlog web form", session_token.as_bytes())
}

/// Compares tokens in constant time.
pub fn same(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && expected.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The sign-in form's protection: a pre-session cookie value
/// (`<issued unix seconds>.<random>`) and a token that only Flightlog can
/// derive from it, with a secret derived from the instance's signing key:
/// every replica sharing that key accepts a form another one issued, and
/// open forms survive a restart.
pub struct SignInForm {
    secret: Vec<u8>,
}

impl SignInForm {
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    /// A fresh pre-session cookie value and the form token bound to it.
    pub fn issue(&self) -> (String, String) {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let value = format!("{}.{}", now_secs(), hex::encode(nonce));
        let token = digest(&self.secret, value.as_bytes());
        (value, token)
    }

    /// The form of the browser's own pre-session cookie, when it has more
    /// than half its life left; else a fresh one. Every form a browser
    /// opens meanwhile (tabs sent to sign in at once when a session ends)
    /// then carries the same token: a fresh cookie per form made all but
    /// the last one opened fail.
    pub fn issue_for(&self, cookie_value: Option<&str>) -> (String, String) {
        match cookie_value.filter(|v| self.age(v).is_some_and(|age| age <= SIGN_IN_FORM_SECS / 2)) {
            Some(value) => (value.to_string(), digest(&self.secret, value.as_bytes())),
            None => self.issue(),
        }
    }

    /// Seconds since a cookie value was issued, by its own say (only its
    /// token proves it was issued here, and `issue_for` gives the token of
    /// any value sent): none for a time to come, so that no value chosen to
    /// be issued in the future stays fresh for as long.
    fn age(&self, cookie_value: &str) -> Option<u64> {
        let issued = cookie_value.split_once('.').and_then(|(secs, _)| secs.parse::<u64>().ok())?;
        now_secs().checked_sub(issued)
    }

    /// Whether `token` was issued with this cookie value, recently.
    pub fn check(&self, cookie_value: &str, token: &str) -> bool {
        let fresh = self.age(cookie_value).is_some_and(|age| age <= SIGN_IN_FORM_SECS);
        fresh && same(&digest(&self.secret, cookie_value.as_bytes()), token)
    }
}

fn digest(key: &[u8], value: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update((key.len() as u64).to_be_bytes());
    h.update(key);
    h.update(value);
    hex::encode(h.finalize())
}

fn now_secs() -> u64 {
    (flightlog_model::time::now_us() / 1_000_000).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse::<axum::http::HeaderName>().unwrap(), v.parse::<axum::http::HeaderValue>().unwrap())).collect()
    }

    #[test]
    fn only_this_sites_origin_or_referer_passes() {
        assert!(from_this_site(&headers(&[("host", "fl.example:4318"), ("origin", "http://fl.example:4318")])));
        assert!(from_this_site(&headers(&[("host", "fl.example"), ("referer", "https://FL.example/login?x=1")])));
        assert!(!from_this_site(&headers(&[("host", "fl.example"), ("origin", "https://evil.example")])));
        assert!(!from_this_site(&headers(&[("host", "fl.example"), ("origin", "null")])));
        assert!(!from_this_site(&headers(&[("host", "fl.example"), ("origin", "https://fl.example.evil.example")])));
        assert!(!from_this_site(&headers(&[("host", "fl.example")])), "neither header: refused");
    }

    #[test]
    fn a_sign_in_token_fits_only_its_own_fresh_cookie() {
        let form = SignInForm::new(b"instance key".to_vec());
        let (cookie, token) = form.issue();
        assert!(form.check(&cookie, &token));
        let (other, _) = form.issue();
        assert!(!form.check(&other, &token));
        assert!(SignInForm::new(b"instance key".to_vec()).check(&cookie, &token), "a replica with the same key accepts it");
        assert!(!SignInForm::new(b"another key".to_vec()).check(&cookie, &token), "another instance's secret");
        let stale = format!("{}.{}", now_secs() - SIGN_IN_FORM_SECS - 5, "00");
        assert!(!form.check(&stale, &digest(&form.secret, stale.as_bytes())));
        let future = format!("{}.{}", now_secs() + 3600, "00");
        assert!(!form.check(&future, &digest(&form.secret, future.as_bytes())), "a time to come is not fresh");
    }

    #[test]
    fn forms_opened_in_several_tabs_share_the_browsers_cookie_while_it_is_young() {
        let form = SignInForm::new(b"instance key".to_vec());
        let (cookie, token) = form.issue();
        assert_eq!(form.issue_for(Some(&cookie)), (cookie.clone(), token), "the second tab's form is the first's");
        let old = format!("{}.{}", now_secs() - SIGN_IN_FORM_SECS / 2 - 5, "00");
        assert_ne!(form.issue_for(Some(&old)).0, old, "past half its life: a fresh one");
        let future = format!("{}.{}", now_secs() + 3600, "00");
        assert_ne!(form.issue_for(Some(&future)).0, future, "a time to come is never taken up");
        assert_ne!(form.issue_for(None).0, cookie);
    }
}
