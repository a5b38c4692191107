//! The tools: the three users' questions, each a use case of the core.
//! Arguments arrive as text where the REST API takes query text, and are
//! parsed by the same parameter types, so both front ends accept and
//! refuse the same values.

use axum::http::request::Parts;
use flightlog_app::access_log::{Access, FrontEnd};
use flightlog_app::costs::CostParams;
use flightlog_app::guard::GuardQuestion;
use flightlog_app::keys::{Principal, Scope};
use flightlog_app::decisions::Explanation;
use flightlog_app::search::{Similar, SimilarParams};
use flightlog_app::sessions::SessionListParams;
use flightlog_app::{AppError, AppState};
use flightlog_model::validate::EXACT_IN_A_DOUBLE;
use flightlog_app::error::ErrorKind;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::{Value, json};

/// Steps a timeline call returns at most.
const MAX_TIMELINE: u32 = 200;

#[derive(Clone)]
pub struct Flightlog {
    state: AppState,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindSessions {
    /// Sessions active at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Sessions that started before this time (RFC 3339).
    pub to: Option<String>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub model: Option<String>,
    /// failed, ok or any.
    pub status: Option<String>,
    /// Minimum estimated cost in USD.
    pub min_cost: Option<String>,
    pub min_steps: Option<String>,
    /// Only sessions with an anomaly: a repeated side effect or a runaway.
    pub flagged: Option<bool>,
    /// time (newest first), cost or steps.
    pub sort: Option<String>,
    /// asc or desc (the default).
    pub order: Option<String>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<u32>,
    /// The next page: the previous answer's next_cursor, with the same
    /// sort and order.
    pub cursor: Option<String>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    pub session_id: String,
    /// Only steps after this step number.
    pub after: Option<u64>,
    /// At most this many steps (default 50, at most 200).
    pub limit: Option<u32>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub session_id: String,
    pub step: u64,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimilarFailures {
    /// Search from this step's decision (with `step`)…
    pub session_id: Option<String>,
    pub step: Option<u64>,
    /// …or from free text.
    pub text: Option<String>,
    /// true: failures only (the default from a failed step); false: every key decision.
    pub failures_only: Option<bool>,
    pub limit: Option<u32>,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Costs {
    /// Up to two of: model, provider, agent, user, session, tool, day, week, month (comma-separated).
    pub group_by: Option<String>,
    /// RFC 3339; default: from the first step stored.
    pub from: Option<String>,
    /// RFC 3339; default: no end.
    pub to: Option<String>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub model: Option<String>,
    /// Comma-separated; steps carrying any of them.
    pub tags: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub session_id: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    /// The session about to act.
    pub session_id: String,
    /// The user (customer) it acts for.
    pub user_id: Option<String>,
    /// The agent's name, as its steps give `agent.name`.
    pub agent: Option<String>,
    /// The tool about to be called, as its step will give `tool_execution.name`.
    pub tool: String,
    /// The parameters, exactly as its step will give `tool_execution.params`.
    pub params: Option<Value>,
}

impl Flightlog {
    pub fn new(state: AppState) -> Self {
        Self { state, tool_router: Self::tool_router() }
    }

    /// Content read by a tool, once its read is recorded in the access log;
    /// an error (never the content) when it cannot be.
    async fn recorded<T>(&self, content: Result<T, AppError>, read: impl FnOnce(&T) -> Access) -> Result<T, AppError> {
        let content = content?;
        self.state.record_read(read(&content)).await?;
        Ok(content)
    }
}

/// The caller, as the authentication layer left it in the request, if
/// its key may read (every tool but the guard).
fn principal(parts: &Parts) -> Result<&Principal, ErrorData> {
    caller(parts, Scope::Read)
}

/// The caller, if its key has `scope`.
fn caller(parts: &Parts, scope: Scope) -> Result<&Principal, ErrorData> {
    let p = parts.extensions.get::<Principal>().ok_or_else(|| ErrorData::invalid_request("not authenticated", None))?;
    if !p.allows(scope) {
        return Err(ErrorData::invalid_request(format!("this key lacks the {} scope this tool needs", scope.name()), None));
    }
    Ok(p)
}

fn answer(value: Value) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::success(vec![ContentBlock::text(serde_json::to_string_pretty(&value).unwrap_or_default())]))
}

/// The path of the first number in `value` that is a double of 2^53 or
/// more (a whole number a double no longer holds exactly), if any.
fn past_exact_doubles(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::Number(n) if n.is_f64() => n.as_f64().filter(|f| f.abs() >= EXACT_IN_A_DOUBLE).map(|_| at.to_string()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| past_exact_doubles(v, &format!("{at}.{i}"))),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| past_exact_doubles(v, &format!("{at}.{k}"))),
        _ => None,
    }
}

/// A use case that did not work is the tool's answer (the assistant reads
/// why), not a protocol error.
fn refused(e: AppError) -> Result<CallToolResult, ErrorData> {
    let what = match e.kind() {
        ErrorKind::Invalid => "invalid argument",
        ErrorKind::NotFound => "not found",
        ErrorKind::Conflict => "conflict",
        ErrorKind::OverMemoryBudget => "too big",
        _ => "unavailable, retry later",
    };
    Ok(CallToolResult::error(vec![ContentBlock::text(format!("{what}: {}", e.public_message()))]))
}

/// A stored step as the API shows it: its numbers and the step as sent.
fn step_json(s: &flightlog_store::StoredStep) -> Value {
    json!({
        "step": s.step,
        "failed": s.failed,
        "key_decision": s.key_decision,
        "step_hash": s.step_hash,
        "data": flightlog_model::stored::read_step_json(&s.raw).unwrap_or(Value::Null),
    })
}

#[tool_router]
impl Flightlog {
    #[tool(description = "Find sessions of agents: filter by time, agent, user, model, status, cost, length or anomalies; sort by time, cost or steps. Each session has its steps, failures, tokens, cost and anomalies.")]
    async fn find_sessions(&self, Parameters(p): Parameters<FindSessions>, Extension(parts): Extension<Parts>) -> Result<CallToolResult, ErrorData> {
        let project = &principal(&parts)?.project;
        let params = SessionListParams {
            from: p.from,
            to: p.to,
            agent: p.agent,
            user: p.user,
            model: p.model,
            status: p.status,
            min_cost: p.min_cost,
            min_steps: p.min_steps,
            flagged: p.flagged.map(|f| f.to_string()),
            sort: p.sort,
            order: p.order,
            limit: p.limit.map(|l| l.to_string()),
            cursor: p.cursor,
        };
        let filter = match params.filter() {
            Ok(f) => f,
            Err(e) => return refused(e),
        };
        // The API's sessions, field for field; without their flags (cost,
        // budget, anomalies) no page at all, as the API answers 503: it
        // read as sessions that cost nothing.
        let listing = match self.state.list_sessions(project, &filter).await {
            Ok(listing) => listing,
            Err(e) => return refused(e),
        };
        let next_cursor = listing.next_cursor.clone();
        match listing.views() {
            Ok(sessions) => answer(json!({"sessions": sessions, "next_cursor": next_cursor})),
            Err(e) => refused(e),
        }
    }

    #[tool(description = "A session's timeline: its steps in order (reasoning, tool calls, results, errors, model, tokens), a page at a time.")]
    async fn session_timeline(&self, Parameters(p): Parameters<Timeline>, Extension(parts): Extension<Parts>) -> Result<CallToolResult, ErrorData> {
        let reader = principal(&parts)?;
        // Refused out of range, as by the API, not clamped.
        let limit = match flightlog_app::params::page_size(p.limit.map(|l| l.to_string()).as_deref(), 50, MAX_TIMELINE) {
            Ok(limit) => limit,
            Err(e) => return refused(e),
        };
        let read = Access::new(reader, FrontEnd::Mcp, "session_timeline");
        match self.state.timeline_recorded(read, &reader.project, &p.session_id, p.after, limit).await {
            Ok(page) => answer(json!({
                "session_id": p.session_id,
                "steps": page.steps.iter().map(step_json).collect::<Vec<_>>(),
                "next_after": page.next_after,
            })),
            Err(e) => refused(e),
        }
    }

    #[tool(description = "Explain one decision: why the agent did it (its reasoning, the alternatives and its confidence), the session's goal, the steps before it, the exact model and settings, and whether the record is proven intact.")]
    async fn explain_decision(&self, Parameters(p): Parameters<Decision>, Extension(parts): Extension<Parts>) -> Result<CallToolResult, ErrorData> {
        let reader = principal(&parts)?;
        let read = |x: &Explanation| {
            Access::new(reader, FrontEnd::Mcp, "explain_decision").session(&p.session_id).steps(x.returned())
        };
        match self.recorded(self.state.explain(&reader.project, &p.session_id, p.step).await, read).await {
            Ok(x) => answer(json!({
                "goal": x.goal,
                "step": step_json(&x.step),
                "earlier_steps": x.earlier.iter().map(step_json).collect::<Vec<_>>(),
                "integrity": x.report,
            })),
            Err(e) => refused(e),
        }
    }

    #[tool(description = "Has this failure happened before? Key decisions similar to a step (session_id and step) or to a text, nearest first, failures only by default when searching from a failed step.")]
    async fn similar_failures(&self, Parameters(p): Parameters<SimilarFailures>, Extension(parts): Extension<Parts>) -> Result<CallToolResult, ErrorData> {
        let reader = principal(&parts)?;
        let project = &reader.project;
        let params = SimilarParams {
            session_id: p.session_id,
            step: p.step.map(|s| s.to_string()),
            q: p.text,
            failures: p.failures_only.map(|f| f.to_string()),
            limit: p.limit.map(|l| l.to_string()),
            ..Default::default()
        };
        // The API's `q` is this tool's `text`: refusals name it so.
        let request = match params.request_as(project, "text") {
            Ok(r) => r,
            Err(e) => return refused(e),
        };
        let read = |found: &Similar| Access::new(reader, FrontEnd::Mcp, "similar_failures").filter(&params).found(found);
        match self.recorded(self.state.similar(request).await, read).await {
            Ok(found) => answer(json!({"failures_only": found.failures_only, "origin": found.origin, "hits": found.hits})),
            Err(e) => refused(e),
        }
    }

    #[tool(description = "What did it cost? Exact costs (tokens × the price list, computed now) grouped by up to two of model, provider, agent, user, session, tool, day, week, month, with totals.")]
    async fn cost_report(&self, Parameters(p): Parameters<Costs>, Extension(parts): Extension<Parts>) -> Result<CallToolResult, ErrorData> {
        let project = &principal(&parts)?.project;
        let params = CostParams {
            group_by: p.group_by,
            from: p.from,
            to: p.to,
            agent: p.agent,
            user: p.user,
            model: p.model,
            tags: p.tags,
            limit: p.limit.map(|l| l.to_string()),
            ..Default::default()
        };
        let query = match params.query() {
            Ok(q) => q,
            Err(e) => return refused(e),
        };
        match self.state.cost_report(project, &query).await {
            Ok(r) => answer(json!({
                "group_by": r.group_by.iter().map(|d| d.name()).collect::<Vec<_>>(),
                "groups": r.groups.iter().map(|g| g.to_map()).collect::<Vec<_>>(),
                "more_groups": r.more_groups,
                "totals": r.totals.as_ref().map(|t| t.to_map()),
                "unpriced_models": r.unpriced.iter().map(|u| u.to_map()).collect::<Vec<_>>(),
            })),
            Err(e) => refused(e),
        }
    }

    #[tool(description = "Ask before you act: may this session call this tool with these parameters now? Denied (allowed: false, with the reason and where it happened before) when this side effect already succeeded, the tool was called too often lately, or the session is in a loop or over budget. Needs an ingest key. Every answer is recorded.")]
    async fn guard(&self, Parameters(p): Parameters<Guard>, Extension(parts): Extension<Parts>) -> Result<CallToolResult, ErrorData> {
        let agent = caller(&parts, Scope::Ingest)?;
        // The guard's memory is the writer's: a replica would answer from
        // nothing. (REST forwards /v1/guard to the writer instead.)
        if !self.state.ingestor.role().is_writer() {
            let text = "unavailable, retry later: this process does not write the log; ask the writing process's guard (POST /v1/guard on any process is forwarded to it)";
            return Ok(CallToolResult::error(vec![ContentBlock::text(text)]));
        }
        let mut question = serde_json::Map::new();
        question.insert("session_id".into(), json!(p.session_id));
        question.insert("tool".into(), json!(p.tool));
        if let Some(u) = p.user_id {
            question.insert("user_id".into(), json!(u));
        }
        if let Some(a) = p.agent {
            question.insert("agent".into(), json!(a));
        }
        if let Some(params) = p.params {
            // The MCP library has read the arguments before Flightlog sees
            // them, into doubles: two integers past 2^53 may have become one
            // (the API reads the text and refuses them). They are refused
            // here so that two different ids never match.
            if let Some(at) = past_exact_doubles(&params, "params") {
                let why = "is a number too large to compare exactly through MCP; send it as a string, or ask POST /v1/guard";
                return refused(AppError::invalid(&at, why));
            }
            question.insert("params".into(), params);
        }
        let question = match GuardQuestion::from_json(Value::Object(question), &self.state.limits) {
            Ok(q) => q,
            Err(e) => return refused(AppError::invalid(&e.field, e.reason)),
        };
        match self.state.ask_guard(&agent.project, question, &agent.key_id).await {
            Ok(a) => answer(serde_json::to_value(a).unwrap_or(Value::Null)),
            Err(e) => refused(e),
        }
    }

    #[tool(description = "Can you prove this record is complete? Verifies a session's steps against their hash chain, the tamper-evident log and its signed checkpoints, and names anything that does not match.")]
    async fn verify_session(&self, Parameters(p): Parameters<Session>, Extension(parts): Extension<Parts>) -> Result<CallToolResult, ErrorData> {
        let project = &principal(&parts)?.project;
        match self.state.verify_session(project, &p.session_id).await {
            Ok(report) => answer(serde_json::to_value(report).unwrap_or(Value::Null)),
            Err(e) => refused(e),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Flightlog {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Flightlog records every step of AI agents. Find sessions, read a timeline, explain a decision, \
             find similar failures, report costs, and verify that a record is intact. Agents ask the guard \
             before a side effect.",
        )
    }
}
