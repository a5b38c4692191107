//! OTLP spans in, steps stored: what OTLP/HTTP (`POST /v1/traces`) and the
//! OTLP/gRPC TraceService both do once they hold a decoded export request.
//! Each GenAI span becomes one step (flightlog-decode's mapping) and goes
//! through the same validation and the same single writer as
//! `POST /v1/steps`, so an answer means durable, a re-sent span is a
//! duplicate, and spans that cannot be stored are counted with the reasons.

use crate::ingest::{self, RejectionCode};
use crate::{AppError, AppState};
use flightlog_decode::otlp::{ExportTraceServiceRequest, SpanOutcome, map_request};
use flightlog_model::Limits;

/// Reasons quoted in a partial success's message, at most.
const MAX_REASONS: usize = 5;

/// The spans of one export, mapped and validated, ready for the writer.
pub struct PreparedSpans {
    steps: ingest::Prepared,
    /// Span reference (trace/span) of each record given to `steps`.
    references: Vec<String>,
    /// Why spans were refused before they became records, by span position.
    refused: Vec<(usize, String)>,
    /// Span position of each record given to `steps`.
    positions: Vec<usize>,
    skipped: usize,
}

impl PreparedSpans {
    /// How many of the export's spans became steps for the writer.
    pub fn steps(&self) -> usize {
        self.references.len()
    }
}

/// More spans in one export than a request may carry.
#[derive(Debug, thiserror::Error)]
#[error("{spans} spans in one request; the limit is {limit}: export smaller batches")]
pub struct TooManySpans {
    pub spans: usize,
    pub limit: usize,
}

/// What became of an export's spans.
#[derive(Debug, Default)]
pub struct SpanReport {
    pub accepted: usize,
    pub duplicates: usize,
    /// Spans that are not GenAI steps (HTTP, database…), left out.
    pub skipped: usize,
    /// Why each refused span was refused, in span order, conflicts last.
    pub rejected: Vec<String>,
}

impl SpanReport {
    /// The partial success's message: the first reasons, and how many more.
    pub fn message(&self) -> String {
        let mut m = self.rejected.iter().take(MAX_REASONS).cloned().collect::<Vec<_>>().join("; ");
        if self.rejected.len() > MAX_REASONS {
            m.push_str(&format!("; and {} more", self.rejected.len() - MAX_REASONS));
        }
        m
    }
}

/// Maps and validates an export's spans (CPU work: call it off the async
/// threads).
pub fn prepare_spans(
    request: &ExportTraceServiceRequest,
    limits: &Limits,
    project: &str,
    redactor: Option<&flightlog_redact::Redactor>,
) -> Result<PreparedSpans, TooManySpans> {
    let spans = map_request(request);
    if spans.len() > limits.max_records {
        return Err(TooManySpans { spans: spans.len(), limit: limits.max_records });
    }
    let (mut records, mut references, mut positions, mut refused, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
    for (position, span) in spans.into_iter().enumerate() {
        match span.outcome {
            SpanOutcome::Skipped => skipped += 1,
            SpanOutcome::Rejected(reason) => refused.push((position, format!("span {}: {reason}", span.reference))),
            SpanOutcome::Step(value) => {
                records.push(Ok(value));
                references.push(span.reference);
                positions.push(position);
            }
        }
    }
    Ok(PreparedSpans { steps: ingest::prepare(records, limits, project, redactor), references, refused, positions, skipped })
}

impl AppState {
    /// Stores the prepared spans; returns once they are durable.
    pub async fn export_spans(&self, project: &str, prepared: PreparedSpans) -> Result<SpanReport, AppError> {
        let PreparedSpans { steps, references, mut refused, positions, skipped } = prepared;
        let report = self.submit(project, steps).await?;
        let mut conflicts = Vec::new();
        for r in report.rejected {
            let reference = &references[r.index];
            match r.code {
                RejectionCode::Invalid => refused.push((positions[r.index], format!("span {reference}: {}: {}", r.field, r.reason))),
                RejectionCode::Conflict => conflicts.push(format!(
                    "span {reference}: step {} of session {:?} is already stored with different content",
                    r.step.unwrap_or_default(),
                    r.session_id.unwrap_or_default()
                )),
            }
        }
        refused.sort_by_key(|(position, _)| *position);
        Ok(SpanReport {
            accepted: report.accepted,
            duplicates: report.duplicates,
            skipped,
            rejected: refused.into_iter().map(|(_, m)| m).chain(conflicts).collect(),
        })
    }
}
