//! Demo data: sessions that look like production (several agents and
//! models, tool failures, retries, a loop, a duplicated email, a long
//! session, and costs), generated deterministically from a seed, with
//! timestamps in the week before `now_us` so the UI has something current
//! to show. Pure: [`generate`] returns step JSON, what a client would send;
//! `flightlog demo` prints it and `serve --demo` ingests it.
//!
//! [`Rng`] is the seeded generator behind it, also used for benchmark
//! inputs (`flightlog-bench search`).

use flightlog_model::time::format_timestamp;
use serde_json::{Value, json};

/// SplitMix64: tiny, deterministic, good enough for demo data and
/// benchmark inputs (same seed, same data, every run).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

struct Model {
    provider: &'static str,
    name: &'static str,
    version: &'static str,
    /// USD per 1M input and output tokens, for the client-side estimate.
    price: (f64, f64),
}

const MODELS: [Model; 4] = [
    Model { provider: "openai", name: "gpt-4o", version: "2024-08-06", price: (2.5, 10.0) },
    Model { provider: "openai", name: "gpt-4o-mini", version: "2024-07-18", price: (0.15, 0.6) },
    Model { provider: "anthropic", name: "claude-sonnet-4", version: "20250514", price: (3.0, 15.0) },
    Model { provider: "google", name: "gemini-2.5-pro", version: "2025-06-17", price: (1.25, 10.0) },
];

/// What one step of a scenario does.
struct Action<'a> {
    tool: &'a str,
    considered: &'a [&'a str],
    reasoning: String,
    params: Value,
    result: Value,
    status: &'a str,
    error: Option<String>,
}

struct Session<'a> {
    id: String,
    /// What the user asked: the session's first message.
    goal: String,
    agent: (&'a str, &'a str),
    model: &'a Model,
    user: String,
    tags: Vec<&'a str>,
    start_us: i64,
}

fn step_json(s: &Session, n: u64, a: &Action, rng: &mut Rng) -> Value {
    let input = 400 + rng.below(3000);
    let output = 50 + rng.below(600);
    let cached = if rng.chance(30) { input / 2 } else { 0 };
    let cost = (input as f64 * s.model.price.0 + output as f64 * s.model.price.1) / 1e6;
    let ts = s.start_us + n as i64 * 1_500_000 + rng.below(900_000) as i64;
    json!({
        "session_id": s.id,
        "step": n,
        "timestamp": format_timestamp(ts),
        "agent": {"name": s.agent.0, "version": s.agent.1},
        "agent_thoughts": {"reasoning": a.reasoning, "considered_tools": a.considered, "chosen_tool": a.tool,
                           "confidence": (50 + rng.below(50)) as f64 / 100.0},
        "tool_execution": {"name": a.tool, "params": a.params, "result": a.result, "status": a.status,
                           "error": a.error, "duration_ms": 80 + rng.below(2500)},
        "model": {"provider": s.model.provider, "name": s.model.name, "version": s.model.version,
                  "temperature": 0.2, "top_p": 1.0, "seed": 42, "max_tokens": 1024},
        "prompt": {"system": format!("You are {}, a careful production agent.", s.agent.0),
                   "messages": [{"role": "user", "content": s.goal}],
                   "completion": format!("Calling {} next.", a.tool)},
        "cost": {"input_tokens": input, "output_tokens": output, "cache_read_tokens": cached,
                 "reasoning_tokens": 0, "estimated_cost": (cost * 1e6).round() / 1e6},
        "user_id": s.user,
        "tags": s.tags,
        "metadata": {"region": if rng.chance(50) { "eu-west-1" } else { "us-east-1" }}
    })
}

fn ok(tool: &'static str, considered: &'static [&'static str], reasoning: String, params: Value, result: Value) -> Action<'static> {
    Action { tool, considered, reasoning, params, result, status: "ok", error: None }
}

fn failed(tool: &'static str, considered: &'static [&'static str], reasoning: String, params: Value, error: &str) -> Action<'static> {
    Action { tool, considered, reasoning, params, result: Value::Null, status: "error", error: Some(error.to_string()) }
}

/// The demo steps: `per_agent` ordinary sessions of each of four agents,
/// then the special cases (a duplicated email, a loop, a 2,000-step session).
pub fn generate(per_agent: usize, seed: u64, now_us: i64) -> Vec<Value> {
    let mut rng = Rng(seed);
    let week_us = 7 * 24 * 3_600_000_000i64;
    let mut out = Vec::new();
    let push = |session: &Session, actions: Vec<Action>, rng: &mut Rng, out: &mut Vec<Value>| {
        for (n, a) in actions.iter().enumerate() {
            out.push(step_json(session, n as u64, a, rng));
        }
    };
    let session = |rng: &mut Rng, id: String, agent: (&'static str, &'static str), model: usize| Session {
        goal: String::new(),
        id,
        agent,
        model: &MODELS[model],
        user: format!("customer-{}", 1 + rng.below(25)),
        tags: vec!["prod"],
        start_us: now_us - week_us + rng.below(week_us as u64 - 3_600_000_000) as i64,
    };

    for i in 0..per_agent {
        // Loan decisions: the compliance officer's favourite question.
        let mut s = session(&mut rng, format!("loan-{i:04}"), ("loan-assistant", "2.3.0"), 0);
        let report = 400 + rng.below(600);
        s.goal = format!("Should the loan application {report} of {} be approved?", s.user);
        let risk = rng.below(100) as f64 / 100.0;
        let approve = risk < 0.6;
        let mut actions = vec![
            ok("fetch_application", &["fetch_application", "ask_customer"], format!("The customer {} submitted a loan application; I need its details first.", s.user),
               json!({"application_id": report}), json!({"amount": 5000 + rng.below(45000), "term_months": 36})),
            ok("analyze_financials", &["analyze_financials", "fetch_historical_data"], "The client asked for an analysis of the report; the financials decide affordability.".into(),
               json!({"report_id": report}), json!({"profit_margin": 0.15, "risk_score": risk})),
        ];
        if rng.chance(25) {
            actions.push(failed("check_credit", &["check_credit", "skip_credit_check"], "A credit check is mandatory before any decision.".into(),
                                json!({"customer": s.user}), "credit bureau timeout after 30s"));
        }
        actions.push(ok("check_credit", &["check_credit"], "Credit bureau call is required; retrying if it failed before.".into(),
                        json!({"customer": s.user}), json!({"score": 580 + rng.below(250)})));
        actions.push(ok(if approve { "approve_loan" } else { "refuse_loan" }, &["approve_loan", "refuse_loan", "escalate_to_human"],
                        format!("Risk score {risk:.2} is {} the 0.60 threshold, so I {} the loan.", if approve { "below" } else { "above" }, if approve { "approve" } else { "refuse" }),
                        json!({"decision": if approve { "approve" } else { "refuse" }}), json!({"recorded": true})));
        push(&s, actions, &mut rng, &mut out);

        // Support: lookups, emails, refunds; sometimes a rate limit.
        let mut s = session(&mut rng, format!("support-{i:04}"), ("support-bot", "1.8.1"), 2);
        let order = 10_000 + rng.below(90_000);
        s.goal = format!("Where is my order {order}? It should have arrived last week.");
        let mut actions = vec![ok("lookup_order", &["lookup_order", "search_kb"], format!("The customer asks where order {order} is."),
                                  json!({"order_id": order}), json!({"status": "delayed", "carrier": "DHL"}))];
        if rng.chance(30) {
            actions.push(failed("issue_refund", &["issue_refund", "send_email"], "The delay exceeds 10 days, policy allows a refund.".into(),
                                json!({"order_id": order, "amount": 49.9}), "HTTP 429 Too Many Requests from payments API"));
        }
        actions.push(ok("send_email", &["send_email", "open_ticket"], "Tell the customer about the delay and next steps.".into(),
                        json!({"to": format!("{}@example.com", s.user), "template": "order_delayed", "order_id": order}), json!({"message_id": format!("m-{order}")})));
        push(&s, actions, &mut rng, &mut out);

        // Deploys: tests, builds, the occasional timeout and retry.
        let mut s = session(&mut rng, format!("deploy-{i:04}"), ("deploy-agent", "0.9.4"), 1);
        let service = *rng.pick(&["billing", "search", "auth", "checkout"]);
        s.goal = format!("Release {service} v1.4.2 to production.");
        let mut actions = vec![ok("run_tests", &["run_tests", "deploy"], format!("Never deploy {service} without a green test run."),
                                  json!({"service": service}), json!({"passed": 412, "failed": 0}))];
        if rng.chance(35) {
            actions.push(failed("build_image", &["build_image"], "Build the container image for the release.".into(),
                                json!({"service": service, "tag": "v1.4.2"}), "timeout: registry did not answer within 120s"));
        }
        actions.push(ok("build_image", &["build_image"], "Build the container image for the release.".into(),
                        json!({"service": service, "tag": "v1.4.2"}), json!({"digest": "sha256:4f2a"})));
        actions.push(ok("deploy", &["deploy", "rollback"], "Tests pass and the image exists; roll out to production.".into(),
                        json!({"service": service, "env": "prod"}), json!({"rolled_out": true})));
        push(&s, actions, &mut rng, &mut out);

        // Research: searches and fetches, with rate limits.
        let mut s = session(&mut rng, format!("research-{i:04}"), ("research-agent", "3.1.0"), 3);
        let topic = *rng.pick(&["EU AI Act article 12", "vector database benchmarks", "ClickHouse TTL", "agent loop detection"]);
        s.goal = format!("Write a one-page brief on {topic}.");
        let mut actions = vec![ok("web_search", &["web_search", "fetch_url"], format!("Start with a broad search on {topic}."),
                                  json!({"query": topic}), json!({"hits": 10}))];
        if rng.chance(30) {
            actions.push(failed("fetch_url", &["fetch_url", "web_search"], "The top hit looks authoritative; read it.".into(),
                                json!({"url": "https://example.org/a"}), "HTTP 429: rate limit exceeded, retry after 60s"));
        }
        actions.push(ok("summarize", &["summarize", "web_search"], "Enough material; write the summary.".into(),
                        json!({"sources": 3}), json!({"words": 420})));
        push(&s, actions, &mut rng, &mut out);
    }

    // The duplicated email: the same message sent five times.
    let mut s = session(&mut rng, "support-dup-email".into(), ("support-bot", "1.8.1"), 2);
    s.goal = "I was promised a refund for order 55123; please confirm it.".into();
    let email = json!({"to": "customer-3@example.com", "template": "refund_confirmed", "order_id": 55123});
    let actions = (0..5)
        .map(|_| ok("send_email", &["send_email", "check_outbox"], "Confirm the refund to the customer; the previous send gave no confirmation.".into(),
                    email.clone(), json!({"message_id": "m-55123"})))
        .collect();
    push(&s, actions, &mut rng, &mut out);

    // The loop: the same search, same parameters, over and over.
    let mut s = session(&mut rng, "research-loop".into(), ("research-agent", "3.1.0"), 3);
    s.goal = "What was ACME's revenue in 2025?".into();
    let actions = (0..12)
        .map(|_| ok("web_search", &["web_search", "summarize"], "The results do not answer the question yet; search again.".into(),
                    json!({"query": "quarterly revenue 2025 ACME"}), json!({"hits": 0})))
        .collect();
    push(&s, actions, &mut rng, &mut out);

    // A long session, to show pagination and jump-to-failure.
    let mut s = session(&mut rng, "pipeline-long".into(), ("data-pipeline", "5.0.0"), 1);
    s.goal = "Load the nightly export (2,000 batches) into the warehouse.".into();
    let actions = (0..2000u64)
        .map(|n| {
            if n == 1337 {
                failed("load_batch", &["load_batch", "skip_batch"], format!("Load batch {n} into the warehouse."), json!({"batch": n}), "constraint violation: duplicate key")
            } else {
                ok("load_batch", &["load_batch", "skip_batch"], format!("Load batch {n} into the warehouse."), json!({"batch": n}), json!({"rows": 1000}))
            }
        })
        .collect();
    push(&s, actions, &mut rng, &mut out);
    out
}

impl crate::AppState {
    /// Loads the demo into `project` through the one ingest path, unless
    /// the project already has sessions. Returns how many steps it stored.
    pub async fn load_demo(&self, project: &str) -> Result<usize, crate::AppError> {
        let any = self.store.list_sessions(project, &flightlog_store::SessionFilter { limit: 1, ..Default::default() }).await?;
        if !any.sessions.is_empty() {
            tracing::info!(project, "the project already has sessions; demo data not loaded");
            return Ok(0);
        }
        let steps = generate(12, 7, flightlog_model::time::now_us());
        let mut stored = 0;
        for chunk in steps.chunks(1000) {
            let redactor = self.redactor(project).await?;
            let prepared = crate::ingest::prepare(chunk.iter().cloned().map(Ok), &self.limits, project, redactor.as_deref());
            let report = self.submit(project, prepared).await?;
            // A conflict is a demo step already stored differently: kept as it is.
            if let Some(r) = report.rejected.iter().find(|r| r.code == crate::ingest::RejectionCode::Invalid) {
                return Err(crate::AppError::invalid(&r.field, format!("a demo step was refused: {}", r.reason)));
            }
            stored += report.accepted + report.duplicates;
        }
        tracing::info!(project, steps = stored, "demo data loaded");
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlog_model::{Limits, step_from_json};

    #[test]
    fn demo_steps_are_valid_deterministic_and_cover_the_failure_patterns() {
        let a = generate(3, 7, 1_768_473_000_000_000);
        assert_eq!(a, generate(3, 7, 1_768_473_000_000_000));
        for v in &a {
            step_from_json(v.clone(), &Limits::default()).unwrap();
        }
        let in_session = |id: &str| a.iter().filter(|v| v["session_id"] == id).count();
        assert_eq!(in_session("support-dup-email"), 5);
        assert_eq!(in_session("research-loop"), 12);
        assert_eq!(in_session("pipeline-long"), 2000);
        assert!(a.iter().any(|v| v["tool_execution"]["status"] == "error"));
        let models: std::collections::HashSet<_> = a.iter().map(|v| v["model"]["name"].clone()).collect();
        assert_eq!(models.len(), 4);
    }
}
