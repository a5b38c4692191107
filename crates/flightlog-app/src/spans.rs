//! OTLP spans in, steps stored: what OTLP/HTTP (`POST /v1/traces`) and the
//! OTLP/gRPC TraceService both do once they hold an export request.
//! Each GenAI span becomes one step (flightlog-decode's mapping) and goes
//! through the same validation and the same single writer as
//! `POST /v1/steps`, so an answer means durable, a re-sent span is a
//! duplicate, and spans that cannot be stored are counted with the reasons.
//!
//! A span's step number comes from its start time and its id
//! (flightlog-decode's mapping), so two spans of one session can be given
//! the same number (one pair in 1,000 of those starting in the same
//! microsecond). The writer then refuses the later as a conflict; here it
//! is told apart from a span sent again changed by the span ids the stored
//! step holds, and numbered one further, until it finds a number free or
//! its own (a retry of it then finds it there, a duplicate).

use crate::ingest::{self, RejectionCode};
use crate::{AppError, AppState};
use flightlog_decode::body::{BodyError, gunzip};
use flightlog_decode::otlp::{Encoding, ExportTraceServiceRequest, SpanOutcome, decode_request, encode_request, map_request, map_spans_at};
/// Why an export could not be read: the front ends tell its kinds apart.
pub use flightlog_decode::otlp::OtlpError;
use flightlog_model::Limits;
use flightlog_model::step::MAX_STEP;
use flightlog_store::spans::Origin;
use flightlog_model::validate::FieldError;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Reasons quoted in a partial success's message, at most.
const MAX_REASONS: usize = 5;

/// Numbers tried past its own for a span whose number another span of its
/// session holds; then it is refused as a conflict.
const MAX_RENUMBERINGS: usize = 16;

/// An export as it was received: kept, rather than the spans it decodes
/// to, to map a span again with another number (a body is smaller, gzip
/// much smaller, and it is moved here, not copied).
pub struct ReceivedExport {
    pub body: Vec<u8>,
    pub gzip: bool,
    pub encoding: Encoding,
}

/// Why an export cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Otlp(#[from] OtlpError),
    #[error(transparent)]
    TooManySpans(#[from] TooManySpans),
}

impl ReceivedExport {
    /// An export that came decoded (OTLP/gRPC), kept as protobuf.
    pub fn of_request(request: &ExportTraceServiceRequest) -> Self {
        ReceivedExport { body: encode_request(request), gzip: false, encoding: Encoding::Protobuf }
    }

    fn decode(&self, limits: &Limits) -> Result<ExportTraceServiceRequest, ExportError> {
        Ok(match self.gzip {
            true => decode_request(&gunzip(&self.body, limits.max_decoded_bytes)?, self.encoding)?,
            false => decode_request(&self.body, self.encoding)?,
        })
    }
}

/// The spans of one export, mapped and validated, ready for the writer.
pub struct PreparedSpans {
    export: ReceivedExport,
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

/// Decodes an export and maps and validates its spans (CPU work: call it
/// off the async threads).
pub fn prepare_spans(
    export: ReceivedExport,
    limits: &Limits,
    project: &str,
    redactor: Option<&flightlog_redact::Redactor>,
) -> Result<PreparedSpans, ExportError> {
    let spans = map_request(&export.decode(limits)?);
    if spans.len() > limits.max_records {
        return Err(TooManySpans { spans: spans.len(), limit: limits.max_records }.into());
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
    Ok(PreparedSpans { export, steps: ingest::prepare(records, limits, project, redactor), references, refused, positions, skipped })
}

impl AppState {
    /// Stores the prepared spans; returns once they are durable.
    pub async fn export_spans(&self, project: &str, prepared: PreparedSpans) -> Result<SpanReport, AppError> {
        let PreparedSpans { export, mut steps, references, mut refused, positions, skipped } = prepared;
        let mut report = SpanReport { skipped, ..SpanReport::default() };
        let mut conflicts = Vec::new();
        // The span record (an index into `references`) of each record of
        // this round, in order.
        let mut round: Vec<usize> = (0..references.len()).collect();
        for renumbering in 0..=MAX_RENUMBERINGS {
            let submitted = self.submit(project, steps).await?;
            (report.accepted, report.duplicates) = (report.accepted + submitted.accepted, report.duplicates + submitted.duplicates);
            // Conflicts by session: (span record, the number it was refused at).
            let mut held: BTreeMap<String, Vec<(usize, u64)>> = BTreeMap::new();
            for r in submitted.rejected {
                let record = round[r.index];
                let reference = &references[record];
                match (r.code, r.session_id, r.step) {
                    (RejectionCode::Invalid, ..) => refused.push((positions[record], format!("span {reference}: {}: {}", r.field, r.reason))),
                    (RejectionCode::Conflict, Some(session), Some(step)) => held.entry(session).or_default().push((record, step)),
                    (RejectionCode::Conflict, session, step) => conflicts.push(conflict(reference, step, session)),
                }
            }
            let mut renumbered = BTreeMap::new();
            for (session, records) in held {
                let numbers: Vec<u64> = records.iter().map(|(_, step)| *step).collect();
                let stored = self.store.spans_of_steps(project, &session, &numbers).await?;
                for (record, step) in records {
                    let reference = &references[record];
                    let next = step.checked_add(1).filter(|n| *n <= MAX_STEP);
                    match (held_by_another(stored.get(&step), reference), next) {
                        (true, Some(next)) if renumbering < MAX_RENUMBERINGS => {
                            renumbered.insert(positions[record], (record, next));
                        }
                        (true, _) => conflicts.push(format!(
                            "span {reference}: step {step} of session {session:?} and the {renumbering} before it are held by other spans of the session"
                        )),
                        (false, _) => conflicts.push(conflict(reference, Some(step), Some(session.clone()))),
                    }
                }
            }
            if renumbered.is_empty() {
                break;
            }
            let request = export.decode(&self.limits).map_err(|e| AppError::unavailable("an export decoded once no longer decodes", e))?;
            let wanted: BTreeSet<usize> = renumbered.keys().copied().collect();
            let records = map_spans_at(&request, &wanted).into_iter().zip(renumbered.values()).map(|(span, (_, step))| match span.outcome {
                SpanOutcome::Step(mut value) => {
                    value["step"] = json!(step);
                    Ok(value)
                }
                _ => Err(FieldError { field: "span".into(), reason: "mapped differently a second time".into() }),
            });
            let records: Vec<Result<Value, FieldError>> = records.collect();
            drop(request);
            let redactor = self.redactor(project).await?;
            steps = ingest::prepare(records, &self.limits, project, redactor.as_deref());
            round = renumbered.into_values().map(|(record, _)| record).collect();
        }
        refused.sort_by_key(|(position, _)| *position);
        report.rejected = refused.into_iter().map(|(_, m)| m).chain(conflicts).collect();
        Ok(report)
    }
}

/// Whether the stored step that holds a span's number is another's: a
/// step sent natively, or another span's by its ids. Ids that are not
/// plain hex (a step stored before they were kept from redaction) prove
/// nothing, nor does a step not read: the span is then refused as a
/// conflict rather than stored again under another number.
fn held_by_another(stored: Option<&Origin>, reference: &str) -> bool {
    let hex = |id: &str, len: usize| id.len() == len && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match stored {
        Some(Origin::Native) => true,
        Some(Origin::Span { trace_id, span_id }) => {
            hex(trace_id, 32) && hex(span_id, 16) && Some((trace_id.as_str(), span_id.as_str())) != reference.split_once('/')
        }
        None => false,
    }
}

fn conflict(reference: &str, step: Option<u64>, session: Option<String>) -> String {
    format!(
        "span {reference}: step {} of session {:?} is already stored with different content",
        step.unwrap_or_default(),
        session.unwrap_or_default()
    )
}
