//! `flightlog-bench costs`: cost queries over a large embedded store.
//! Generates N steps inside ClickHouse (INSERT … SELECT FROM numbers(),
//! timed; not the HTTP path, which `flightlog-bench ingest` measures), then times
//! cost by model × day and the top-100 sessions by cost.

use anyhow::Context;
use flightlog_store::embedded::default_library_path;
use flightlog_store::{CostDimension, CostQuery};
use std::time::Instant;

#[derive(clap::Args)]
pub struct CostsArgs {
    #[arg(long, default_value_t = 10_000_000)]
    steps: u64,
    /// Timed runs of each query.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// A ClickHouse server to run on (database `flightlog_bench_costs`)
    /// instead of an embedded store in a temporary folder.
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_URL")]
    clickhouse_url: Option<String>,
    /// How steps are spread over customers: `sessions` (each session has one
    /// customer and agent, and calls two models and three tools, as agents
    /// do) or `steps` (every step of a session a different customer, agent
    /// and model: the shape this benchmark had before the cost rollups, the
    /// worst case for them).
    #[arg(long, value_enum, default_value_t = Shape::Sessions)]
    shape: Shape,
    /// Keep the embedded store in this folder, and reuse it when it already
    /// holds `--steps` steps: several builds then time the same data, and
    /// 100M steps are generated once.
    #[arg(long, conflicts_with = "clickhouse_url")]
    data_dir: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Shape {
    Sessions,
    Steps,
}

const MODELS: &str =
    "['gpt-4o','gpt-4o-mini','gpt-4.1','o3','claude-sonnet-4','claude-3-5-haiku','gemini-2.5-pro','gemini-2.5-flash','gpt-5','mystery']";

/// What each generated column holds, as SQL over `number`: ten models (one
/// unpriced), 20 agents, 5,000 customers, 100-step sessions, spread over 90
/// days. The other columns take their defaults.
fn generated_values(shape: Shape) -> Vec<(&'static str, String)> {
    // Which number picks a step's customer, agent and model.
    let (who, model) = match shape {
        Shape::Sessions => ("intDiv(number, 100)", format!("arrayElement({MODELS}, 1 + (intDiv(number, 100) + (number % 3 = 0)) % 10)")),
        Shape::Steps => ("number", format!("arrayElement({MODELS}, 1 + number % 10)")),
    };
    let tool = match shape {
        Shape::Sessions => "arrayElement(['search', 'email', 'crm'], 1 + number % 3)",
        Shape::Steps => "'search'",
    };
    vec![
        ("project", "'bench'".into()),
        ("session_id", "concat('s', toString(intDiv(number, 100)))".into()),
        ("step", "number % 100".into()),
        ("ts", "toDateTime64('2025-07-01 00:00:00', 6, 'UTC') + toIntervalSecond(intDiv(number * 7776000, {n:UInt64}))".into()),
        ("agent_name", format!("concat('agent-', toString({who} % 20))")),
        ("model_provider", "'openai'".into()),
        ("model_name", model.clone()),
        ("model_key", model),
        ("user_id", format!("concat('customer-', toString({who} % 5000))")),
        ("tool_name", tool.into()),
        ("input_tokens", "500 + number % 3000".into()),
        ("cache_read_tokens", "(number % 7) * 100".into()),
        ("output_tokens", "50 + number % 800".into()),
        ("reasoning_tokens", "if(number % 10 = 3, 200, 0)".into()),
        ("estimated_cost", "0.01".into()),
        ("failed", "number % 97 = 0".into()),
        ("log_index", "number".into()),
    ]
}

/// The generating `INSERT … SELECT`: the column list is the step's stored
/// columns (`flightlog_model::columns::STEP_COLUMNS`, in table order) that
/// [`generated_values`] gives a value; a value for a column `steps` does not
/// have is an error, not a silent skip.
fn generate_sql(shape: Shape) -> anyhow::Result<String> {
    let values = generated_values(shape);
    if let Some((unknown, _)) = values.iter().find(|(name, _)| flightlog_model::columns::column(name).is_none()) {
        anyhow::bail!("the benchmark generates {unknown:?}, which is not a column of steps");
    }
    let (names, exprs): (Vec<&str>, Vec<&str>) = flightlog_model::columns::STEP_COLUMNS
        .iter()
        .filter_map(|c| values.iter().find(|(name, _)| *name == c.name).map(|(name, expr)| (*name, expr.as_str())))
        .unzip();
    Ok(format!("INSERT INTO steps ({}) SELECT {} FROM numbers({{n:UInt64}})", names.join(", "), exprs.join(", ")))
}

/// An empty store for a benchmark that fills it itself: embedded in `dir`,
/// or on the ClickHouse server at `clickhouse_url` in its own `database`.
pub(crate) async fn bench_store(dir: &std::path::Path, clickhouse_url: Option<&str>, database: &str) -> anyhow::Result<flightlog_store::Store> {
    let location = match clickhouse_url {
        Some(url) => flightlog_store::Location::Server(flightlog_store::server::ServerOptions {
            url: url.to_string(),
            user: std::env::var("FLIGHTLOG_CLICKHOUSE_USER").unwrap_or_else(|_| "default".into()),
            password: std::env::var("FLIGHTLOG_CLICKHOUSE_PASSWORD").unwrap_or_default(),
            // Its own database: the benchmark fills and reads it alone.
            database: database.into(),
            cluster: None,
            insert_quorum: None,
            timeout: std::time::Duration::from_secs(3600),
            memory: Default::default(),
        }),
        None => flightlog_store::Location::Embedded { path: dir.join("clickhouse"), chdb_lib: default_library_path(), readers: 2, memory: Default::default() },
    };
    let store = flightlog_store::open_store(&location).await?;
    println!("store: {}", store.backend().describe());
    Ok(store)
}

/// Starts this process's peak RSS afresh (Linux: `5` to clear_refs), so
/// that the figure printed next covers only what follows, for instance the
/// reads after a benchmark's own generating insert.
pub(crate) fn reset_peak_rss() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("cannot reset the peak RSS (/proc/self/clear_refs)")
}

/// The peak RSS of this process, when the engine is embedded in it (a
/// server's is its own).
pub(crate) fn print_engine_peak_rss(clickhouse_url: Option<&str>) -> anyhow::Result<()> {
    if clickhouse_url.is_none() {
        println!("peak RSS of the benchmark process, engine included (VmHWM): {} MiB", crate::ingest::peak_rss_kib(std::process::id())? / 1024);
    }
    Ok(())
}

pub async fn run(args: CostsArgs) -> anyhow::Result<()> {
    let temporary = tempfile::tempdir()?;
    let dir = args.data_dir.as_deref().unwrap_or(temporary.path());
    let store = bench_store(dir, args.clickhouse_url.as_deref(), "flightlog_bench_costs").await?;
    #[derive(serde::Deserialize)]
    struct Count {
        steps: u64,
    }
    let held = store.backend().query("SELECT count() AS steps FROM steps", flightlog_store::Params::new()).await?;
    let held = flightlog_store::backend::rows::<Count>(&held)?.first().map_or(0, |c| c.steps);
    if held == args.steps {
        println!("reusing {} steps in {} (their shape as generated then)", held, dir.display());
    } else if held > 0 {
        anyhow::bail!("{} holds {held} steps, not --steps {}: use another folder", dir.display(), args.steps);
    } else {
        let started = Instant::now();
        store.backend().query(&generate_sql(args.shape)?, flightlog_store::Params::new().number("n", args.steps)).await?;
        println!(
            "generated {} steps ({:?} shape) in ClickHouse in {:.1} s ({:.0} steps/s; INSERT … SELECT, not the HTTP path)",
            args.steps,
            args.shape,
            started.elapsed().as_secs_f64(),
            args.steps as f64 / started.elapsed().as_secs_f64()
        );
    }
    let rolled_up = store.backend().query("SELECT count() AS rows FROM cost_rollups", flightlog_store::Params::new()).await?;
    println!("cost rollup rows (before merges finish): {}", String::from_utf8_lossy(&rolled_up).trim());
    let whole = CostQuery { to_us: flightlog_model::time::END_OF_TIME_US, ..Default::default() };
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
        let (p50, p99, _) = crate::guard::percentiles(times);
        println!("{name} over {} steps: p50 {p50:.0} ms, p99 {p99:.0} ms ({groups} rows, {} runs)", args.steps, args.runs);
    }
    print_engine_peak_rss(args.clickhouse_url.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generating_insert_lists_stored_columns_in_table_order() {
        let sql = generate_sql(Shape::Steps).unwrap();
        assert!(sql.starts_with(
            "INSERT INTO steps (project, session_id, step, ts, agent_name, tool_name, model_provider, model_name, model_key, \
             input_tokens, output_tokens, cache_read_tokens, reasoning_tokens, estimated_cost, user_id, failed, log_index) \
             SELECT 'bench', concat('s', toString(intDiv(number, 100))), number % 100, "
        ), "{sql}");
        assert!(sql.ends_with(", number % 97 = 0, number FROM numbers({n:UInt64})"), "{sql}");
    }
}
