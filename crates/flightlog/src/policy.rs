//! `flightlog policy` and `flightlog hold`: a project's redaction and
//! retention policies and its legal holds, on a running server (admin key).

use crate::client::{Client, ServerArgs};
use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    action: PolicyAction,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Subcommand)]
enum PolicyAction {
    /// Show the key's project's redaction and retention policies.
    Show,
    /// Set the redaction policy from a JSON file (`-`: standard input):
    /// {"kinds": [...], "custom": [{"name", "regex"}], "drop_paths": [...],
    /// "keep_paths": [...], "replacement": "pseudonym" | "mask"}.
    Redaction { file: PathBuf },
    /// Set how long content and steps are kept, in days after a session's
    /// last step (`forever` keeps them).
    Retention {
        #[arg(long, value_parser = days)]
        content_days: Days,
        #[arg(long, value_parser = days)]
        steps_days: Days,
    },
}

#[derive(Clone, Copy)]
struct Days(Option<u32>);

fn days(text: &str) -> Result<Days, String> {
    if text == "forever" {
        return Ok(Days(None));
    }
    text.parse().map(|d| Days(Some(d))).map_err(|_| format!("expected a number of days or `forever`, got {text:?}"))
}

#[derive(clap::Args)]
pub struct HoldArgs {
    #[command(subcommand)]
    action: HoldAction,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Subcommand)]
enum HoldAction {
    /// The legal holds in force.
    List,
    /// Hold a session or every session of a user: they never expire, and
    /// an erasure that would reach them is refused.
    Place {
        #[command(flatten)]
        subject: Subject,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Release a hold.
    Release {
        #[command(flatten)]
        subject: Subject,
        /// Why: kept with the release.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Subject {
    #[arg(long)]
    session: Option<String>,
    #[arg(long)]
    user: Option<String>,
}

impl Subject {
    fn parts(&self) -> (&'static str, &str) {
        match (&self.session, &self.user) {
            (Some(s), _) => ("session", s),
            (_, Some(u)) => ("user", u),
            _ => unreachable!("clap requires one"),
        }
    }
}

pub async fn policy(args: PolicyArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let answer = match args.action {
        PolicyAction::Show => json!({
            "redaction": client.request(Method::GET, "/v1/policies/redaction", None).await?,
            "retention": client.request(Method::GET, "/v1/policies/retention", None).await?,
        }),
        PolicyAction::Redaction { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
            };
            let body: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
            client.request(Method::PUT, "/v1/policies/redaction", Some(body)).await?
        }
        PolicyAction::Retention { content_days, steps_days } => {
            let body = json!({"content_days": content_days.0, "steps_days": steps_days.0});
            let answer = client.request(Method::PUT, "/v1/policies/retention", Some(body)).await?;
            for w in answer["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", w.as_str().unwrap_or_default());
            }
            answer
        }
    };
    crate::stdout::json(&answer)?;
    Ok(())
}

pub async fn hold(args: HoldArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let answer = match args.action {
        HoldAction::List => client.request(Method::GET, "/v1/legal-holds", None).await?,
        HoldAction::Place { subject, reason } => {
            let (subject, id) = subject.parts();
            client.request(Method::POST, "/v1/legal-holds", Some(json!({"subject": subject, "id": id, "reason": reason}))).await?
        }
        HoldAction::Release { subject, reason } => {
            let (subject, id) = subject.parts();
            let path = format!("/v1/legal-holds/{subject}/{}?reason={}", crate::client::encode(id), crate::client::encode(&reason));
            client.request_bytes(Method::DELETE, &path, None).await?;
            json!({"released": {"subject": subject, "id": id}})
        }
    };
    crate::stdout::json(&answer)?;
    Ok(())
}
