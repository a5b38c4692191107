//! `flightlog incidents` and `flightlog alerts`: the incidents the
//! detectors found, their thresholds, and where incidents are sent, on a
//! running server.

use crate::client::{Client, ServerArgs, encode};
use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct IncidentsArgs {
    #[command(subcommand)]
    action: IncidentsAction,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Subcommand)]
enum IncidentsAction {
    /// The newest incidents, one line each (read key).
    List {
        /// repeated_side_effect, side_effect_across_sessions, loop, burst,
        /// runaway, cascading_failure, near_duplicate_side_effects or goal_drift.
        #[arg(long)]
        kind: Option<String>,
        /// open, acknowledged or resolved.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        session: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The whole answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an incident (admin key).
    Ack { id: String },
    /// Resolve an incident (admin key).
    Resolve { id: String },
    /// Open an incident again (admin key).
    Reopen { id: String },
    /// Show the detectors' thresholds for the project (admin key).
    Thresholds,
    /// Set the detectors' thresholds from a JSON file (`-`: standard
    /// input); fields left out take the defaults (admin key).
    SetThresholds { file: PathBuf },
}

#[derive(clap::Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    action: AlertsAction,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Subcommand)]
enum AlertsAction {
    /// The project's alert rules (secrets are not shown).
    Show,
    /// Replace the rules from a JSON file (`-`: standard input):
    /// {"rules": [{"name", "url", "secret", "kinds": [...], "format": "json" | "slack",
    /// "update_every_seconds"}]}; a rule without a secret keeps its old one.
    Set { file: PathBuf },
}


fn read_json(file: &Path) -> anyhow::Result<Value> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))
}

pub async fn incidents(args: IncidentsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let state_change = |id: &str, state: &str| (format!("/v1/incidents/{}/state", encode(id)), json!({"state": state}));
    let answer = match args.action {
        IncidentsAction::List { kind, state, session, limit, json } => {
            let mut query = vec![format!("limit={limit}")];
            for (name, value) in [("kind", kind), ("state", state), ("session_id", session)] {
                if let Some(v) = value {
                    query.push(format!("{name}={}", encode(&v)));
                }
            }
            let page = client.request(Method::GET, &format!("/v1/incidents?{}", query.join("&")), None).await?;
            if json {
                page
            } else {
                for i in page["incidents"].as_array().into_iter().flatten() {
                    crate::stdout::line(format_args!(
                        "{}  {:<12}  {:<28} ×{:<5} {}",
                        i["id"].as_str().unwrap_or_default(),
                        i["state"].as_str().unwrap_or_default(),
                        i["kind"].as_str().unwrap_or_default(),
                        i["count"],
                        i["message"].as_str().unwrap_or_default()
                    ))?;
                }
                return Ok(());
            }
        }
        IncidentsAction::Ack { id } => {
            let (path, body) = state_change(&id, "acknowledged");
            client.request(Method::POST, &path, Some(body)).await?
        }
        IncidentsAction::Resolve { id } => {
            let (path, body) = state_change(&id, "resolved");
            client.request(Method::POST, &path, Some(body)).await?
        }
        IncidentsAction::Reopen { id } => {
            let (path, body) = state_change(&id, "open");
            client.request(Method::POST, &path, Some(body)).await?
        }
        IncidentsAction::Thresholds => client.request(Method::GET, "/v1/policies/detection", None).await?,
        IncidentsAction::SetThresholds { file } => client.request(Method::PUT, "/v1/policies/detection", Some(read_json(&file)?)).await?,
    };
    crate::stdout::json(&answer)?;
    Ok(())
}

pub async fn alerts(args: AlertsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let answer = match args.action {
        AlertsAction::Show => client.request(Method::GET, "/v1/alerts/rules", None).await?,
        AlertsAction::Set { file } => client.request(Method::PUT, "/v1/alerts/rules", Some(read_json(&file)?)).await?,
    };
    crate::stdout::json(&answer)?;
    Ok(())
}
