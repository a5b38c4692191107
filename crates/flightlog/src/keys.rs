//! `flightlog keys`: manage API keys on a running server (admin key).

use crate::client::{Client, ServerArgs};
use reqwest::Method;
use serde_json::json;

#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create a key; prints it once.
    Create {
        /// Project the key belongs to (default: the admin key's own).
        #[arg(long)]
        project: Option<String>,
        /// Comma-separated: ingest, read, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by its id.
    Revoke { key_id: String },
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let answer = match args.action {
        Action::Create { project, scopes, name } => {
            client.request(Method::POST, "/v1/keys", Some(json!({"project": project, "scopes": scopes, "name": name}))).await?
        }
        Action::List => client.request(Method::GET, "/v1/keys", None).await?,
        Action::Revoke { key_id } => client.request(Method::DELETE, &format!("/v1/keys/{}", crate::client::encode(&key_id)), None).await?,
    };
    crate::stdout::json(&answer)?;
    Ok(())
}
