//! The incidents page (`/incidents`, any signed-in reader): what the
//! detectors found (repeated side effects, loops, bursts, runaways,
//! cascading failures), newest first, by kind, state, session and agent,
//! a cursor page at a time, with how many of each kind above the list.
//! Each incident leads to the decision pages of its first and last step
//! and to the timelines of its sessions.
//!
//! Readers with the admin scope also get each incident's buttons
//! (acknowledge, resolve, reopen): a form POST, checked against forgery
//! like every form, whose answer redirects back to the same list (POST,
//! redirect, GET), so a reload never sends it again.
//!
//! The alert rules that send incidents to webhooks are a page of their
//! own, for admins: [`crate::alert_rules`].

use crate::admin::Admin;
use crate::cookie::Reader;
use crate::links::{self, encode};
use crate::login::render;
use crate::show::short_text_time;
use crate::{WebState, csrf};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use flightlog_app::error::ErrorKind;
use flightlog_app::incidents::{IncidentParams, IncidentQuery, IncidentState, IncidentStep, IncidentView, MAX_PAGE};
use flightlog_app::{AppError, AppState};
use flightlog_model::detect::IncidentKind;

/// Incidents a page lists.
const PAGE: &str = "50";

/// The page and its state form (and the alert rules' pages).
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/incidents", get(page))
        .route("/incidents/{id}/state", post(set_state))
        .merge(crate::alert_rules::routes())
}

/// The filter form's fields, as the browser sends them.
#[derive(Clone, Default, serde::Deserialize)]
pub struct Filters {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    session_id: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    cursor: String,
}

impl Filters {
    fn params(&self, cursor: bool) -> IncidentParams {
        // As given: a session id may start or end with a space.
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        IncidentParams {
            kind: opt(&self.kind),
            session_id: opt(&self.session_id),
            agent: opt(&self.agent),
            state: opt(&self.state),
            cursor: if cursor { opt(&self.cursor) } else { None },
            limit: Some(PAGE.to_string()),
        }
    }

    /// The filters and cursor that are set, for a form to send back so its
    /// answer returns to the same list.
    fn kept(&self) -> Vec<(&'static str, &str)> {
        [("kind", self.kind.as_str()), ("state", &self.state), ("session_id", &self.session_id), ("agent", &self.agent), ("cursor", &self.cursor)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// The filters as query pairs (blanks left out), with `cursor` or none.
    fn query(&self, cursor: Option<&str>) -> String {
        [("kind", self.kind.as_str()), ("state", &self.state), ("session_id", &self.session_id), ("agent", &self.agent)]
            .into_iter()
            .chain(cursor.map(|c| ("cursor", c)))
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A step an incident names, with its decision page.
pub struct StepLink {
    session_id: String,
    step: u64,
    when: String,
    url: String,
}

impl StepLink {
    fn of(s: &IncidentStep) -> Self {
        StepLink { url: links::decision(&s.session_id, s.step), session_id: s.session_id.clone(), step: s.step, when: short_text_time(&s.timestamp) }
    }
}

/// A button that moves an incident to another state.
pub struct Move {
    to: &'static str,
    words: &'static str,
}

pub struct Row {
    id: String,
    /// The anchor of its row (`#incident-…`).
    anchor: String,
    state_url: String,
    kind: &'static str,
    title: &'static str,
    message: String,
    count: u64,
    first: StepLink,
    last: StepLink,
    /// (session id, its timeline).
    sessions: Vec<(String, String)>,
    agent: String,
    tool: String,
    state: &'static str,
    updated: String,
    moves: Vec<Move>,
}

impl Row {
    fn of(i: IncidentView) -> Self {
        Row {
            anchor: format!("incident-{}", i.id),
            state_url: format!("/incidents/{}/state", encode(&i.id)),
            kind: i.kind.as_str(),
            title: i.title,
            count: i.count,
            first: StepLink::of(&i.first),
            last: StepLink::of(&i.last),
            sessions: i.sessions.iter().map(|s| (s.clone(), links::session(s))).collect(),
            state: i.state.as_str(),
            updated: short_text_time(&i.updated),
            moves: moves(i.state),
            id: i.id,
            message: i.message,
            agent: i.agent,
            tool: i.tool,
        }
    }

    /// One step, or the first and last of several.
    fn one_step(&self) -> bool {
        self.first.session_id == self.last.session_id && self.first.step == self.last.step
    }
}

/// What can be done with an incident in a state.
fn moves(state: IncidentState) -> Vec<Move> {
    let acknowledge = Move { to: IncidentState::Acknowledged.as_str(), words: "Acknowledge" };
    let resolve = Move { to: IncidentState::Resolved.as_str(), words: "Resolve" };
    let reopen = Move { to: IncidentState::Open.as_str(), words: "Reopen" };
    match state {
        IncidentState::Open => vec![acknowledge, resolve],
        IncidentState::Acknowledged => vec![resolve, reopen],
        IncidentState::Resolved => vec![reopen],
    }
}

/// How many incidents of one kind match the other filters.
pub struct KindCount {
    name: &'static str,
    title: &'static str,
    count: usize,
    url: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    csrf: String,
    project: String,
    f: Filters,
    /// Readers with the admin scope get the state buttons.
    admin: bool,
    error: Option<String>,
    incidents: Vec<Row>,
    /// Query string of the next page, when there is one.
    next: Option<String>,
    /// Per kind, over the filters but the kind (and the cursor).
    counts: Vec<KindCount>,
    /// The counts read stopped at their limit: there are more.
    counts_capped: bool,
}

impl IncidentsPage {
    fn kinds(&self) -> Vec<(&'static str, &'static str)> {
        IncidentKind::ALL.iter().map(|k| (k.as_str(), k.title())).collect()
    }

    fn states(&self) -> Vec<&'static str> {
        IncidentState::ALL.iter().map(|s| s.as_str()).collect()
    }
}

pub async fn page(State(state): State<AppState>, Reader { principal, csrf, admin }: Reader, Query(f): Query<Filters>) -> Response {
    let project = &principal.project;
    let (listed, counted) = match (f.params(true).query(), Filters { kind: String::new(), ..f.clone() }.params(false).query()) {
        (Ok(q), Ok(all_kinds)) => tokio::join!(state.incidents(project, &q), counts(&state, project, all_kinds)),
        (Err(e), _) | (_, Err(e)) => (Err(e), Ok((Vec::new(), false))),
    };
    let mut page = IncidentsPage {
        csrf,
        project: principal.project.clone(),
        f,
        admin,
        error: None,
        incidents: Vec::new(),
        next: None,
        counts: Vec::new(),
        counts_capped: false,
    };
    match counted {
        Ok((by_kind, capped)) => {
            page.counts = IncidentKind::ALL
                .into_iter()
                .map(|k| KindCount {
                    name: k.as_str(),
                    title: k.title(),
                    count: by_kind.iter().filter(|i| **i == k).count(),
                    url: format!("/incidents?{}", Filters { kind: k.as_str().into(), cursor: String::new(), ..page.f.clone() }.query(None)),
                    current: page.f.kind == k.as_str(),
                })
                .collect();
            page.counts_capped = capped;
        }
        Err(e) => tracing::warn!(error = %e, "incident counts unavailable"),
    }
    match listed {
        Ok(found) => {
            page.next = found.next_cursor.map(|c| page.f.query(Some(&c)));
            page.incidents = found.incidents.into_iter().map(Row::of).collect();
            render(page)
        }
        Err(e) if e.kind() == ErrorKind::Invalid => {
            page.error = Some(e.to_string());
            (StatusCode::BAD_REQUEST, render(page)).into_response()
        }
        Err(e) => crate::trouble(e),
    }
}

/// The kinds of the newest incidents matching `q` (at most a page of the
/// largest size), and whether there were more than that.
async fn counts(state: &AppState, project: &str, q: IncidentQuery) -> Result<(Vec<IncidentKind>, bool), AppError> {
    let found = state.incidents(project, &IncidentQuery { limit: MAX_PAGE, cursor: None, ..q }).await?;
    Ok((found.incidents.iter().map(|i| i.kind).collect(), found.next_cursor.is_some()))
}

/// The state form: the state asked for, and the list it was sent from.
#[derive(Default, serde::Deserialize)]
pub struct StateForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    csrf: String,
    /// The list's filters, to go back to.
    #[serde(flatten)]
    back: Filters,
}

pub async fn set_state(State(state): State<AppState>, admin: Admin, Path(id): Path<String>, Form(form): Form<StateForm>) -> Response {
    if !csrf::same(&admin.csrf, &form.csrf) {
        return csrf::forbidden("This form did not come from your session's incidents page. Reload the page and send it again.");
    }
    let Some(to) = IncidentState::parse(&form.to) else {
        return (StatusCode::BAD_REQUEST, format!("to: must be open, acknowledged or resolved, got {:?}", form.to.chars().take(40).collect::<String>()))
            .into_response();
    };
    let p = &admin.principal;
    match state.set_incident_state(&p.project, &id, to, &p.key_id).await {
        Ok(_) => {
            let back = form.back;
            let query = back.query(Some(&back.cursor));
            let list = if query.is_empty() { "/incidents".to_string() } else { format!("/incidents?{query}") };
            Redirect::to(&format!("{list}#incident-{}", encode(&id))).into_response()
        }
        Err(e) => match e.kind() {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, e.public_message()).into_response(),
            ErrorKind::Invalid => (StatusCode::BAD_REQUEST, e.public_message()).into_response(),
            _ => crate::trouble(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_come_back_as_a_query_without_blanks() {
        // An id comes back as given, spaces and all: " a/b " is not "a/b".
        let f = Filters { kind: "loop".into(), state: String::new(), session_id: " a/b ".into(), agent: String::new(), cursor: "9_inc_1".into() };
        assert_eq!(f.query(None), "kind=loop&session_id=%20a%2Fb%20");
        assert_eq!(f.query(Some(&f.cursor)), "kind=loop&session_id=%20a%2Fb%20&cursor=9_inc_1");
        assert_eq!(Filters::default().query(None), "");
    }

    #[test]
    fn each_state_offers_the_moves_out_of_it() {
        let words = |s| moves(s).iter().map(|m| m.words).collect::<Vec<_>>();
        assert_eq!(words(IncidentState::Open), ["Acknowledge", "Resolve"]);
        assert_eq!(words(IncidentState::Acknowledged), ["Resolve", "Reopen"]);
        assert_eq!(words(IncidentState::Resolved), ["Reopen"]);
    }
}
