//! The HTTP client the CLI commands share to reach a running server.

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// A value as one URL path segment or query value: session ids and other
/// names are free text (`a/b`, `x?y#z` are ids like any other).
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// Base URL of the Flightlog server.
    #[arg(long, env = "FLIGHTLOG_URL", default_value = "http://127.0.0.1:4318")]
    pub url: String,
    /// API key (ingest scope for import, read for verify, admin for keys).
    #[arg(long, env = "FLIGHTLOG_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// Waits between sends of a batch while the server is unreachable or
/// answers 503: 0.2 s, doubling, five times (six attempts in all).
const RETRY: backon::ExponentialBuilder =
    backon::ExponentialBuilder::new().with_min_delay(Duration::from_millis(200)).with_max_times(5);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    pub fn new(args: &ServerArgs) -> anyhow::Result<Self> {
        let key = args.key.clone().context("no API key: pass --key or set FLIGHTLOG_KEY")?;
        Ok(Self { http: reqwest::Client::new(), base: args.url.trim_end_matches('/').to_string(), key })
    }

    /// POSTs a batch of NDJSON steps. Retries while the server is
    /// unreachable or answers 503: ingestion is idempotent, so a retry can
    /// never create a duplicate.
    pub async fn post_steps(&self, body: Vec<u8>) -> anyhow::Result<(StatusCode, Value)> {
        use backon::BackoffBuilder;
        let mut delays = RETRY.build();
        for attempt in 1.. {
            let sent = self
                .http
                .post(format!("{}/v1/steps", self.base))
                .bearer_auth(&self.key)
                .header("content-type", "application/x-ndjson")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status() != StatusCode::SERVICE_UNAVAILABLE => {
                    let status = r.status();
                    let json = r.json().await.context("the server's answer is not JSON")?;
                    return Ok((status, json));
                }
                sent => match (delays.next(), sent) {
                    (Some(delay), _) => tokio::time::sleep(delay).await,
                    (None, Ok(r)) => bail!("server unavailable after {attempt} attempts: {}", r.text().await.unwrap_or_default()),
                    (None, Err(e)) => bail!("cannot reach {} after {attempt} attempts: {e}", self.base),
                },
            }
        }
        unreachable!()
    }

    pub async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let bytes = self.request_bytes(method, path, body).await?;
        serde_json::from_slice(&bytes).context("the server's answer is not JSON")
    }

    /// GETs a file (`query` added to `path`) into `out`, a piece at a time
    /// with a progress bar: a bundle or an export can be larger than
    /// memory. It is written beside `out` and put in its place only once
    /// whole, so a download cut short leaves no partial file, and an
    /// earlier file there stands. Returns its size in bytes and the
    /// answer's headers.
    pub async fn download(
        &self,
        path: &str,
        query: &[(&str, String)],
        out: &std::path::Path,
    ) -> anyhow::Result<(u64, reqwest::header::HeaderMap)> {
        use std::io::Write;
        let url = format!("{}{path}", self.base);
        let mut resp =
            self.http.get(&url).bearer_auth(&self.key).query(query).send().await.with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(refusal(status, &resp.bytes().await.unwrap_or_default()));
        }
        let cannot_write = || format!("cannot write {}", out.display());
        // Not a file to put in place (`-o /dev/stdout`, a pipe): written to
        // as it comes. Otherwise a temporary file beside it, put in its place
        // once whole.
        let (file, part) = if std::fs::metadata(out).is_ok_and(|m| !m.is_file()) {
            (std::fs::OpenOptions::new().write(true).open(out).with_context(cannot_write)?, None)
        } else {
            let folder = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            // Readable as a file created in its place would be (the umask
            // applies), not only by its owner as a temporary file is.
            let (file, part) = tempfile::Builder::new()
                .prefix(".flightlog-download")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                .tempfile_in(folder)
                .with_context(cannot_write)?
                .into_parts();
            (file, Some(part))
        };
        let mut file = std::io::BufWriter::new(file);
        let bar = match resp.content_length() {
            Some(len) => indicatif::ProgressBar::new(len)
                .with_style(indicatif::ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes}, {bytes_per_sec} {msg}")?),
            None => indicatif::ProgressBar::new_spinner()
                .with_style(indicatif::ProgressStyle::with_template("{spinner} {bytes} received, {bytes_per_sec} {msg}")?),
        };
        bar.set_message(out.display().to_string());
        let mut written = 0;
        while let Some(chunk) = resp.chunk().await.context("the download was interrupted")? {
            file.write_all(&chunk).with_context(cannot_write)?;
            written += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
        }
        let file = file.into_inner().map_err(|e| e.into_error()).with_context(cannot_write)?;
        if let Some(part) = part {
            file.sync_all().with_context(cannot_write)?;
            part.persist(out).with_context(cannot_write)?;
        }
        bar.finish_and_clear();
        Ok((written, resp.headers().clone()))
    }

    /// Like `request`, for answers that are files rather than JSON to read.
    pub async fn request_bytes(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Vec<u8>> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        let bytes = resp.bytes().await?.to_vec();
        if !status.is_success() {
            return Err(refusal(status, &bytes));
        }
        Ok(bytes)
    }
}

/// A server's refusal as the error to show: its status, and the field and
/// message of its error body when it has one.
fn refusal(status: StatusCode, body: &[u8]) -> anyhow::Error {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(message) = json["error"]["message"].as_str() else {
        // Not ours (a proxy's page): the start of what it said.
        let text = String::from_utf8_lossy(body);
        let said: String = text.trim().chars().take(200).collect();
        return anyhow::anyhow!("{status}: {}", if said.is_empty() { "request failed" } else { &said });
    };
    match json["error"]["field"].as_str() {
        Some(field) => anyhow::anyhow!("{status}: {field}: {message}"),
        None => anyhow::anyhow!("{status}: {message}"),
    }
}
