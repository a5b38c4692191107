//! Exports as files: `GET /v1/export/steps` (raw steps of a time range) and
//! `GET /v1/costs?format=…`. Written batch by batch and streamed, so a large
//! range is never held in memory.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use crate::extract::Query;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use flightlog_app::access_log::{Access, FrontEnd};
use flightlog_export::{Column, Format, Kind, SharedBuffer, TableWriter};
use flightlog_model::time::format_timestamp;
use serde_json::Value;
use tokio::sync::mpsc;

const PAGE: u32 = 10_000;

/// The columns of a steps export: the CSV import's, then the record's
/// (`flightlog_model::columns::exported`, the one definition).
fn step_columns() -> Vec<Column> {
    use flightlog_model::columns::Value;
    flightlog_model::columns::exported()
        .map(|c| {
            let kind = match c.value() {
                Value::Text => Kind::Text,
                Value::Int => Kind::Int,
                Value::UInt => Kind::UInt,
                Value::Float => Kind::Float,
                Value::Bool => Kind::Bool,
            };
            Column::new(c.export_name(), kind)
        })
        .collect()
}

pub fn format_param(s: &str) -> Result<Format, ApiError> {
    Ok(flightlog_app::costs::file_format(s)?)
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

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
// An unknown parameter is refused, not ignored.
#[serde(deny_unknown_fields)]
pub struct StepsExport {
    /// csv, arrow or parquet.
    #[param(schema_with = flightlog_app::param_schemas::file_format)]
    #[serde(default)]
    format: String,
    /// Steps at or after this time (RFC 3339).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Steps before this time (RFC 3339).
    #[param(format = DateTime)]
    to: Option<String>,
}

/// The project's steps of a time range as a file, streamed.
#[utoipa::path(get, path = "/v1/export/steps", tag = "exports", params(StepsExport),
    responses((status = 200, description = "The steps as a file", content(
        (crate::openapi::Binary = "text/csv"),
        (crate::openapi::Binary = "application/vnd.apache.arrow.stream"),
        (crate::openapi::Binary = "application/vnd.apache.parquet"),
    ))), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn steps(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<StepsExport>) -> Result<Response, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let format = format_param(&p.format)?;
    let (from_us, to_us) = flightlog_app::params::time_range(p.from.as_deref(), p.to.as_deref())?;
    let (from_us, to_us) = (from_us.unwrap_or(0), to_us.unwrap_or(flightlog_model::time::END_OF_TIME_US));
    // Recorded before the first byte: the file is streamed as it is read.
    let asked = serde_json::json!({"format": p.format, "from": p.from, "to": p.to});
    state.record_read(Access::new(&principal, FrontEnd::Api, "GET /v1/export/steps").filter(&asked).whole_project()).await?;
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
                    for name in flightlog_model::columns::exported().filter(|c| c.is_time()).map(|c| c.export_name()) {
                        let us = flightlog_store::export::micros_key(name);
                        let t = row.get(&us).and_then(Value::as_i64).map(format_timestamp);
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

/// A file already written in full (a few rows, like the cost groups).
pub fn file_response(format: Format, name: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{name}.{}\"", format.extension());
    ([(header::CONTENT_TYPE, format.content_type().to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response()
}
