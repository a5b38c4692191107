//! `flightlog prices`: the price list and a project's overrides.

use crate::client::{Client, ServerArgs};
use reqwest::Method;
use serde_json::json;

#[derive(clap::Args)]
pub struct PricesArgs {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Subcommand)]
enum Action {
    /// The shipped list and the key's project overrides.
    List,
    /// Sets a price for the key's project from a date on (admin key); past
    /// steps from that date are re-priced, since costs are computed when asked.
    Override {
        /// Any spelling of the model name.
        #[arg(long)]
        model: String,
        /// RFC 3339, e.g. 2025-01-01T00:00:00Z.
        #[arg(long)]
        from: String,
        /// USD per 1M input tokens.
        #[arg(long, value_parser = price)]
        input: f64,
        /// USD per 1M output tokens.
        #[arg(long, value_parser = price)]
        output: f64,
        /// USD per 1M cached input tokens read (default: the input price, no discount).
        #[arg(long, value_parser = price)]
        cache_read: Option<f64>,
        /// USD per 1M input tokens written to the cache (default: the input price).
        #[arg(long, value_parser = price)]
        cache_write: Option<f64>,
        #[arg(long, default_value = "")]
        note: String,
    },
}

/// A price as typed: an amount of USD (`nan` would be sent as null, and
/// refused as a missing number).
fn price(s: &str) -> Result<f64, String> {
    flightlog_model::budget::parse_usd(s).ok_or_else(|| format!("{s:?}: expected USD per 1M tokens, a number >= 0"))
}

pub async fn run(args: PricesArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let answer = match args.action {
        Action::List => client.request(Method::GET, "/v1/prices", None).await?,
        Action::Override { model, from, input, output, cache_read, cache_write, note } => {
            let body = json!({"model_key": model, "effective_from": from, "input": input, "output": output,
                              "cache_read": cache_read, "cache_write": cache_write, "source": note});
            client.request(Method::POST, "/v1/prices/overrides", Some(body)).await?
        }
    };
    crate::stdout::json(&answer)?;
    Ok(())
}
