//! Exports as files: `GET /v1/export/steps` (raw steps of a time range) and
//! `GET /v1/costs?format=…`. Written batch by batch and streamed, so a large
//! range is never held in memory.

use crate::AppState;
use crate::auth::Scope;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use crate::extract::Query;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use flightlog_export::{Column, Format, Kind, SharedBuffer, TableWriter};
use flightlog_model::time::{format_timestamp, parse_timestamp};
use serde_json::Value;
use tokio::sync::mpsc;

const PAGE: u32 = 10_000;

/// The columns of a steps export: the CSV import's, then the record's.
fn step_columns() -> Vec<Column> {
    use Kind::*;
    [
        ("session_id", Text), ("step", Int), ("timestamp", Text), ("agent_name", Text), ("agent_version", Text),
        ("reasoning", Text), ("considered_tools", Text), ("chosen_tool", Text), ("confidence", Float),
        ("tool_name", Text), ("tool_params", Text), ("tool_result", Text), ("tool_status", Text), ("tool_error", Text),
        ("tool_duration_ms", Int), ("model_provider", Text), ("model_name", Text), ("model_version", Text),
        ("temperature", Float), ("top_p", Float), ("seed", Int), ("max_tokens", Int), ("prompt_system", Text),
        ("prompt_messages", Text), ("completion", Text), ("input_tokens", Int), ("output_tokens", Int),
        ("cache_read_tokens", Int), ("cache_write_tokens", Int), ("reasoning_tokens", Int), ("estimated_cost", Float),
        ("user_id", Text), ("tags", Text), ("metadata", Text), ("log_index", Int), ("step_hash", Text), ("received_at", Text),
    ]
    .into_iter()
    .map(|(name, kind)| Column::new(name, kind))
    .collect()
}

pub fn format_param(s: &str) -> Result<Format, ApiError> {
    Format::parse(s).ok_or_else(|| ApiError::bad_param("format", format!("must be csv, arrow or parquet, got {s:?}")))
}

/// A streamed file download; `produce` writes the table and returns when done.
pub fn stream_file<F, Fut>(format: Format, name: &str, produce: F) -> Response
where
    F: FnOnce(mpsc::Sender<Result<Bytes, std::io::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(produce(tx));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }));
    let disposition = format!("attachment; filename=\"{name}.{}\"", format.extension());
    ([(header::CONTENT_TYPE, format.content_type().to_string()), (header::CONTENT_DISPOSITION, disposition)], body).into_response()
}

/// Writes `rows` (JSON objects) as table rows in the order of `columns`.
pub fn as_rows(columns: &[Column], rows: &[serde_json::Map<String, Value>]) -> Vec<Vec<Value>> {
    rows.iter().map(|r| columns.iter().map(|c| r.get(&c.name).cloned().unwrap_or(Value::Null)).collect()).collect()
}

#[derive(serde::Deserialize)]
pub struct StepsExport {
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub async fn steps(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<StepsExport>) -> Result<Response, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let format = format_param(p.format.as_deref().unwrap_or_default())?;
    let time = |name: &str, v: &Option<String>, default: i64| match v {
        None => Ok(default),
        Some(s) => parse_timestamp(s).map_err(|e| ApiError::bad_param(name, e.reason)),
    };
    let (from_us, to_us) = (time("from", &p.from, 0)?, time("to", &p.to, 7_258_118_400_000_000)?);
    let store = state.store.clone();
    Ok(stream_file(format, "steps", move |tx| async move {
        let columns = step_columns();
        let buf = SharedBuffer::default();
        let result: Result<(), String> = async {
            let mut writer = TableWriter::new(format, columns.clone(), buf.clone()).map_err(|e| e.to_string())?;
            let mut after: Option<(String, u64)> = None;
            loop {
                let cursor = after.as_ref().map(|(s, n)| (s.as_str(), *n));
                let mut page = store.export_steps_page(&principal.project, from_us, to_us, cursor, PAGE).await.map_err(|e| e.to_string())?;
                let full = page.len() as u32 == PAGE;
                for row in &mut page {
                    for (us, name) in [("timestamp_us", "timestamp"), ("received_us", "received_at")] {
                        let t = row.get(us).and_then(Value::as_i64).map(format_timestamp);
                        row.insert(name.to_string(), t.map_or(Value::Null, Value::String));
                    }
                }
                after = page.last().and_then(|r| Some((r.get("session_id")?.as_str()?.to_string(), r.get("step")?.as_u64()?)));
                writer.write(&as_rows(&columns, &page)).map_err(|e| e.to_string())?;
                if tx.send(Ok(Bytes::from(buf.take()))).await.is_err() {
                    return Ok(()); // the client went away
                }
                if !full {
                    break;
                }
            }
            writer.finish().map_err(|e| e.to_string())?;
            let _ = tx.send(Ok(Bytes::from(buf.take()))).await;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            // Headers are sent already: the body ends in an error, which the
            // client sees as a broken transfer rather than a complete file.
            tracing::error!(error = %e, "steps export failed");
            let _ = tx.send(Err(std::io::Error::other(e))).await;
        }
    }))
}
