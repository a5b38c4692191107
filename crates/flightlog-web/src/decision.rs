//! The decision ("why") page: one step as evidence for a compliance
//! officer. The goal of the session, the steps that led here, the
//! reasoning, the alternatives against the choice, the inputs, the result,
//! the exact model settings, and whether the record is proven unaltered.

use crate::cookie::Reader;
use crate::login::render;
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use crate::access_log::unrecorded;
use flightlog_app::AppState;
use flightlog_app::access_log::{Access, FrontEnd};
use flightlog_app::keys::Scope;
use flightlog_model::time::format_timestamp;
use flightlog_app::decisions::Explanation;
use flightlog_app::error::ErrorKind;
use flightlog_integrity::verify;
use crate::redacted::{FieldMarks, Recorded};
use crate::show::{pretty, text};
use serde_json::Value;

pub struct Earlier {
    step: u64,
    tool: String,
    status: String,
    failed: bool,
    reasoning: String,
    marks: Recorded,
}

pub struct Alternative {
    name: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "decision.html")]
struct Decision {
    csrf: String,
    /// The header's admin links, for admin keys only (readers got a 403).
    admin: bool,
    session_id: String,
    step: u64,
    timestamp: String,
    agent: String,
    goal: String,
    goal_marks: Recorded,
    earlier: Vec<Earlier>,
    reasoning: String,
    alternatives: Vec<Alternative>,
    confidence: String,
    tool: String,
    params: String,
    result: String,
    status: String,
    error: String,
    failed: bool,
    model: Vec<(&'static str, String)>,
    tokens: String,
    step_hash: String,
    /// verified, intact_not_yet_sealed, failed.
    integrity: verify::ReportStatus,
    integrity_detail: String,
    problems: Vec<String>,
    erased: Vec<String>,
    /// What redaction replaced in this step at ingestion (where, what kind).
    redacted: Vec<crate::redacted::Listed>,
    /// The tokens it put into each field shown.
    marks: FieldMarks,
}

pub async fn page(State(state): State<AppState>, Reader { principal, csrf, admin }: Reader, Path((id, n)): Path<(String, u64)>) -> Response {
    let explained = match state.explain(&principal.project, &id, n).await {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return (StatusCode::NOT_FOUND, e.to_string()).into_response(),
        Err(_) => return unavailable(),
    };
    let read = Access::new(&principal, FrontEnd::Web, "GET /sessions/{id}/steps/{step}").session(&id);
    if let Err(e) = state.record_read(read.steps(explained.returned())).await {
        return unrecorded(e);
    }
    let Explanation { step: this, earlier, goal, goal_pointer, goal_step, report } = explained;
    let v: Value = flightlog_model::stored::read_step_json(&this.raw).unwrap_or(Value::Null);
    // The goal comes from the session's first step: the lowest numbered of
    // those read.
    let first = goal_step.iter().chain(&earlier).chain([&this]).min_by_key(|s| s.step);
    let goal_marks = first.map_or_else(Recorded::default, |f| {
        Recorded::under(&flightlog_model::stored::read_step_json(&f.raw).unwrap_or(Value::Null), &goal_pointer)
    });
    let chosen = text(&v["agent_thoughts"]["chosen_tool"]);
    let mut alternatives: Vec<Alternative> = v["agent_thoughts"]["considered_tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Alternative { chosen: text(t) == chosen, name: text(t) })
        .collect();
    if !chosen.is_empty() && !alternatives.iter().any(|a| a.chosen) {
        alternatives.push(Alternative { name: chosen.clone(), chosen: true });
    }
    let m = &v["model"];
    let model = [("provider", &m["provider"]), ("model", &m["name"]), ("version", &m["version"]), ("seed", &m["seed"]),
                 ("temperature", &m["temperature"]), ("top_p", &m["top_p"]), ("max tokens", &m["max_tokens"])]
        .into_iter()
        .map(|(k, x)| (k, if x.is_null() { "not recorded".to_string() } else { text(x) }))
        .collect();
    let c = &v["cost"];
    let (integrity, integrity_detail, problems, erased) = integrity_of(report.as_ref(), n);

    let page = Decision {
        session_id: id.clone(),
        step: n,
        timestamp: text(&v["timestamp"]),
        agent: [text(&v["agent"]["name"]), text(&v["agent"]["version"])].join(" ").trim().to_string(),
        goal,
        goal_marks,
        earlier: earlier
            .into_iter()
            .map(|s| {
                let e: Value = flightlog_model::stored::read_step_json(&s.raw).unwrap_or(Value::Null);
                let tool = [text(&e["tool_execution"]["name"]), text(&e["agent_thoughts"]["chosen_tool"])]
                    .into_iter()
                    .find(|t| !t.is_empty())
                    .unwrap_or_default();
                Earlier {
                    step: s.step,
                    tool,
                    status: text(&e["tool_execution"]["status"]),
                    failed: s.failed,
                    reasoning: flightlog_model::validate::clip_chars(&text(&e["agent_thoughts"]["reasoning"]), 160),
                    marks: Recorded::under(&e, "/agent_thoughts/reasoning"),
                }
            })
            .collect(),
        redacted: crate::redacted::listed(&v),
        marks: FieldMarks::of(&v),
        reasoning: text(&v["agent_thoughts"]["reasoning"]),
        alternatives,
        confidence: v["agent_thoughts"]["confidence"].as_f64().map(|c| format!("{:.0}%", c * 100.0)).unwrap_or_default(),
        tool: text(&v["tool_execution"]["name"]),
        params: pretty(&v["tool_execution"]["params"]),
        result: pretty(&v["tool_execution"]["result"]),
        status: text(&v["tool_execution"]["status"]),
        error: text(&v["tool_execution"]["error"]),
        failed: this.failed,
        model,
        tokens: format!(
            "{} in ({} cached), {} out, {} reasoning; client estimate {}",
            c["input_tokens"].as_u64().unwrap_or(0),
            c["cache_read_tokens"].as_u64().unwrap_or(0),
            c["output_tokens"].as_u64().unwrap_or(0),
            c["reasoning_tokens"].as_u64().unwrap_or(0),
            c["estimated_cost"].as_f64().map_or("none".into(), |x| format!("${x}"))
        ),
        step_hash: this.step_hash,
        integrity,
        integrity_detail,
        problems,
        erased,
        csrf,
        admin,
    };
    render(page)
}

/// The integrity verdict for this step, from its verification report.
fn integrity_of(report: Option<&verify::Report>, step: u64) -> (verify::ReportStatus, String, Vec<String>, Vec<String>) {
    let Some(r) = report else {
        return (verify::ReportStatus::Failed, "the record could not be checked".into(), Vec::new(), Vec::new());
    };
    let problems: Vec<String> = r.problems.iter().map(|p| p.detail.clone()).collect();
    let erased: Vec<String> = r.erased.iter().filter(|e| e.step == step).map(|e| e.field.clone()).collect();
    let detail = match (r.status, &r.checkpoint) {
        (verify::ReportStatus::Verified, Some(c)) => format!(
            "unaltered: sealed by the checkpoint of {} steps signed at {} (key {}…)",
            c["tree_size"],
            c["created_at"].as_str().unwrap_or(""),
            flightlog_model::validate::cut_chars(c["public_key"].as_str().unwrap_or(""), 16)
        ),
        (verify::ReportStatus::IntactNotYetSealed, _) => "intact so far, but accepted after the latest signed checkpoint".into(),
        _ => "this step does not match the tamper-evident record".into(),
    };
    (r.status, detail, problems, erased)
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "storage is unavailable").into_response()
}

/// The step as JSON, with the hashes and positions that prove it.
pub async fn json(State(state): State<AppState>, Reader { principal, .. }: Reader, Path((id, n)): Path<(String, u64)>) -> Response {
    let s = match state.step(&principal.project, &id, n).await {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => return (StatusCode::NOT_FOUND, "no such step").into_response(),
        Err(_) => return unavailable(),
    };
    let read = Access::new(&principal, FrontEnd::Web, "GET /sessions/{id}/steps/{step}/json").session(&id);
    if let Err(e) = state.record_read(read.steps([&s])).await {
        return unrecorded(e);
    }
    let body = serde_json::json!({
        "session_id": id, "step": s.step, "log_index": s.log_index, "step_hash": s.step_hash,
        "received_at": format_timestamp(s.received_us),
        "data": flightlog_model::stored::read_step_json(&s.raw).unwrap_or(Value::Null),
    });
    let name = format!("attachment; filename=\"step-{n}.json\"");
    ([(header::CONTENT_TYPE, "application/json".to_string()), (header::CONTENT_DISPOSITION, name)], body.to_string()).into_response()
}

pub async fn evidence(State(state): State<AppState>, Reader { principal, .. }: Reader, Path(id): Path<String>) -> Response {
    let file = state.evidence(&principal.project, &id, principal.allows(Scope::Admin)).await;
    if let Ok(file) = &file {
        let read = Access::new(&principal, FrontEnd::Web, "GET /sessions/{id}/evidence").session(&id).whole_session(file.steps, &file.users);
        if let Err(e) = state.record_read(read).await {
            return unrecorded(e);
        }
    }
    match file {
        Ok(file) => (
            [(header::CONTENT_TYPE, "application/json".to_string()),
             (header::CONTENT_DISPOSITION, "attachment; filename=\"evidence.json\"".to_string()),
             (header::CONTENT_LENGTH, file.len.to_string())],
            Body::from_stream(file.into_stream()),
        )
            .into_response(),
        Err(e) if e.kind() == ErrorKind::NotFound => (StatusCode::NOT_FOUND, "no such session").into_response(),
        Err(_) => unavailable(),
    }
}
