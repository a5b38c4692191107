//! `flightlog bench-costs`: cost queries over a large embedded store.
//! Generates N steps inside ClickHouse (INSERT … SELECT FROM numbers(),
//! timed; not the HTTP path, which `flightlog bench` measures), then times
//! cost by model × day and the top-100 sessions by cost.

use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{CostDimension, CostQuery, Store};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchCostsArgs {
    #[arg(long, default_value_t = 10_000_000)]
    steps: u64,
    /// Timed runs of each query.
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

/// Ten models (one unpriced), 200 agents' worth of users, 100-step
/// sessions, spread over 90 days.
const GENERATE: &str = "INSERT INTO steps (project, session_id, step, ts, agent_name, model_provider, model_name, model_key, \
    user_id, tool_name, input_tokens, cache_read_tokens, output_tokens, reasoning_tokens, estimated_cost, failed, log_index) \
    SELECT 'bench', concat('s', toString(intDiv(number, 100))), number % 100, \
    toDateTime64('2025-07-01 00:00:00', 6, 'UTC') + toIntervalSecond(intDiv(number * 7776000, {n:UInt64})), \
    concat('agent-', toString(number % 20)), 'openai', \
    arrayElement(['gpt-4o','gpt-4o-mini','gpt-4.1','o3','claude-sonnet-4','claude-3-5-haiku','gemini-2.5-pro','gemini-2.5-flash','gpt-5','mystery'], 1 + number % 10), \
    arrayElement(['gpt-4o','gpt-4o-mini','gpt-4.1','o3','claude-sonnet-4','claude-3-5-haiku','gemini-2.5-pro','gemini-2.5-flash','gpt-5','mystery'], 1 + number % 10), \
    concat('customer-', toString(number % 5000)), 'search', 500 + number % 3000, (number % 7) * 100, 50 + number % 800, \
    if(number % 10 = 3, 200, 0), 0.01, number % 97 = 0, number FROM numbers({n:UInt64})";

pub async fn run(args: BenchCostsArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), &dir.path().join("clickhouse"), 2)?)).await?;
    let started = Instant::now();
    store.backend().query(GENERATE, flightlog_store::Params::new().number("n", args.steps)).await?;
    println!(
        "generated {} steps in ClickHouse in {:.1} s ({:.0} steps/s; INSERT … SELECT, not the HTTP path)",
        args.steps,
        started.elapsed().as_secs_f64(),
        args.steps as f64 / started.elapsed().as_secs_f64()
    );
    let whole = CostQuery { to_us: i64::MAX / 2, ..Default::default() };
    let queries = [
        ("cost by model x day", CostQuery { group_by: vec![CostDimension::Model, CostDimension::Day], limit: 10_000, ..whole.clone() }),
        ("top-100 sessions by cost", CostQuery { group_by: vec![CostDimension::Session], limit: 100, ..whole.clone() }),
    ];
    for (name, q) in queries {
        let mut times = Vec::new();
        let mut groups = 0;
        for _ in 0..args.runs {
            let t = Instant::now();
            groups = store.costs("bench", &q).await?.len();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        println!("{name} over {} steps: p50 {:.0} ms, p99 {:.0} ms ({groups} rows, {} runs)", args.steps, pct(0.5), pct(0.99), args.runs);
    }
    Ok(())
}
