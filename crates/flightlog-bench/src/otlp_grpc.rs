//! `flightlog-bench otlp-grpc`: OTLP ingest over gRPC beside OTLP/HTTP
//! (protobuf), the same spans in the same batches, against one server in
//! one run. Each answer means durable; afterwards every span is counted
//! through the API (queryable), so a transport that answered early would
//! show.

use crate::ingest::{KEY, wait_ready};
use anyhow::{Context, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct OtlpGrpcArgs {
    /// Spans sent over each transport.
    #[arg(long, default_value_t = 20_000)]
    spans: u64,
    /// Spans per export request.
    #[arg(long, default_value_t = 500)]
    batch: u64,
    /// Concurrent exporters per transport.
    #[arg(long, default_value_t = 4)]
    clients: usize,
}

pub(crate) fn text(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }), ..Default::default() }
}

pub(crate) fn int(key: &str, value: i64) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }), ..Default::default() }
}

/// One export of `batch` GenAI chat spans of session `session`, numbered
/// from `first` (ids and times unique per span).
pub(crate) fn export(session: &str, first: u64, batch: u64) -> ExportTraceServiceRequest {
    let spans = (first..first + batch)
        .map(|n| {
            let start = 1_767_225_600_000_000_000u64 + n * 1_000_000_000;
            Span {
                trace_id: [&[7u8; 8][..], &n.to_be_bytes()].concat(),
                span_id: (n + 1).to_be_bytes().to_vec(),
                name: "chat gpt-4o-mini".into(),
                start_time_unix_nano: start,
                end_time_unix_nano: start + 800_000_000,
                attributes: vec![
                    text("gen_ai.operation.name", "chat"),
                    text("gen_ai.conversation.id", session),
                    text("gen_ai.provider.name", "openai"),
                    text("gen_ai.request.model", "gpt-4o-mini"),
                    int("gen_ai.usage.input_tokens", 900 + (n % 100) as i64),
                    int("gen_ai.usage.output_tokens", 120),
                    text("gen_ai.agent.name", "loan-assistant"),
                    text("gen_ai.output.messages", r#"[{"role":"assistant","parts":[{"type":"text","content":"The quarterly figures decide affordability; analyse them first."}]}]"#),
                ],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans: vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }] }
}

pub async fn run(args: OtlpGrpcArgs, flightlog: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let free = || std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    let (http_port, grpc_port) = (free()?, free()?);
    let server = tokio::process::Command::new(&flightlog)
        .args(["serve", "--listen", &format!("127.0.0.1:{http_port}"), "--otlp-grpc-listen", &format!("127.0.0.1:{grpc_port}"), "--data-dir"])
        .arg(dir.path())
        .env("FLIGHTLOG_BOOTSTRAP_KEY", KEY)
        .env("FLIGHTLOG_NO_SEARCH", "true")
        .env("FLIGHTLOG_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the server")?;
    let base = format!("http://127.0.0.1:{http_port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await?;
    println!("flightlog-bench otlp-grpc: {} spans per transport, {} per export, {} clients each", args.spans, args.batch, args.clients);
    let batches: Vec<u64> = (0..args.spans.div_ceil(args.batch)).collect();
    let pid = server.id().context("the server has exited")?;
    for transport in ["http", "grpc"] {
        let session = format!("otlp-{transport}");
        let started = Instant::now();
        let cpu_before = crate::ingest::cpu_time(pid)?;
        let mut tasks = Vec::new();
        for c in 0..args.clients {
            let mine: Vec<u64> = batches.iter().copied().filter(|b| *b as usize % args.clients == c).collect();
            let (session, http, base, batch) = (session.clone(), http.clone(), base.clone(), args.batch);
            let grpc = format!("http://127.0.0.1:{grpc_port}");
            tasks.push(tokio::spawn(async move {
                let mut client = match transport {
                    "grpc" => Some(TraceServiceClient::connect(grpc).await?.send_compressed(tonic::codec::CompressionEncoding::Gzip)),
                    _ => None,
                };
                for b in mine {
                    let request = export(&session, b * batch, batch);
                    match client.as_mut() {
                        Some(grpc) => {
                            let mut call = tonic::Request::new(request);
                            call.metadata_mut().insert("authorization", format!("Bearer {KEY}").parse()?);
                            let answer = grpc.export(call).await?.into_inner();
                            if let Some(p) = answer.partial_success.filter(|p| p.rejected_spans > 0) {
                                bail!("gRPC export refused spans: {}", p.error_message);
                            }
                        }
                        None => {
                            let answer = http
                                .post(format!("{base}/v1/traces"))
                                .bearer_auth(KEY)
                                .header("content-type", "application/x-protobuf")
                                .body(request.encode_to_vec())
                                .send()
                                .await?;
                            if !answer.status().is_success() || answer.headers().get("x-flightlog-rejected").is_some_and(|v| v != "0") {
                                bail!("HTTP export failed: {}", answer.status());
                            }
                        }
                    }
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        let cpu = crate::ingest::cpu_time(pid)?.saturating_sub(cpu_before);
        let summary: serde_json::Value = http.get(format!("{base}/v1/sessions/{session}")).bearer_auth(KEY).send().await?.json().await?;
        let stored = summary["steps"].as_u64().unwrap_or(0);
        if stored != batches.len() as u64 * args.batch {
            bail!("{transport}: {stored} spans queryable after the last answer, expected {}", batches.len() as u64 * args.batch);
        }
        println!(
            "OTLP/{transport}: {stored} spans durable and queryable in {secs:.2} s = {:.0} spans/s; server CPU {:.1} ms per 1,000 spans",
            stored as f64 / secs,
            cpu.as_secs_f64() * 1e3 / (stored as f64 / 1000.0)
        );
    }
    Ok(())
}
