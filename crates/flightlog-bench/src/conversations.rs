//! `flightlog-bench conversations`: ingest shaped like real agents', where
//! each LLM call carries the whole conversation so far. A session has 40
//! steps; step k's `prompt.messages` holds the k messages before it (about
//! 1.2 KB each, words drawn from a fixed vocabulary by a seeded generator)
//! and its completion is message k, so step k repeats what steps 0..k sent.
//! About 25 KB per step on average, 1 MB per session.
//!
//! Prints durable steps/s and MB/s (a real server, `--clients` concurrent
//! clients, one session per request), the timeline page of such a session
//! (p50/p99) right after the ingest, the bytes the store keeps for the
//! bytes sent, after the server stopped and every table was merged
//! (`OPTIMIZE … FINAL`, active parts only), and the timeline page again
//! from a server started on those merged tables.
//!
//! `--otlp` sends the same conversations as OpenTelemetry instrumentation
//! reports them: a GenAI chat span per step, its conversation so far one
//! JSON string in `gen_ai.input.messages`, kept whole under the step's
//! `otel` attributes beside the mapped `prompt.messages`. `--openinference`
//! sends them as OpenInference instrumentation (Arize Phoenix's) reports
//! them: an LLM span per step, each message an attribute of its own
//! (`llm.input_messages.N.message.content`), the system prompt the first.

use crate::ingest::Payload;
use anyhow::{Context, bail};
use std::time::Instant;

#[derive(clap::Args)]
pub struct ConversationsArgs {
    /// Sessions sent (40 steps each).
    #[arg(long, default_value_t = 400)]
    sessions: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Timeline requests timed.
    #[arg(long, default_value_t = 200)]
    timeline_requests: usize,
    /// Run the similar-failure indexer too (every step here is a key
    /// decision), and report how far behind the ingest it is and how long
    /// it takes to catch up.
    #[arg(long)]
    search: bool,
    /// One step per request, as an agent reports each LLM call when it
    /// happens: all sessions' step 0, then their step 1, and so on, so
    /// each request adds one step to a session already stored.
    #[arg(long)]
    step_by_step: bool,
    /// Send each step as OpenTelemetry instrumentation does: a GenAI chat
    /// span over OTLP/HTTP (protobuf) whose `gen_ai.input.messages` holds
    /// the conversation so far as one JSON string, with the reply in
    /// `gen_ai.output.messages` and the system prompt in
    /// `gen_ai.system_instructions`; one export per session (or per step,
    /// with `--step-by-step`).
    #[arg(long)]
    otlp: bool,
    /// Send each step as an OpenInference LLM span (Arize Phoenix's
    /// instrumentation): the system prompt and the conversation so far one
    /// attribute per message (`llm.input_messages.N.message.role` and
    /// `.content`), the reply in `llm.output_messages.0`.
    #[arg(long, conflicts_with = "otlp")]
    openinference: bool,
    /// Keep the store in this folder (new or empty) rather than a
    /// temporary one, to serve it again afterwards (`flightlog serve
    /// --data-dir DIR`) and time its reads alone.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

pub(crate) const STEPS_PER_SESSION: u64 = 40;
const MESSAGE_WORDS: usize = 180;

pub async fn run(args: ConversationsArgs, flightlog: std::path::PathBuf) -> anyhow::Result<()> {
    let temporary = tempfile::tempdir()?;
    let dir = match &args.data_dir {
        Some(kept) if kept.exists() && std::fs::read_dir(kept)?.next().is_some() => bail!("{} is not empty", kept.display()),
        Some(kept) => kept.as_path(),
        None => temporary.path(),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // FLIGHTLOG_BENCH_LOG=flightlog_ingest=debug shows each group commit.
    let log = std::env::var("FLIGHTLOG_BENCH_LOG").unwrap_or_else(|_| "warn".into());
    // Started again on the merged folder, where its key is stored already.
    let serve = |search: bool| {
        crate::ingest::serve_command(&flightlog, dir, port, &log)
            .env("FLIGHTLOG_BOOTSTRAP_KEY", crate::ingest::KEY)
            .env("FLIGHTLOG_NO_SEARCH", if search { "false" } else { "true" })
            .spawn()
            .context("cannot start the server")
    };
    let mut server = serve(args.search)?;
    let pid = server.id().context("server pid")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    crate::ingest::wait_ready(&http, &base).await?;
    println!("machine: {} cores; store: embedded chDB in {}", std::thread::available_parallelism().map_or(1, |n| n.get()), dir.display());

    let (bodies, payload, path) = match (args.otlp, args.openinference) {
        (false, false) => (step_bodies(args.sessions, args.step_by_step), Payload::Steps, "v1/steps"),
        (true, _) => (span_bodies(args.sessions, args.step_by_step, session_spans), Payload::Spans, "v1/traces"),
        (_, true) => (span_bodies(args.sessions, args.step_by_step, openinference_spans), Payload::Spans, "v1/traces"),
    };
    let sent: usize = bodies.iter().map(Vec::len).sum();
    let steps = args.sessions as u64 * STEPS_PER_SESSION;
    let started = Instant::now();
    crate::ingest::post_concurrently(&http, &format!("{base}/{path}"), bodies, args.clients, payload).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ingest{}, {} client(s), {}: {steps} steps of 40-step conversations ({:.1} KB/step) in {secs:.2} s = {:.0} steps/s, {:.1} MB/s durable",
        match (args.otlp, args.openinference) {
            (true, _) => " as OTLP chat spans",
            (_, true) => " as OpenInference LLM spans",
            _ => "",
        },
        args.clients,
        if args.step_by_step { "one step per request" } else { "one session per request" },
        sent as f64 / steps as f64 / 1e3,
        steps as f64 / secs,
        sent as f64 / secs / 1e6
    );

    if args.search {
        let ended = Instant::now();
        let at_end = detectors_position(&http, &base).await?;
        // Both followed at once: each one's catch-up time is its own.
        let (indexer, detectors) =
            tokio::join!(indexer_lag(&http, &base, steps), detectors_lag(&http, &base, at_end, ended));
        indexer?;
        detectors?;
    }

    time_timelines(&http, &base, &args, "right after the ingest, merges running").await?;
    println!("server peak RSS (VmHWM): {} MiB", crate::ingest::peak_rss_kib(pid)? / 1024);
    server.start_kill()?;
    server.wait().await?;

    // The server's folder, opened in this process once the server is gone.
    let store = crate::costs::bench_store(dir, None, "").await?;
    print_bytes_kept(&store, sent).await?;
    drop(store);

    // The same pages once every part is merged, served again.
    let mut server = serve(false)?;
    crate::ingest::wait_ready(&http, &base).await?;
    time_timelines(&http, &base, &args, "every table merged, the server started again").await?;
    server.start_kill()?;
    server.wait().await?;
    Ok(())
}

/// Times `--timeline-requests` whole-conversation timeline pages, each
/// checked to hold the conversation, and prints their p50 and p99, `when`.
async fn time_timelines(http: &reqwest::Client, base: &str, args: &ConversationsArgs, when: &str) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(args.timeline_requests);
    for i in 0..args.timeline_requests {
        let session = session_id(i * 7919 % args.sessions);
        let started = Instant::now();
        let resp = http.get(format!("{base}/v1/sessions/{session}/steps?limit=50")).bearer_auth(crate::ingest::KEY).send().await?;
        let status = resp.status();
        let page: serde_json::Value = resp.json().await?;
        times.push(crate::ingest::ms(started.elapsed()));
        if !status.is_success() || page["steps"].as_array().map_or(0, Vec::len) != STEPS_PER_SESSION as usize {
            bail!("timeline of {session}: {status}");
        }
    }
    let (p50, p99, _) = crate::guard::percentiles(times);
    println!(
        "timeline of a whole 40-step conversation ({} requests, {when}): p50 {p50:.1} ms, p99 {p99:.1} ms",
        args.timeline_requests
    );
    Ok(())
}

/// Merges every table, then prints the active parts' bytes against `sent`,
/// per table and for the steps table's biggest columns.
async fn print_bytes_kept(store: &flightlog_store::Store, sent: usize) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Sized {
        name: String,
        bytes: u64,
    }
    let ch = store.backend();
    let sized = |sql: &'static str| async move { anyhow::Ok(flightlog_store::backend::rows::<Sized>(&ch.query(sql, Default::default()).await?)?) };
    let tables = "SELECT table AS name, sum(bytes_on_disk) AS bytes FROM system.parts \
                  WHERE database = currentDatabase() AND active GROUP BY table ORDER BY bytes DESC";
    for t in sized(tables).await? {
        ch.query(&format!("OPTIMIZE TABLE {} FINAL", t.name), Default::default()).await?;
    }
    let tables = sized(tables).await?;
    let total: u64 = tables.iter().map(|t| t.bytes).sum();
    println!(
        "bytes on disk after merges: {:.1} MB for {:.1} MB sent = {:.1}%",
        total as f64 / 1e6,
        sent as f64 / 1e6,
        total as f64 * 100.0 / sent as f64
    );
    for t in tables.iter().take(3) {
        println!("  table {:<22} {:>8.1} MB", t.name, t.bytes as f64 / 1e6);
    }
    let columns = "SELECT name, data_compressed_bytes AS bytes FROM system.columns \
                   WHERE database = currentDatabase() AND table = 'steps' ORDER BY bytes DESC LIMIT 4";
    for c in sized(columns).await? {
        println!("  column steps.{:<16} {:>8.1} MB compressed", c.name, c.bytes as f64 / 1e6);
    }
    Ok(())
}

fn session_id(s: usize) -> String {
    format!("conversation-{s:05}")
}

/// The request bodies of `sessions` sessions as NDJSON steps: one session
/// each, or one step each in step order across sessions.
fn step_bodies(sessions: usize, step_by_step: bool) -> Vec<Vec<u8>> {
    let sessions: Vec<Vec<String>> = (0..sessions).map(session_lines).collect();
    match step_by_step {
        false => sessions.iter().map(|lines| lines.join("\n").into_bytes()).collect(),
        true => (0..STEPS_PER_SESSION as usize).flat_map(|k| sessions.iter().map(move |lines| lines[k].clone().into_bytes())).collect(),
    }
}

/// The same sessions as OTLP protobuf exports of GenAI chat spans (see
/// `--otlp`), in the order of [`step_bodies`].
fn span_bodies(sessions: usize, step_by_step: bool, session_spans: fn(usize) -> Vec<opentelemetry_proto::tonic::trace::v1::Span>) -> Vec<Vec<u8>> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let export = |spans: Vec<Span>| {
        let scope = ScopeSpans { spans, ..Default::default() };
        ExportTraceServiceRequest { resource_spans: vec![ResourceSpans { scope_spans: vec![scope], ..Default::default() }] }.encode_to_vec()
    };
    let sessions: Vec<Vec<Span>> = (0..sessions).map(session_spans).collect();
    match step_by_step {
        false => sessions.into_iter().map(export).collect(),
        true => (0..STEPS_PER_SESSION as usize).flat_map(|k| sessions.iter().map(move |spans| export(vec![spans[k].clone()]))).collect(),
    }
}

/// One OTLP export (protobuf) of these sessions' chat spans, as `--otlp`
/// sends them.
pub(crate) fn sessions_export(sessions: std::ops::Range<usize>) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    use prost::Message;
    let scope = ScopeSpans { spans: sessions.flat_map(session_spans).collect(), ..Default::default() };
    ExportTraceServiceRequest { resource_spans: vec![ResourceSpans { scope_spans: vec![scope], ..Default::default() }] }.encode_to_vec()
}

/// Session `s`'s 40 steps as the chat spans of OpenTelemetry's GenAI
/// conventions: the words of [`session_lines`], messages in their parts form.
fn session_spans(s: usize) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
    use crate::otlp_grpc::{int, text as attribute};
    let session = session_id(s);
    let messages: Vec<serde_json::Value> =
        turns(s).into_iter().map(|(role, content)| serde_json::json!({"role": role, "parts": [{"type": "text", "content": content}]})).collect();
    let system = serde_json::json!([{"type": "text", "content": system_prompt()}]).to_string();
    (0..STEPS_PER_SESSION)
        .map(|k| {
            let start = 1_767_225_600_000_000_000u64 + (s as u64 * 100 + k) * 1_000_000_000;
            opentelemetry_proto::tonic::trace::v1::Span {
                trace_id: [&[9u8; 8][..], &(s as u64).to_be_bytes()].concat(),
                span_id: (k + 1).to_be_bytes().to_vec(),
                name: "chat gpt-4o".into(),
                kind: 3,
                start_time_unix_nano: start,
                end_time_unix_nano: start + 800_000_000,
                attributes: vec![
                    attribute("gen_ai.operation.name", "chat"),
                    attribute("gen_ai.conversation.id", &session),
                    attribute("gen_ai.provider.name", "openai"),
                    attribute("gen_ai.request.model", "gpt-4o"),
                    attribute("gen_ai.agent.name", "support-agent"),
                    attribute("user.id", &format!("customer-{}", s % 97)),
                    int("gen_ai.usage.input_tokens", 600 + 300 * k as i64),
                    int("gen_ai.usage.output_tokens", 300),
                    attribute("gen_ai.system_instructions", &system),
                    attribute("gen_ai.input.messages", &serde_json::Value::from(&messages[..k as usize]).to_string()),
                    attribute("gen_ai.output.messages", &serde_json::Value::from(&messages[k as usize..=k as usize]).to_string()),
                ],
                ..Default::default()
            }
        })
        .collect()
}

/// Session `s`'s 40 steps as OpenInference LLM spans: the words of
/// [`session_lines`], one attribute per message, the system prompt first.
fn openinference_spans(s: usize) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
    use crate::otlp_grpc::{int, text as attribute};
    let session = session_id(s);
    let mut messages = vec![("system", system_prompt())];
    messages.extend(turns(s));
    (0..STEPS_PER_SESSION as usize)
        .map(|k| {
            let start = 1_767_225_600_000_000_000u64 + (s as u64 * 100 + k as u64) * 1_000_000_000;
            let mut attributes = vec![
                attribute("openinference.span.kind", "LLM"),
                attribute("session.id", &session),
                attribute("user.id", &format!("customer-{}", s % 97)),
                attribute("llm.provider", "openai"),
                attribute("llm.model_name", "gpt-4o"),
                int("llm.token_count.prompt", 600 + 300 * k as i64),
                int("llm.token_count.completion", 300),
            ];
            // The system prompt and the k messages before the reply.
            for (i, (role, content)) in messages[..=k].iter().enumerate() {
                attributes.push(attribute(&format!("llm.input_messages.{i}.message.role"), role));
                attributes.push(attribute(&format!("llm.input_messages.{i}.message.content"), content));
            }
            let (role, reply) = &messages[k + 1];
            attributes.push(attribute("llm.output_messages.0.message.role", role));
            attributes.push(attribute("llm.output_messages.0.message.content", reply));
            opentelemetry_proto::tonic::trace::v1::Span {
                trace_id: [&[7u8; 8][..], &(s as u64).to_be_bytes()].concat(),
                span_id: (k as u64 + 1).to_be_bytes().to_vec(),
                name: "ChatCompletion".into(),
                kind: 1,
                start_time_unix_nano: start,
                end_time_unix_nano: start + 800_000_000,
                attributes,
                ..Default::default()
            }
        })
        .collect()
}

/// Sessions `range`, as one NDJSON body.
pub(crate) fn sessions_body(range: std::ops::Range<usize>) -> Vec<u8> {
    range.map(|s| session_lines(s).join("\n")).collect::<Vec<_>>().join("\n").into_bytes()
}

/// Session `s`'s conversation: (role, text) of each message, one more than
/// its steps (step k's completion is message k).
fn turns(s: usize) -> Vec<(&'static str, String)> {
    (0..=STEPS_PER_SESSION).map(|i| (if i % 2 == 0 { "user" } else { "assistant" }, text(s as u64 * 1000 + i, MESSAGE_WORDS))).collect()
}

fn system_prompt() -> String {
    format!("You are the support agent of an online bank. {}", text(7, 200))
}

/// Session `s`'s 40 steps, one JSON line each.
fn session_lines(s: usize) -> Vec<String> {
    let session = session_id(s);
    let messages: Vec<serde_json::Value> =
        turns(s).into_iter().map(|(role, content)| serde_json::json!({"role": role, "content": content})).collect();
    let system = system_prompt();
    (0..STEPS_PER_SESSION)
        .map(|k| {
            serde_json::json!({
                "session_id": session, "step": k,
                "timestamp": flightlog_model::time::format_timestamp(1_767_225_600_000_000 + (s as i64 * 100 + k as i64) * 1_000_000),
                "agent": {"name": "support-agent", "version": "4.1.0"},
                "agent_thoughts": {"reasoning": text(s as u64 * 7 + k, 40), "chosen_tool": "lookup_account", "confidence": 0.7},
                "tool_execution": {"name": "lookup_account", "params": {"account": format!("acct-{s}")},
                                   "result": {"balance": 1200 + k, "currency": "EUR"}, "status": "ok", "duration_ms": 40},
                "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06", "temperature": 0.2, "seed": 42},
                "prompt": {"system": system, "messages": &messages[..k as usize],
                           "completion": messages[k as usize]["content"]},
                "cost": {"input_tokens": 600 + 300 * k, "output_tokens": 300},
                "user_id": format!("customer-{}", s % 97)
            })
            .to_string()
        })
        .collect()
}

/// `words` words of plausible text, the same for the same seed.
fn text(seed: u64, words: usize) -> String {
    const VOCABULARY: &[&str] = &[
        "the", "account", "customer", "transfer", "balance", "card", "payment", "was", "declined", "because", "limit", "daily",
        "please", "check", "verify", "identity", "fraud", "alert", "merchant", "refund", "pending", "days", "business", "we",
        "can", "not", "see", "your", "request", "has", "been", "escalated", "to", "team", "thank", "you", "for", "waiting",
        "statement", "interest", "rate", "loan", "mortgage", "application", "document", "missing", "upload", "portal", "and",
        "of", "in", "a", "is", "on", "with", "this", "that", "it", "be", "are", "from", "at", "or", "an", "by", "which",
        "credit", "debit", "overdraft", "fee", "charged", "reversed", "branch", "appointment", "tomorrow", "morning", "address",
        "changed", "phone", "number", "email", "confirmed", "code", "sent", "expired", "again", "new", "policy", "terms",
    ];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::with_capacity(words * 7);
    for i in 0..words {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i > 0 {
            out.push(' ');
        }
        out.push_str(VOCABULARY[(x % VOCABULARY.len() as u64) as usize]);
    }
    out
}

/// The detectors behind ingestion (goal drift reads every step's reasoning
/// with the sentence model): the log position they have compared up to,
/// and the log's size.
async fn detectors_position(http: &reqwest::Client, base: &str) -> anyhow::Result<(u64, u64)> {
    let h: serde_json::Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
    let ingest = &h["ingest"];
    let at = ingest["detectors_behind"]["next_log_index"].as_u64().context("no detectors_behind in /healthz")?;
    Ok((at, ingest["log_size"].as_u64().unwrap_or(0)))
}

/// How far behind the detectors were when the ingest ended, and when they
/// had compared every step.
async fn detectors_lag(http: &reqwest::Client, base: &str, (at, size): (u64, u64), ended: Instant) -> anyhow::Result<()> {
    println!("detectors behind ingestion when the ingest ended: {at} of {size} steps compared");
    loop {
        let (now_at, now_size) = detectors_position(http, base).await?;
        if now_at >= now_size {
            break;
        }
        anyhow::ensure!(ended.elapsed().as_secs() < 1800, "the detectors did not catch up in 30 minutes");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let secs = ended.elapsed().as_secs_f64();
    println!("detectors: every step compared {secs:.1} s after the ingest ended: {:.0} steps/s while catching up", (size - at) as f64 / secs);
    Ok(())
}

/// How far the similar-failure indexer is behind when the ingest ends, and
/// how long it takes to index every key decision (every step here is one).
async fn indexer_lag(http: &reqwest::Client, base: &str, decisions: u64) -> anyhow::Result<()> {
    let health = || async {
        let h: serde_json::Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
        anyhow::Ok(h["search"].clone())
    };
    let at_end = health().await?;
    anyhow::ensure!(at_end["available"] == true, "search is off in the server: {at_end}");
    let indexed_at_end = at_end["points"].as_u64().unwrap_or(0);
    println!(
        "indexer when the ingest ended: {indexed_at_end} of {decisions} key decisions indexed, {} behind ({} s)",
        at_end["indexer"]["steps_behind"],
        at_end["indexer"]["seconds_behind"]
    );
    let started = Instant::now();
    loop {
        let s = health().await?;
        if s["points"].as_u64() >= Some(decisions) {
            break;
        }
        anyhow::ensure!(started.elapsed().as_secs() < 1800, "the indexer did not catch up in 30 minutes: {s}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "indexer: all {decisions} indexed {secs:.1} s after the ingest ended: {:.0} key decisions/s while catching up",
        (decisions - indexed_at_end) as f64 / secs
    );
    Ok(())
}
