//! `flightlog verify`, `flightlog evidence`, `flightlog verify-bundle`.

use flightlog_integrity::verify::ReportStatus;
use crate::client::{Client, ServerArgs};
use anyhow::Context;
use flightlog_integrity::{bundle, verify};
use reqwest::Method;
use serde_json::Value;
use std::path::PathBuf;

/// One of the two is asked for (the refusal names both).
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["session", "all"])))]
pub struct VerifyArgs {
    /// The session to verify (with the key's project).
    #[arg(long)]
    session: Option<String>,
    /// Every step of every project, the whole log and every checkpoint.
    #[arg(long)]
    all: bool,
    /// Verify a stopped instance's data folder directly instead of asking a
    /// running server. With --session, also give --project. A replica on a
    /// ClickHouse server keeps its steps there: give --clickhouse-url (and
    /// its user, password, database) as well, to read them directly.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value = "default")]
    project: String,
    /// With --data-dir: the instance's public key (hex), the only key whose
    /// expiry and erasure records are accepted. Default: the key of the folder's
    /// signing key file, DATA_DIR/integrity/signing.key.
    #[arg(long)]
    public_key: Option<String>,
    /// With --data-dir: where the store is (the folder's embedded engine
    /// unless --clickhouse-url), and the memory one query may use.
    #[command(flatten)]
    store: crate::store::StoreArgs,
    #[command(flatten)]
    server: ServerArgs,
}

/// The instance's public key for an offline verification: given, or read
/// from the folder's signing key (never created here).
fn instance_key(args: &VerifyArgs, dir: &std::path::Path) -> anyhow::Result<Option<String>> {
    if let Some(key) = &args.public_key {
        return Ok(Some(key.clone()));
    }
    let path = dir.join("integrity/signing.key");
    match std::fs::read_to_string(&path) {
        Ok(seed) => Ok(Some(flightlog_integrity::signer::Signer::from_hex(seed.trim()).map_err(anyhow::Error::msg)?.public_key_hex())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("note: no {}; no expiry or erasure record can be accepted without --public-key", path.display());
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let report: Value = match &args.data_dir {
        Some(dir) => {
            // Opening a folder with no store in it would create an empty one
            // and verify it: a pass on nothing (a server-mode replica's
            // folder, or a mistyped path).
            let (found, at) = args.store.holds_a_store(dir).await?;
            if !found && args.store.is_server() {
                anyhow::bail!("{at} holds no Flightlog store (no log of record): nothing to verify. Check --clickhouse-database");
            }
            if !found {
                anyhow::bail!(
                    "{} holds no embedded store (no {at}): nothing to verify. A replica on a ClickHouse server keeps its steps there: \
                     add --clickhouse-url (and its user, password and database) to read them directly, or verify through a running server",
                    dir.display()
                );
            }
            // FLIGHTLOG_CLICKHOUSE_URL in the environment sets it too: said.
            eprintln!("verifying the store of {at}");
            let store = args.store.open_store(dir).await?;
            let key = instance_key(&args, dir)?;
            // The folder's mark of the newest checkpoint its instance signed.
            let deleted = verify::signed_checkpoint_deleted(&store, dir).await?;
            match &args.session {
                Some(id) => serde_json::to_value(
                    verify::verify_session(&store, &args.project, id, key.as_deref())
                        .await?
                        .with_context(|| format!("no session {id:?}"))?
                        .noting_deleted_checkpoint(deleted),
                )?,
                None => serde_json::to_value(verify::verify_all(&store, key.as_deref()).await?.with_deleted_checkpoint(deleted))?,
            }
        }
        None => {
            let client = Client::new(&args.server)?;
            let path = match &args.session {
                Some(id) => format!("/v1/sessions/{}/verify", crate::client::encode(id)),
                None => "/v1/integrity/verify".to_string(),
            };
            client.request(Method::GET, &path, None).await?
        }
    };
    crate::stdout::json(&report)?;
    summarise(&report)
}

/// One line for people, and the exit code for scripts: 1 when not verified.
fn summarise(report: &Value) -> anyhow::Result<()> {
    let count = |k: &str| report[k].as_u64().unwrap_or(0);
    if report["verified"] == true || report["status"] == ReportStatus::IntactNotYetSealed.as_str() {
        eprintln!(
            "{}: {} steps checked, {} sealed by a signed checkpoint, {} not yet sealed, {} erased fields",
            report["status"].as_str().unwrap_or(ReportStatus::Verified.as_str()),
            count("steps_checked").max(count("steps")),
            count("sealed"),
            count("not_yet_sealed"),
            report["erased"].as_array().map_or(0, Vec::len)
        );
        Ok(())
    } else {
        let problems = report["problems"].as_array().cloned().unwrap_or_default();
        eprintln!("NOT VERIFIED: {} problem(s)", problems.len());
        for p in problems.iter().take(20) {
            eprintln!("  [{}] {}", p["kind"].as_str().unwrap_or("?"), p["detail"].as_str().unwrap_or(""));
        }
        std::process::exit(1);
    }
}

#[derive(clap::Args)]
pub struct EvidenceArgs {
    #[arg(long)]
    session: String,
    /// Where to write the bundle (default: evidence-<session>.json).
    #[arg(long, short)]
    out: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

pub async fn evidence(args: EvidenceArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    // The server's own file name for it: a session id is free text (`a/b`).
    let out = args.out.unwrap_or_else(|| PathBuf::from(flightlog_app::integrity::evidence_file_name(&args.session)));
    let path = format!("/v1/sessions/{}/evidence", crate::client::encode(&args.session));
    let (bytes, _) = client.download(&path, &[], &out).await?;
    eprintln!("wrote {} ({bytes} bytes); check it with `flightlog verify-bundle {}`", out.display(), out.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct VerifyBundleArgs {
    file: PathBuf,
    /// The instance's public key (hex, from GET /v1/integrity/public-key):
    /// the checkpoint must be signed by it.
    #[arg(long)]
    public_key: Option<String>,
}

pub fn verify_bundle(args: VerifyBundleArgs) -> anyhow::Result<()> {
    // A step at a time: a bundle can be larger than memory.
    let report = bundle::verify_bundle_file(&args.file, args.public_key.as_deref())
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let value = serde_json::to_value(&report)?;
    crate::stdout::json(&value)?;
    summarise(&value)
}

/// A session, a user, or both (the refusal names both).
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["session", "user"])))]
pub struct EraseArgs {
    /// Erase this session's personal content.
    #[arg(long)]
    session: Option<String>,
    /// Erase this user's (in one session, with --session).
    #[arg(long)]
    user: Option<String>,
    /// Why (a ticket, the data subject's request): kept in the erasure's
    /// record (GET /v1/erasures).
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

pub async fn erase(args: EraseArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    // Only what was given: an empty id is refused, not read as "any".
    let mut body = serde_json::Map::new();
    for (field, id) in [("session_id", args.session), ("user_id", args.user), ("reason", args.reason)] {
        if let Some(id) = id {
            body.insert(field.into(), id.into());
        }
    }
    let body = serde_json::Value::Object(body);
    let done = client.request(Method::POST, "/v1/erasures", Some(body)).await?;
    crate::stdout::json(&done)?;
    Ok(())
}
