//! The addresses of the UI's pages: built here and nowhere else. The
//! application core asks for them through `PageLinks` (the API's search
//! results link to decision pages).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but the unreserved characters, `/` included, so the session
/// id `a/steps/0` stays one path segment instead of turning into step 0 of
/// session `a`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes a path segment or a query value.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// The decision ("why") page of one step.
pub fn decision(session_id: &str, step: u64) -> String {
    format!("/sessions/{}/steps/{step}", encode(session_id))
}

/// A session's page (its waterfall whole, its first steps).
pub fn session(session_id: &str) -> String {
    format!("/sessions/{}", encode(session_id))
}

/// A session's page with its waterfall zoomed into [from_us, to_us).
pub fn session_range(session_id: &str, from_us: i64, to_us: i64) -> String {
    format!("/sessions/{}?from={from_us}&to={to_us}", encode(session_id))
}

/// A step's card on its session's page (the page of steps it opens).
pub fn step_card(session_id: &str, step: u64) -> String {
    match step.checked_sub(1) {
        Some(before) => format!("/sessions/{}?after={before}#step-{step}", encode(session_id)),
        None => format!("/sessions/{}#step-0", encode(session_id)),
    }
}

/// The UI's links, for the application core.
pub struct Links;

impl flightlog_app::PageLinks for Links {
    fn decision(&self, session_id: &str, step: u64) -> String {
        decision(session_id, step)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_stay_one_segment() {
        assert_eq!(super::decision("a/steps/0", 3), "/sessions/a%2Fsteps%2F0/steps/3");
        assert_eq!(super::encode("é ~x-_."), "%C3%A9%20~x-_.");
    }
}
