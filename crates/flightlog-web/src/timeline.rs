//! The timeline of one session: its steps in order, a page at a time (a
//! 10,000-step session never renders 10,000 heavy rows), each expandable,
//! with a jump to the first failure.

use crate::cookie::Reader;
use crate::login::render;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crate::access_log::unrecorded;
use flightlog_app::AppState;
use flightlog_app::access_log::{Access, FrontEnd};
use flightlog_app::error::ErrorKind;
use crate::show::{pretty, short_text_time, short_time, text};
use crate::waterfall::{self, WaterfallView};
use flightlog_app::waterfall::WaterfallParams;
use serde_json::Value;

const PAGE: u32 = 100;

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
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct Timeline {
    csrf: String,
    /// None when it could not be drawn (the cards still are).
    waterfall: Option<WaterfallView>,
    session_id: String,
    summary: String,
    first_failure: Option<u64>,
    steps: Vec<StepView>,
    previous: Option<String>,
    next: Option<u64>,
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
    Reader { principal, csrf }: Reader,
    Path(id): Path<String>,
    Query(at): Query<Position>,
) -> Response {
    let range = WaterfallParams { from: at.from.clone(), to: at.to.clone() };
    let (session, waterfall) =
        tokio::join!(state.session_page(&principal.project, &id, at.after, PAGE), state.waterfall(&principal.project, &id, &range));
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
    let read = Access::new(&principal, FrontEnd::Web, "GET /sessions/{id}").session(&id).steps(&session.timeline.steps);
    if let Err(e) = state.record_read(read).await {
        return unrecorded(e);
    }
    let (summary, first_failure, next) = (session.summary, session.first_failure, session.timeline.next_after);
    let steps = session
        .timeline
        .steps
        .iter()
        .map(|r| view(serde_json::from_str(&r.raw).unwrap_or(Value::Null), r.step, r.failed, r.key_decision))
        .collect();
    let previous = at.after.map(|a| if a < PAGE as u64 { String::new() } else { format!("?after={}", a - PAGE as u64) });
    render(Timeline {
        csrf,
        waterfall,
        summary: format!(
            "{} steps, {} failed, ${:.4} estimated, {} to {}, agents {}, models {}",
            summary.steps,
            summary.failed_steps,
            summary.estimated_cost,
            short_time(summary.first_us),
            short_time(summary.last_us),
            summary.agents.join(", "),
            summary.models.join(", ")
        ),
        session_id: id,
        first_failure,
        steps,
        previous,
        next,
    })
}

fn view(v: Value, step: u64, failed: bool, key_decision: bool) -> StepView {
    let chosen = text(&v["agent_thoughts"]["chosen_tool"]);
    let (t, m, c) = (&v["tool_execution"], &v["model"], &v["cost"]);
    StepView {
        step,
        time: short_text_time(&text(&v["timestamp"])),
        duration: t["duration_ms"].as_u64().map(|d| format!("{d} ms")).unwrap_or_default(),
        reasoning: text(&v["agent_thoughts"]["reasoning"]),
        alternatives: v["agent_thoughts"]["considered_tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| (text(x), text(x) == chosen))
            .collect(),
        confidence: v["agent_thoughts"]["confidence"].as_f64().map(|x| format!("{:.0}%", x * 100.0)).unwrap_or_default(),
        tool: [text(&t["name"]), chosen.clone()].into_iter().find(|s| !s.is_empty()).unwrap_or_default(),
        params: pretty(&t["params"]),
        result: pretty(&t["result"]),
        status: text(&t["status"]),
        error: text(&t["error"]),
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
    }
}
