//! The timeline of one session: its steps in order, a page at a time (a
//! 10,000-step session never renders 10,000 heavy rows), each expandable,
//! with a jump to the first failure.
//!
//! Above the steps, the incidents the detectors found in the session, each
//! a badge leading to the incidents page. On the steps, what those
//! incidents are made of: a step that repeats an action already done is
//! marked "same action as step 0, 5th time" ([`repeats`]), and the steps
//! of a loop or a burst are highlighted ([`incident_marks`]).
//!
//! [`repeats`]: crate::repeats
//! [`incident_marks`]: crate::incident_marks

use crate::cookie::Reader;
use crate::incident_marks::{self, Span};
use crate::links;
use crate::login::render;
use crate::repeats::{self, Call};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flightlog_app::{AppError, AppState};
use flightlog_app::access_log::{Access, FrontEnd};
use flightlog_app::error::ErrorKind;
use flightlog_app::incidents::{IncidentQuery, IncidentView, MAX_PAGE as MAX_INCIDENTS};
use flightlog_model::canonical::to_canonical_json;
use flightlog_model::time::parse_timestamp;
use flightlog_store::steps::StoredStep;
use crate::redacted::FieldMarks;
use crate::show::{listed, listed_pretty, short_text_time, short_time, text};
use crate::waterfall::{self, WaterfallView};
use flightlog_app::waterfall::WaterfallParams;
use serde_json::Value;

const PAGE: u32 = 100;
/// Steps before the page that its steps are compared with for repeats: a
/// deep page of a 10,000-step session reads this many more, not all.
const REPEAT_LOOKBACK: u32 = 1_000;

pub struct StepView {
    step: u64,
    time: String,
    duration: String,
    reasoning: String,
    alternatives: Vec<(String, bool)>,
    confidence: String,
    tool: String,
    params: String,
    result: String,
    status: String,
    error: String,
    failed: bool,
    tokens: String,
    model: String,
    /// Whether "find similar" applies: a key decision (the stored rule,
    /// schema/0010_key_decision.sql).
    similar: bool,
    /// The redaction tokens Flightlog put into its fields, to mark.
    marks: FieldMarks,
    /// "same action as step 0, 5th time", when it repeats one.
    repeat: Option<String>,
    /// The loops and bursts it is part of: (CSS class, label).
    highlights: Vec<(&'static str, String)>,
}

impl StepView {
    /// The card's classes beyond `card step`.
    fn classes(&self) -> String {
        let mut classes: Vec<&str> = self.highlights.iter().map(|(class, _)| *class).collect();
        if self.failed {
            classes.push("failed");
        }
        if self.repeat.is_some() {
            classes.push("repeated");
        }
        classes.dedup();
        classes.iter().map(|c| format!(" {c}")).collect()
    }
}

/// An incident of the session, as a badge.
pub struct IncidentBadge {
    label: String,
    state: &'static str,
    url: String,
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct Timeline {
    csrf: String,
    /// The header's admin links, for admin keys only (readers got a 403).
    admin: bool,
    /// None when it could not be drawn (the cards still are).
    waterfall: Option<WaterfallView>,
    session_id: String,
    summary: String,
    first_failure: Option<u64>,
    steps: Vec<StepView>,
    previous: Option<String>,
    next: Option<u64>,
    incidents: Vec<IncidentBadge>,
    /// All the session's incidents, on the incidents page.
    incidents_url: String,
    /// Repeats of actions older than the lookback are not marked.
    repeats_from: Option<u64>,
}

#[derive(serde::Deserialize)]
pub struct Position {
    after: Option<u64>,
    /// The waterfall's range (µs); serde's flatten would turn `after` into text.
    from: Option<String>,
    to: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Reader { principal, csrf, admin }: Reader,
    Path(id): Path<String>,
    Query(at): Query<Position>,
) -> Response {
    let range = WaterfallParams { from: at.from.clone(), to: at.to.clone() };
    let project = &principal.project;
    let of_session = IncidentQuery { session: id.clone(), limit: MAX_INCIDENTS, ..Default::default() };
    // The page's read is recorded in the access log as its steps are read.
    let read = Access::new(&principal, FrontEnd::Web, "GET /sessions/{id}");
    let ids = [id.as_str()];
    let (session, waterfall, incidents, earlier, cost) = tokio::join!(
        state.session_page(read, project, &id, at.after, PAGE),
        state.waterfall(project, &id, &range),
        state.incidents(project, &of_session),
        earlier_steps(&state, project, &id, at.after),
        state.costs_of_sessions(project, &ids)
    );
    let waterfall = match waterfall {
        Ok(w) => Some(waterfall::view(&id, &w)),
        Err(e) if e.kind() == ErrorKind::Invalid => return (StatusCode::BAD_REQUEST, e.public_message()).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "waterfall unavailable");
            None
        }
    };
    let session = match session {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return (StatusCode::NOT_FOUND, format!("no session {id:?} in this project")).into_response();
        }
        Err(e) => {
            tracing::warn!(error = %e, "session page unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, e.public_message()).into_response();
        }
    };
    // Without incidents or earlier steps the steps are still shown, unmarked.
    let incidents = incidents.map(|p| p.incidents).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "incidents of a session unavailable");
        Vec::new()
    });
    let (earlier, repeats_from) = earlier.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "steps before a timeline page unavailable");
        (Vec::new(), at.after.map(|a| a + 1))
    });
    let (summary, first_failure, next) = (session.summary, session.first_failure, session.timeline.next_after);
    // The cost computed now from the tokens and prices, beside what the
    // client estimated (the estimate alone where the cost cannot be read).
    let cost = match cost {
        Ok(costs) => {
            let computed = crate::show::session_cost(costs.get(&id).copied().unwrap_or_default());
            format!("{computed} (the client estimated {})", crate::show::usd(summary.estimated_cost))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cost of a session unavailable");
            format!("{} estimated by the client", crate::show::usd(summary.estimated_cost))
        }
    };
    let steps = views(&earlier, &session.timeline.steps, &incident_marks::spans(&id, &incidents));
    let previous = at.after.map(|a| if a < PAGE as u64 { String::new() } else { format!("?after={}", a - PAGE as u64) });
    render(Timeline {
        csrf,
        admin,
        waterfall,
        summary: format!(
            "{} steps, {} failed, {cost}, {} to {}, agents {}, models {}",
            summary.steps,
            summary.failed_steps,
            short_time(summary.first_us),
            short_time(summary.last_us),
            summary.agents.join(", "),
            summary.models.join(", ")
        ),
        first_failure,
        steps,
        previous,
        next,
        incidents_url: format!("/incidents?session_id={}", links::encode(&id)),
        incidents: incidents.iter().map(|i| badge(&id, i)).collect(),
        repeats_from,
        session_id: id,
    })
}

/// Up to [`REPEAT_LOOKBACK`] steps just before the page (none on the
/// first page), and the first step they may go back to when they do not
/// reach the session's start.
async fn earlier_steps(state: &AppState, project: &str, id: &str, after: Option<u64>) -> Result<(Vec<StoredStep>, Option<u64>), AppError> {
    let Some(last) = after else { return Ok((Vec::new(), None)) };
    let from = last.checked_sub(u64::from(REPEAT_LOOKBACK));
    let mut steps = state.timeline(project, id, from, REPEAT_LOOKBACK).await?.steps;
    steps.retain(|s| s.step <= last);
    Ok((steps, from.map(|f| f + 1)))
}

/// The page's steps, each marked with the action it repeats (looked for
/// in `earlier` too) and the loops and bursts it is part of.
fn views(earlier: &[StoredStep], page: &[StoredStep], spans: &[Span]) -> Vec<StepView> {
    let parsed = |r: &StoredStep| flightlog_model::stored::read_step_json(&r.raw).unwrap_or(Value::Null);
    let earlier_actions: Vec<(String, String)> = earlier.iter().map(|r| action(&parsed(r))).collect();
    let page_values: Vec<Value> = page.iter().map(parsed).collect();
    let page_actions: Vec<(String, String)> = page_values.iter().map(action).collect();
    let calls: Vec<Call> = earlier
        .iter()
        .zip(&earlier_actions)
        .chain(page.iter().zip(&page_actions))
        .map(|(r, (tool, params))| Call { step: r.step, tool, params, succeeded: !r.failed })
        .collect();
    let found = repeats::repeats(&calls);
    let on_page = &found[earlier.len()..];
    page.iter()
        .zip(page_values)
        .zip(on_page)
        .zip(&page_actions)
        .map(|(((r, v), repeat), (tool, _))| {
            let at_us = parse_timestamp(&text(&v["timestamp"])).ok();
            let highlights = incident_marks::marks_of(spans, r.step, at_us, tool).into_iter().map(|s| (s.class(), s.label.clone())).collect();
            StepView { repeat: repeat.map(|r| r.label()), highlights, ..view(v, r.step, r.failed, r.key_decision) }
        })
        .collect()
}

/// A step's action as the detectors see it: the tool run and its
/// parameters in their stored, canonical form (the step's `raw` is
/// canonical JSON already; written out again the same way, the
/// parameters read as `tool_params` does).
fn action(v: &Value) -> (String, String) {
    let t = &v["tool_execution"];
    let params = if t["params"].is_null() { String::new() } else { to_canonical_json(&t["params"]) };
    (text(&t["name"]), params)
}

fn badge(session_id: &str, i: &IncidentView) -> IncidentBadge {
    IncidentBadge {
        label: format!("{} ×{}", i.title, i.count),
        state: i.state.as_str(),
        url: format!("/incidents?session_id={}#incident-{}", links::encode(session_id), links::encode(&i.id)),
    }
}

fn view(v: Value, step: u64, failed: bool, key_decision: bool) -> StepView {
    let chosen = text(&v["agent_thoughts"]["chosen_tool"]);
    let (t, m, c) = (&v["tool_execution"], &v["model"], &v["cost"]);
    StepView {
        step,
        time: short_text_time(&text(&v["timestamp"])),
        duration: t["duration_ms"].as_u64().map(|d| format!("{d} ms")).unwrap_or_default(),
        reasoning: listed(text(&v["agent_thoughts"]["reasoning"])),
        alternatives: v["agent_thoughts"]["considered_tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| (text(x), text(x) == chosen))
            .collect(),
        confidence: v["agent_thoughts"]["confidence"].as_f64().map(|x| format!("{:.0}%", x * 100.0)).unwrap_or_default(),
        tool: [text(&t["name"]), chosen.clone()].into_iter().find(|s| !s.is_empty()).unwrap_or_default(),
        params: listed_pretty(&t["params"]),
        result: listed_pretty(&t["result"]),
        status: text(&t["status"]),
        error: listed(text(&t["error"])),
        failed,
        tokens: format!(
            "{} in / {} out{}",
            c["input_tokens"].as_u64().unwrap_or(0),
            c["output_tokens"].as_u64().unwrap_or(0),
            c["estimated_cost"].as_f64().map_or(String::new(), |x| format!(", ${x}"))
        ),
        model: [text(&m["name"]), text(&m["version"])]
            .into_iter()
            .filter(|s| !s.is_empty())
            .chain(m["temperature"].as_f64().map(|x| format!("temperature {x}")))
            .chain(m["seed"].as_i64().map(|x| format!("seed {x}")))
            .collect::<Vec<_>>()
            .join(", "),
        similar: key_decision,
        marks: FieldMarks::of(&v),
        repeat: None,
        highlights: Vec::new(),
    }
}
