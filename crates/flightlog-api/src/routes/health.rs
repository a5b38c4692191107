use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use flightlog_ingest::{Role, WriterHealth};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The search part of /healthz: whether it works, and the indexer's lag.
async fn search_health(state: &AppState) -> Value {
    match (state.search.unavailable(), state.search.index()) {
        (None, Some(index)) => {
            let points = match index.count(None).await {
                Ok(n) => json!(n),
                Err(e) => json!(e.to_string()),
            };
            json!({
                "available": true,
                "index": index.describe(),
                "points": points,
                "indexer": state.search.status().snapshot(),
            })
        }
        (reason, _) => json!({"available": false, "reason": reason}),
    }
}

/// How long /healthz waits for a ClickHouse server to answer `SELECT 1`,
/// or a standby for its writer's /healthz.
const ANSWERS_WITHIN: Duration = Duration::from_secs(1);

/// The last answer of something /healthz asks another process.
struct Recent {
    at: Instant,
    asked: String,
    answer: Result<(), String>,
}

/// `ask`'s answer, or the one it gave `asked` less than a second ago:
/// /healthz needs no key, so without it anyone could make this process
/// send a query to the shared server or the writer per request. The lock
/// is held while asking, so requests meanwhile take that answer.
async fn for_a_second(last: &tokio::sync::Mutex<Option<Recent>>, asked: &str, ask: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    let mut last = last.lock().await;
    if let Some(recent) = last.as_ref()
        && recent.asked == asked
        && recent.at.elapsed() < Duration::from_secs(1)
    {
        return recent.answer.clone();
    }
    let answer = ask.await;
    *last = Some(Recent { at: Instant::now(), asked: asked.to_string(), answer: answer.clone() });
    answer
}

/// Whether a ClickHouse server answers a trivial read in time. One that
/// hangs (stopped, overloaded) failed no commit until the statement
/// timeout, and a standby none at all: every process said `ok` while
/// ingestion was refused. (The embedded engine runs in this process.)
async fn store_answers(state: &AppState) -> Result<(), String> {
    static LAST: tokio::sync::Mutex<Option<Recent>> = tokio::sync::Mutex::const_new(None);
    let backend = state.store.backend();
    if !backend.remote() {
        return Ok(());
    }
    for_a_second(&LAST, "store", async {
        match tokio::time::timeout(ANSWERS_WITHIN, backend.query("SELECT 1", flightlog_store::Params::new())).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the ClickHouse server does not answer: {e}")),
            Err(_) => Err(format!("the ClickHouse server did not answer SELECT 1 within {} s", ANSWERS_WITHIN.as_secs())),
        }
    })
    .await
}

/// A standby's writer, asked as the store is (forward.rs says why). Not
/// answering counts only once it has lasted two of the lease's times to
/// live: a writer that died is replaced within one (this process or
/// another takes the lease), and meanwhile this process still serves
/// reads, which a load balancer should not take from it. One that still
/// holds the lease after that is alive and out of reach: a wrong
/// `--advertise-url`, a network between them.
async fn writer_answers(role: &Role, ttl: Option<Duration>) -> Result<(), String> {
    static LAST: tokio::sync::Mutex<Option<Recent>> = tokio::sync::Mutex::const_new(None);
    static SINCE: std::sync::Mutex<Option<(String, Instant)>> = std::sync::Mutex::new(None);
    let Role::Standby { writer: Some(writer) } = role else { return Ok(()) };
    let answer = for_a_second(&LAST, writer, crate::forward::writer_answers(writer, ANSWERS_WITHIN)).await;
    let mut since = SINCE.lock().unwrap_or_else(|p| p.into_inner());
    match answer {
        Ok(()) => {
            *since = None;
            Ok(())
        }
        Err(why) => {
            let first = match since.as_ref() {
                Some((of, at)) if of == writer => *at,
                _ => since.insert((writer.clone(), Instant::now())).1,
            };
            let grace = ttl.unwrap_or_default() * 2;
            match first.elapsed() >= grace {
                true => Err(format!("{why} (for {} s)", first.elapsed().as_secs())),
                false => Ok(()),
            }
        }
    }
}

/// `/healthz`'s answer. The parts' own reports are objects whose fields
/// may grow; the top level is fixed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    status: HealthStatus,
    /// Why it is degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    version: &'static str,
    /// The storage backend.
    store: String,
    /// The writer: queue, counters, health and the writer lease.
    #[schema(value_type = Object)]
    ingest: Value,
    /// Similar-failure search: the index and the indexer's lag.
    #[schema(value_type = Object)]
    search: Value,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Degraded,
}

/// Unauthenticated: says whether the process is up and how its parts are.
/// While the writer cannot store steps it is `degraded` (503), with why;
/// so is a standby whose writer does not answer (ingestion sent to it fails).
#[utoipa::path(get, path = "/healthz", tag = "health", responses(
    (status = 200, body = Health),
    (status = 503, description = "degraded: the writer cannot store steps now, the ClickHouse server does not answer, or (a standby) the writer it forwards ingestion to does not answer or is degraded", body = Health),
))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let stats = state.ingestor.stats();
    let writer = state.ingestor.health();
    let role = state.ingestor.role();
    let reachable = writer_answers(&role, state.ingestor.lease_ttl()).await;
    let (code, status, reason) = match (&writer, store_answers(&state).await.and(reachable)) {
        (WriterHealth::Degraded { reason }, _) => (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Degraded, Some(reason.clone())),
        (_, Err(reason)) => (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Degraded, Some(reason)),
        (WriterHealth::Healthy, Ok(())) => (StatusCode::OK, HealthStatus::Ok, None),
    };
    let mut ingest = json!({
            "queued_requests": state.ingestor.queued(),
            "accepted": stats.accepted.load(Ordering::Relaxed),
            "duplicates": stats.duplicates.load(Ordering::Relaxed),
            "conflicts": stats.conflicts.load(Ordering::Relaxed),
            "group_commits": stats.group_commits.load(Ordering::Relaxed),
            "failed_commits": stats.failed_commits.load(Ordering::Relaxed),
            "log_size": stats.next_log_index.load(Ordering::Relaxed),
    });
    ingest["writer"] = serde_json::to_value(&writer).unwrap_or_default();
    // Which process writes the log when several share one store.
    ingest["lease"] = serde_json::to_value(role).unwrap_or_default();
    // Values replaced before storing, by kind, since start.
    ingest["redactions"] = serde_json::to_value(state.redaction.counts()).unwrap_or_default();
    // The detectors that run behind ingestion (near-duplicates, goal
    // drift, priced runaways): whether they keep up.
    ingest["detectors_behind"] = serde_json::to_value(state.incidents.behind.snapshot()).unwrap_or_default();
    // Incidents are written off the request's path: how far that is.
    let (handed_over, durable) = state.incidents.handed_over_and_durable();
    ingest["incidents"] = json!({"handed_over": handed_over, "durable": durable});
    // The guard's answers, recorded off their path: how many made it.
    let (recorded, unrecorded) = state.guard.answer_counts();
    ingest["guard_answers"] = json!({"recorded": recorded, "unrecorded": unrecorded});
    let body = Health {
        status,
        reason,
        version: env!("CARGO_PKG_VERSION"),
        store: state.store.backend().describe(),
        ingest,
        search: search_health(&state).await,
    };
    (code, Json(body))
}

/// The same figures for a Prometheus scraper (text format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.ingestor.stats();
    let s = state.search.status().snapshot();
    let available = u8::from(state.search.unavailable().is_none());
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    };
    metric("flightlog_steps_accepted_total", "counter", "Steps accepted since start.", stats.accepted.load(Ordering::Relaxed).to_string());
    metric("flightlog_steps_duplicate_total", "counter", "Identical re-sends since start.", stats.duplicates.load(Ordering::Relaxed).to_string());
    let degraded = u8::from(state.ingestor.health() != WriterHealth::Healthy);
    metric("flightlog_writer_degraded", "gauge", "1 while the writer refuses steps after a failed write.", degraded.to_string());
    let holds = u8::from(matches!(state.ingestor.role(), flightlog_ingest::Role::Writer { .. }));
    metric("flightlog_writer_lease_held", "gauge", "1 while this process holds the writer lease.", holds.to_string());
    metric("flightlog_log_size", "gauge", "Entries in the log of accepted steps.", stats.next_log_index.load(Ordering::Relaxed).to_string());
    let (recorded, unrecorded) = state.guard.answer_counts();
    metric("flightlog_guard_answers_recorded_total", "counter", "Guard answers recorded in guard_answers since start.", recorded.to_string());
    metric("flightlog_guard_answers_unrecorded_total", "counter", "Guard answers not recorded (queue full or insert failed) since start.", unrecorded.to_string());
    metric("flightlog_search_available", "gauge", "1 when similar-failure search works.", available.to_string());
    metric("flightlog_indexer_steps_behind", "gauge", "Key decisions not yet indexed.", s.steps_behind.to_string());
    metric("flightlog_indexer_seconds_behind", "gauge", "Age of the oldest key decision not yet indexed.", s.seconds_behind.to_string());
    metric("flightlog_indexer_next_log_index", "gauge", "The indexer's high-water mark: the first log index not yet indexed.", s.next_log_index.to_string());
    metric("flightlog_indexer_points_written_total", "counter", "Points written to the vector index since start.", s.indexed.to_string());
    metric("flightlog_indexer_embedded_total", "counter", "Texts embedded since start (cache misses).", s.embedded.to_string());
    out.push_str("# HELP flightlog_redactions_total Personal data and secrets replaced in stored steps since start, by kind.\n");
    out.push_str("# TYPE flightlog_redactions_total counter\n");
    for (kind, n) in state.redaction.counts() {
        out.push_str(&format!("flightlog_redactions_total{{kind=\"{kind}\"}} {n}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
