use crate::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// Unauthenticated: says whether the process is up and how its parts are.
pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let stats = state.ingestor.stats();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "store": state.store.backend().describe(),
        "ingest": {
            "queued_requests": state.ingestor.queued(),
            "accepted": stats.accepted.load(Ordering::Relaxed),
            "duplicates": stats.duplicates.load(Ordering::Relaxed),
            "conflicts": stats.conflicts.load(Ordering::Relaxed),
            "group_commits": stats.group_commits.load(Ordering::Relaxed),
            "failed_commits": stats.failed_commits.load(Ordering::Relaxed),
            "log_size": stats.next_log_index.load(Ordering::Relaxed),
        },
    }))
}
