//! The access log: every read of step content (a timeline, a decision, an
//! export, an evidence bundle, search hits), through any front end, is
//! recorded with who (the key), when, what (the session or the filter) and
//! through what (front end and route), so an admin can answer "who looked
//! at this customer's data?".
//!
//! Fail closed: a front end calls [`AppState::record_read`] after it has
//! read the content and before it answers, and answers nothing but an
//! error (unavailable) when the record cannot be written. A session's
//! timeline (`AppState::timeline_recorded`, `AppState::session_page`)
//! writes its record once the page's rows are read, while their content stored by reference is put
//! back, and answers only once both are done: a page whose content then
//! fails to come back is listed all the same, as a read attempted. That is the one
//! way in: it passes what a read asked for (its filter: search text, export
//! parameters) through the project's redactor before it is stored, so the
//! log keeps no personal data that redaction, retention and erasure would
//! not reach.
//!
//! Reads are group committed: one task takes every read queued while the
//! previous insert ran and writes them in one insert, and each read waits
//! until its record is durable.
//!
//! Reading the log is not a content read (it holds ids and filters, never
//! step content), and nothing here updates or deletes it.

use crate::keys::Principal;
use crate::search::Similar;
use crate::{AppError, AppState, params};
use flightlog_redact::Redactor;
use flightlog_store::{AccessFilter, AccessRow, Store, StoredStep};
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// The most reads listed on one page.
pub const MAX_PAGE: u32 = 1000;
/// Reads queued for the recorder at most; a read beyond waits its turn.
const QUEUE_DEPTH: usize = 4096;
/// Reads written by one insert at most.
const MAX_GROUP: usize = 1000;
/// A recorded filter is clipped to this many characters.
const MAX_FILTER_CHARS: usize = 2048;
/// What a reader is told when its read could not be recorded.
const NOT_RECORDED: &str = "the read could not be recorded in the access log, so its content is withheld";

/// The front end a read came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FrontEnd {
    /// The HTTP API (`/v1/…`).
    Api,
    /// The web UI's pages and downloads.
    Web,
    /// The MCP server's tools.
    Mcp,
}

impl FrontEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Web => "web",
            Self::Mcp => "mcp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Api, Self::Web, Self::Mcp].into_iter().find(|f| f.as_str() == s)
    }
}

/// One read of step content, as a front end reports it. Built with
/// [`Access::new`] and the methods that say what was read.
#[derive(Clone, Debug)]
pub struct Access {
    row: AccessRow,
    /// What a read spanning sessions asked for, not yet redacted: it
    /// becomes `row.filter` (and `row.user_id`) only in [`Access::into_row`].
    asked: Option<Value>,
}

impl Access {
    /// A read by `reader` through `front_end` at `route` (the route
    /// template, or the MCP tool's name).
    pub fn new(reader: &Principal, front_end: FrontEnd, route: &'static str) -> Self {
        let row = AccessRow {
            project: reader.project.clone(),
            key_id: reader.key_id.clone(),
            front_end: front_end.as_str().to_string(),
            route: route.to_string(),
            ..AccessRow::default()
        };
        Self { row, asked: None }
    }

    /// The one session read.
    pub fn session(mut self, session_id: &str) -> Self {
        self.row.session_id = session_id.to_string();
        self.also_session(session_id)
    }

    /// Steps that were returned: their count, and the users they are of.
    pub fn steps<'a>(self, steps: impl IntoIterator<Item = &'a StoredStep>) -> Self {
        self.returned(steps.into_iter().map(|s| s.user_id.as_str()))
    }

    /// Steps were returned, of these users: one per step, in order (an
    /// empty one is no user).
    pub fn returned<'a>(mut self, users: impl IntoIterator<Item = &'a str>) -> Self {
        for user in users {
            self.row.items += 1;
            self.user(user);
        }
        self
    }

    /// Users whose data was returned, however many items it was.
    fn of_users<'a>(mut self, users: impl IntoIterator<Item = &'a String>) -> Self {
        for user in users {
            self.user(user);
        }
        self
    }

    /// A user whose data was returned (once; an empty one is no user).
    fn user(&mut self, user: &str) {
        if !user.is_empty() && !self.row.user_ids.iter().any(|u| u == user) {
            self.row.user_ids.push(user.to_string());
        }
    }

    /// A whole session's steps were returned (`steps` of them, of these
    /// users), as an evidence bundle does.
    pub fn whole_session(mut self, steps: u64, users: &[String]) -> Self {
        self.row.items = steps;
        self.of_users(users)
    }

    /// Another session whose content was returned (a search hit's).
    pub fn also_session(mut self, session_id: &str) -> Self {
        if !self.row.sessions.iter().any(|s| s == session_id) {
            self.row.sessions.push(session_id.to_string());
        }
        self
    }

    /// How many items were returned, when not steps.
    pub fn items(mut self, n: usize) -> Self {
        self.row.items = n as u64;
        self
    }

    /// A search's answer: the decision searched from and every hit carry
    /// content (the embedded text, snippets) of their sessions.
    pub fn found(self, found: &Similar) -> Self {
        let sessions = found.origin.iter().map(|o| &o.session_id).chain(found.hits.iter().map(|h| &h.session_id));
        sessions.fold(self, |a, s| a.also_session(s)).items(found.hits.len()).of_users(&found.users)
    }

    /// What a read spanning sessions asked for, as JSON (absent fields
    /// left out); the user filter among it, if any, is also kept apart.
    /// It is stored redacted (see [`AppState::record_read`]).
    pub fn filter(mut self, asked: &impl Serialize) -> Self {
        let mut v = serde_json::to_value(asked).unwrap_or_default();
        if let Some(fields) = v.as_object_mut() {
            fields.retain(|_, x| !x.is_null());
        }
        self.asked = Some(v);
        self
    }

    /// A read of the project's steps by time (an export): it names no
    /// session, so it answers for every one.
    pub fn whole_project(mut self) -> Self {
        self.row.whole_project = true;
        self
    }

    /// The row to store: the filter redacted by `redactor` (the project's;
    /// None when its policy redacts nothing), then clipped, so a value cut
    /// by the clip was already replaced whole.
    fn into_row(self, redactor: Option<&Redactor>) -> AccessRow {
        let Self { mut row, asked } = self;
        if let Some(mut v) = asked {
            if let Some(r) = redactor {
                r.redact(&mut v);
            }
            if let Some(user) = v.get("user").or_else(|| v.get("user_id")).and_then(Value::as_str) {
                row.user_id = user.to_string();
            }
            row.filter = flightlog_model::validate::clip_chars(&v.to_string(), MAX_FILTER_CHARS);
        }
        row
    }
}

struct Pending {
    row: AccessRow,
    done: oneshot::Sender<Result<(), String>>,
}

/// The recorder: a handle on the task that writes reads.
pub struct AccessLog {
    tx: mpsc::Sender<Pending>,
}

impl AccessLog {
    /// Starts the recording task (needs a Tokio runtime); it stops when the
    /// last handle is dropped, after writing what is queued.
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Stores a read (already redacted: front ends go through
    /// [`AppState::record_read`]); returns once the record is durable.
    async fn record(&self, mut row: AccessRow) -> Result<(), AppError> {
        row.at_us = flightlog_model::time::now_us();
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        row.read_id = hex::encode(id);
        let (done, answer) = oneshot::channel();
        self.tx.send(Pending { row, done }).await.map_err(|_| AppError::unavailable(NOT_RECORDED, "the recorder has stopped"))?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AppError::unavailable(NOT_RECORDED, e)),
            Err(_) => Err(AppError::unavailable(NOT_RECORDED, "the recorder has stopped")),
        }
    }
}

/// Takes the reads queued, up to [`MAX_GROUP`], writes them in one insert
/// and answers each; reads that arrive meanwhile form the next group.
async fn run(store: Store, mut rx: mpsc::Receiver<Pending>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (rows, waiting): (Vec<AccessRow>, Vec<_>) = group.drain(..).map(|p| (p.row, p.done)).unzip();
        let result = store.record_access(&rows).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, reads = rows.len(), "the access log could not be written; those reads are refused");
        }
        for done in waiting {
            let _ = done.send(result.clone());
        }
    }
}

/// The access log's filters and page as received (query string or form).
#[derive(Debug, Default, Clone, serde::Deserialize, serde::Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogParams {
    /// Reads of this session (and reads of the whole project by time).
    pub session_id: Option<String>,
    /// Reads of this user's steps, or filtered by this user (and reads of
    /// the whole project by time).
    pub user_id: Option<String>,
    /// Reads by this key.
    pub key_id: Option<String>,
    /// Reads at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Reads before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// Reads per page (default 100).
    #[param(schema_with = crate::param_schemas::access_log_page_size)]
    pub limit: Option<String>,
}

impl AccessLogParams {
    /// The one reading of the parameters, for every front end.
    pub fn filter(&self) -> Result<AccessFilter, AppError> {
        let (from_us, to_us) = params::time_range(params::non_empty(&self.from), params::non_empty(&self.to))?;
        Ok(AccessFilter {
            session_id: params::filter_id("session_id", "session's id", &self.session_id)?,
            user_id: params::filter_id("user_id", "user's id", &self.user_id)?,
            key_id: params::filter_id("key_id", "key's id", &self.key_id)?,
            from_us: from_us.unwrap_or(0),
            to_us: to_us.unwrap_or(i64::MAX),
            before: params::non_empty(&self.cursor).map(decode_cursor).transpose()?,
            limit: params::page_size(params::non_empty(&self.limit), 100, MAX_PAGE)?,
        })
    }
}

/// `<at_us>_<read_id>` of the last read of a page.
fn decode_cursor(s: &str) -> Result<(i64, String), AppError> {
    let bad = || AppError::invalid("cursor", "is not a next_cursor this server gave");
    let (at, id) = s.split_once('_').ok_or_else(bad)?;
    let at: i64 = at.parse().map_err(|_| bad())?;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((at, id.to_string()))
}

/// One page of the access log.
pub struct AccessPage {
    pub reads: Vec<AccessRow>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl AppState {
    /// Records a read of step content; returns once the record is durable.
    /// The caller must not answer with the content when this fails. What
    /// the read asked for is first redacted under the project's policy; a
    /// read that asked for something is refused when the policy cannot be
    /// read (storing it unredacted is never the fallback).
    pub async fn record_read(&self, access: Access) -> Result<(), AppError> {
        let redactor = match access.asked {
            Some(_) => self.redactor(&access.row.project).await?,
            None => None,
        };
        self.access.record(access.into_row(redactor.as_deref())).await
    }

    /// One page of the project's reads, newest first. The caller must hold
    /// the admin scope: the front end checks it.
    pub async fn access_log(&self, project: &str, filter: &AccessFilter) -> Result<AccessPage, AppError> {
        let reads = self.store.access_log(project, filter).await?;
        let next_cursor = (reads.len() as u32 == filter.limit).then(|| reads.last().map(|r| format!("{}_{}", r.at_us, r.read_id))).flatten();
        Ok(AccessPage { reads, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Scope;

    fn reader() -> Principal {
        Principal { key_id: "k1".into(), project: "p".into(), scopes: vec![Scope::Read] }
    }

    fn stored(user: &str) -> StoredStep {
        let raw = format!(r#"{{"session_id":"s","step":0,"user_id":"{user}"}}"#);
        let user_id = user.to_string();
        StoredStep { step: 0, log_index: 0, step_hash: String::new(), received_us: 0, failed: false, key_decision: false, user_id, raw }
    }

    #[test]
    fn a_session_read_names_its_session_and_the_users_of_its_steps() {
        let steps = [stored("u1"), stored("u2"), stored("u1")];
        let a = Access::new(&reader(), FrontEnd::Web, "GET /sessions/{id}").session("s").steps(&steps).into_row(None);
        assert_eq!((a.key_id.as_str(), a.project.as_str(), a.front_end.as_str()), ("k1", "p", "web"));
        assert_eq!((a.session_id.as_str(), a.sessions.as_slice()), ("s", ["s".to_string()].as_slice()));
        assert_eq!((a.items, a.user_ids), (3, vec!["u1".to_string(), "u2".to_string()]));
    }

    #[test]
    fn a_read_spanning_sessions_keeps_its_filter_without_empty_fields() {
        let asked = serde_json::json!({"q": "refund", "agent": null, "user": "u9"});
        let a = Access::new(&reader(), FrontEnd::Api, "GET /v1/search/similar").filter(&asked).also_session("a").also_session("a").into_row(None);
        assert_eq!(a.filter, r#"{"q":"refund","user":"u9"}"#);
        assert_eq!((a.user_id.as_str(), a.session_id.as_str(), a.sessions.len()), ("u9", "", 1));
    }

    #[test]
    fn a_filter_is_stored_redacted_whole_before_it_is_clipped() {
        let redactor = Redactor::new(&flightlog_redact::Policy::default()).unwrap();
        let asked = serde_json::json!({"q": "refund for jane.doe@example.com", "user": "jane.doe@example.com"});
        let a = Access::new(&reader(), FrontEnd::Web, "GET /search").filter(&asked).into_row(Some(&redactor));
        assert!(!a.filter.contains("jane.doe") && a.filter.contains("refund for [EMAIL"), "{}", a.filter);
        assert!(a.user_id.starts_with("[EMAIL"), "the user filter is kept apart redacted: {}", a.user_id);
        // An address the clip would cut in two is replaced whole first.
        let long = format!("{} jane.doe@example.com and more", "x".repeat(MAX_FILTER_CHARS - 20));
        let a = Access::new(&reader(), FrontEnd::Web, "GET /search").filter(&serde_json::json!({"q": long})).into_row(Some(&redactor));
        assert!(!a.filter.contains("jane.doe") && a.filter.contains(" [EMAIL") && a.filter.ends_with("…"), "{}", a.filter);
        let unfiltered = Access::new(&reader(), FrontEnd::Web, "GET /sessions/{id}").session("s").into_row(Some(&redactor));
        assert_eq!((unfiltered.filter.as_str(), unfiltered.user_id.as_str()), ("", ""));
    }

    #[test]
    fn params_are_checked_field_by_field() {
        let p = |f: fn(&mut AccessLogParams)| {
            let mut p = AccessLogParams::default();
            f(&mut p);
            p.filter()
        };
        let field = |r: Result<AccessFilter, AppError>| match r {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(field(p(|p| p.limit = Some("0".into()))), "limit");
        assert_eq!(field(p(|p| p.limit = Some("1001".into()))), "limit");
        assert_eq!(field(p(|p| p.cursor = Some("12_not-hex".into()))), "cursor");
        assert_eq!(field(p(|p| p.from = Some("yesterday".into()))), "from");
        assert_eq!(field(p(|p| p.session_id = Some("x".repeat(flightlog_model::Limits::default().max_id_bytes + 1)))), "session_id");
        assert!(p(|p| p.key_id = Some("x".repeat(flightlog_model::Limits::default().max_id_bytes))).is_ok());
        let ok = p(|p| p.cursor = Some("1700000000000000_ab12".into())).unwrap();
        assert_eq!((ok.before, ok.limit, ok.to_us), (Some((1_700_000_000_000_000, "ab12".into())), 100, i64::MAX));
    }

    #[test]
    fn front_ends_have_one_name_each() {
        for f in [FrontEnd::Api, FrontEnd::Web, FrontEnd::Mcp] {
            assert_eq!(FrontEnd::parse(f.as_str()), Some(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
    }
}
