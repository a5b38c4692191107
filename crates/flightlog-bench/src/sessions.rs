//! `flightlog-bench sessions`: the session list over a million sessions.
//! Generates the steps inside ClickHouse (INSERT … SELECT FROM numbers();
//! the session summaries are filled by their materialized view, as ingest
//! fills them), then times a page of 50 for every sort and filter the list
//! offers, as the API asks for it (the ranking, then the page's summaries):
//! first with the summaries merged into one row per session, then with a
//! few small recent parts beside them, as while agents are recording.

use crate::costs::{bench_store, print_engine_peak_rss};
use crate::guard::percentiles;
use flightlog_store::{Params, SessionFilter, SessionSort};
use std::time::Instant;

#[derive(clap::Args)]
pub struct SessionsArgs {
    #[arg(long, default_value_t = 1_000_000)]
    sessions: u64,
    #[arg(long, default_value_t = 3)]
    steps_per_session: u64,
    /// Timed runs of each page.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// A ClickHouse server to run on (database `flightlog_bench_sessions`)
    /// instead of an embedded store in a temporary folder.
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_URL")]
    clickhouse_url: Option<String>,
    /// Session ids `random` (like UUIDv4: a session's place in the table's
    /// key order says nothing of when it ran) or `ordered` by time (like
    /// UUIDv7 or ULID).
    #[arg(long, value_enum, default_value_t = Ids::Random)]
    ids: Ids,
    /// Steps added to existing sessions after the first timings, in
    /// `--recent-parts` inserts, with the summaries' merges stopped while
    /// the pages are timed again: the state of a list read during ingest.
    #[arg(long, default_value_t = 1_000)]
    recent_steps: u64,
    #[arg(long, default_value_t = 4)]
    recent_parts: u64,
    /// Time the pages of the store as a previous run left it on the
    /// `--clickhouse-url` server (its merges stopped, say), without
    /// generating, merging or adding steps: to compare builds on one store.
    #[arg(long, requires = "clickhouse_url")]
    as_found: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Ids {
    Random,
    Ordered,
}

/// Sessions spread over 90 days, each with one of 20 agents, one of 5,000
/// customers and one of four models; one in 13 has a failed step. `{{id}}`
/// is the session id's expression. Times are placed by the millisecond:
/// `number` × 90 days in µs passes 2^64 from 2.4M steps on.
const GENERATE: &str = "INSERT INTO steps (project, session_id, step, session_seq, ts, agent_name, model_name, model_key, user_id, \
    input_tokens, output_tokens, estimated_cost, failed, log_index) \
    SELECT 'bench', {{id}} AS s, number % {per:UInt64}, number % {per:UInt64}, \
    toDateTime64('2025-07-01 00:00:00', 6, 'UTC') + toIntervalMillisecond(intDiv(number * 7776000000, {n:UInt64})), \
    concat('agent-', toString(intDiv(number, {per:UInt64}) % 20)), \
    arrayElement(['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4', 'o3'], 1 + intDiv(number, {per:UInt64}) % 4) AS m, m, \
    concat('customer-', toString(intDiv(number, {per:UInt64}) % 5000)), 500 + number % 3000, 50 + number % 800, \
    (number % 1000) / 10000, intDiv(number, {per:UInt64}) % 13 = 0 AND number % {per:UInt64} = 0, number \
    FROM numbers({n:UInt64})";

/// Steps added to sessions picked at random among the generated ones (the
/// `{{id}}` expression of [`GENERATE`] over `number` = session × per), each
/// a step number, chain place and log index no generated step has.
const RECENT: &str = "INSERT INTO steps (project, session_id, step, session_seq, ts, agent_name, model_name, model_key, user_id, \
    input_tokens, output_tokens, estimated_cost, failed, log_index) \
    SELECT 'bench', {{id}}, {first:UInt64} + k, {first:UInt64} + k, \
    toDateTime64('2025-09-29 00:00:00', 6, 'UTC') + toIntervalSecond(k), 'agent-recent', 'gpt-4o', 'gpt-4o', 'customer-recent', \
    900, 90, 0.05, k % 2 = 0, {first:UInt64} + k \
    FROM (SELECT (cityHash64(n, {first:UInt64}) % {sessions:UInt64}) * {per:UInt64} AS number, n AS k \
          FROM (SELECT number AS n FROM numbers({count:UInt64})))";

pub async fn run(args: SessionsArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = bench_store(dir.path(), args.clickhouse_url.as_deref(), "flightlog_bench_sessions").await?;
    if args.as_found {
        time_pages(&store, &args, "as found").await?;
        return print_engine_peak_rss(args.clickhouse_url.as_deref());
    }
    let steps = args.sessions * args.steps_per_session;
    let started = Instant::now();
    let id = match args.ids {
        Ids::Random => "lower(hex(sipHash64(intDiv(number, {per:UInt64}))))",
        Ids::Ordered => "concat('s', leftPad(toString(intDiv(number, {per:UInt64})), 12, '0'))",
    };
    store.backend().query(&GENERATE.replace("{{id}}", id), Params::new().number("n", steps).number("per", args.steps_per_session)).await?;
    println!(
        "generated {} sessions of {} steps ({:?} ids) in ClickHouse in {:.1} s (INSERT … SELECT, not the HTTP path)",
        args.sessions,
        args.steps_per_session,
        args.ids,
        started.elapsed().as_secs_f64()
    );
    // Merged first (one summary row per session), whatever the engine had
    // merged by now.
    store.backend().query("OPTIMIZE TABLE session_summaries FINAL", Params::new()).await?;
    store.backend().query("OPTIMIZE TABLE session_actions FINAL", Params::new()).await?;
    if args.clickhouse_url.is_none() {
        // What the reads hold, not the generating insert and its merges.
        crate::costs::reset_peak_rss()?;
    }
    time_pages(&store, &args, "merged").await?;
    if args.recent_steps > 0 && args.recent_parts > 0 {
        merges(&store, "STOP").await?;
        let per_part = args.recent_steps.div_ceil(args.recent_parts);
        for part in 0..args.recent_parts {
            let params = Params::new()
                .number("first", steps + part * per_part)
                .number("count", per_part)
                .number("sessions", args.sessions)
                .number("per", args.steps_per_session);
            store.backend().query(&RECENT.replace("{{id}}", id), params).await?;
        }
        let parts = format!("{} recent parts of {per_part} steps", args.recent_parts);
        let timed = time_pages(&store, &args, &parts).await;
        // Merges start again even when a page failed (a server keeps them
        // stopped otherwise).
        merges(&store, "START").await?;
        timed?;
    }
    if args.clickhouse_url.is_none() {
        println!("(the peak RSS below counts from the first timed page, after the generating insert and the merges)");
    }
    print_engine_peak_rss(args.clickhouse_url.as_deref())
}

/// Stops or starts (`action`) the merges of the tables the list reads.
async fn merges(store: &flightlog_store::Store, action: &str) -> anyhow::Result<()> {
    for table in ["session_summaries", "session_actions"] {
        store.backend().query(&format!("SYSTEM {action} MERGES {table}"), Params::new()).await?;
    }
    Ok(())
}

/// Times a page of every sort and filter, `args.runs` times each.
async fn time_pages(store: &flightlog_store::Store, args: &SessionsArgs, state: &str) -> anyhow::Result<()> {
    let day = 1_755_216_000_000_000; // 2025-08-15T00:00:00Z
    let page = SessionFilter { limit: 50, ..Default::default() };
    let first_page = store.list_sessions("bench", &page).await?;
    let pages = [
        ("newest first", page.clone()),
        ("oldest first", SessionFilter { ascending: true, ..page.clone() }),
        ("by cost", SessionFilter { sort: SessionSort::Cost, ..page.clone() }),
        ("by steps", SessionFilter { sort: SessionSort::Steps, ..page.clone() }),
        ("the next page", SessionFilter { cursor: first_page.next_cursor.clone(), ..page.clone() }),
        ("one agent", SessionFilter { agent: Some("agent-7".into()), ..page.clone() }),
        ("one customer", SessionFilter { user: Some("customer-123".into()), ..page.clone() }),
        // A customer no step names: the read of every session's customers
        // that a customer with few sessions pays, with nothing to rank.
        ("a customer with no sessions", SessionFilter { user: Some("customer-none".into()), ..page.clone() }),
        ("one model", SessionFilter { model: Some("o3".into()), ..page.clone() }),
        ("failed", SessionFilter { failed: Some(true), ..page.clone() }),
        ("cost at least $0.25", SessionFilter { min_cost: Some(0.25), ..page.clone() }),
        ("one day", SessionFilter { from_us: Some(day), to_us: Some(day + 86_400_000_000), ..page.clone() }),
        ("flagged", SessionFilter { flagged: true, ..page.clone() }),
    ];
    for (name, filter) in pages {
        let mut times = Vec::new();
        let mut listed = 0;
        for _ in 0..args.runs {
            let t = Instant::now();
            listed = store.list_sessions("bench", &filter).await?.sessions.len();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p99, _) = percentiles(times);
        let read = store.page_read("bench", &filter).await?;
        println!(
            "sessions page ({state}), {name}, over {} sessions: p50 {p50:.0} ms, p99 {p99:.0} ms ({listed} listed, {} runs, read {read:?})",
            args.sessions, args.runs
        );
    }
    Ok(())
}
