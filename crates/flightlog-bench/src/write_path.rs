//! `flightlog-bench write-path`: where the time of one durable group commit
//! goes, part by part, in an embedded store (no HTTP, no server):
//! - the request's CPU work: decode, redact, validate, hash and encode
//!   1,000 steps of `ingest`'s shape, on one thread;
//! - the writer's duplicate check (one query);
//! - the steps insert with every materialized view; the same with the
//!   views' tables not fsynced (an ablation: they are, see
//!   flightlog-store's tests/durability_settings.rs), the two in turn; the
//!   log-of-record insert;
//! - then the steps insert again as each view is taken away in turn, so
//!   each view's price is about the difference of two neighbouring lines
//!   (later lines run on a bigger table);
//! - the same rows inserted into a copy of `steps` without views as
//!   RowBinary (what the writer sends), Native and ArrowStream, in turn;
//! - last, the three views alone over batches of 1,000, 10,000 and 50,000
//!   steps (copies of them on a `Null` table, which stores nothing): what
//!   deriving the tables once per bigger batch, rather than at every group
//!   commit, would cost per step;
//! - the writer's two inserts (steps, then the log of record) against one
//!   that carries both through two views;
//! - and the tamper-evident record's share of a group commit (issue 15):
//!   the hashing, the hash columns and the log-of-record insert, against
//!   the whole commit, all measured in this run (record.rs).
//!
//! The views are dropped from this benchmark's own throw-away store only.
//! Batches are generated as they are needed, so memory holds one at a time.

use anyhow::Context;
use flightlog_model::Limits;
use flightlog_store::{EncodedStep, Format, LogPosition, MessageRow};
use prost::Message;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct WritePathArgs {
    /// Group commits timed per configuration.
    #[arg(long, default_value_t = 40)]
    commits: usize,
    /// Steps per group commit.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Steps shaped like `conversations`' (about 25 KB, each carrying the
    /// conversation so far; whole 40-step sessions per commit) instead of
    /// `ingest`'s 1.3 KB ones.
    #[arg(long)]
    conversations: bool,
    /// Only the request's CPU work, for OTLP exports of `batch_size`
    /// GenAI chat spans sent as protobuf (`otlp-grpc`'s, or with
    /// `--conversations` those of `conversations --otlp`): decode, map,
    /// redact, validate, hash and encode.
    #[arg(long)]
    otlp: bool,
}

/// The views, in the order they are taken away; each fills the table of
/// its name without `_mv`.
const VIEWS: &[&str] = &["cost_rollups_mv", "session_actions_mv", "session_summaries_mv"];

pub async fn run(args: WritePathArgs) -> anyhow::Result<()> {
    // Conversations come in whole sessions: the batch is rounded up to them.
    let sessions_per_commit = (args.batch_size as u64).div_ceil(crate::conversations::STEPS_PER_SESSION) as usize;
    let (conversations, requested) = (args.conversations, args.batch_size);
    let body = move |b: usize| match conversations {
        true => crate::conversations::sessions_body(b * sessions_per_commit..(b + 1) * sessions_per_commit),
        false => crate::ingest::ingest_body("w", b, requested),
    };
    let batch_size = match conversations {
        true => sessions_per_commit * crate::conversations::STEPS_PER_SESSION as usize,
        false => requested,
    };
    if args.otlp {
        let export = move |b: usize| match conversations {
            true => crate::conversations::sessions_export(b * sessions_per_commit..(b + 1) * sessions_per_commit),
            false => crate::otlp_grpc::export("w", (b * requested) as u64, requested as u64).encode_to_vec(),
        };
        otlp_request_cpu((0..args.commits).map(export).collect(), batch_size);
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = crate::costs::bench_store(dir.path(), None, "flightlog_bench").await?;
    let limits = Limits::default();
    let redactor = flightlog_redact::Redactor::new(&flightlog_redact::Policy::default())?;
    println!(
        "machine: {} cores; {} commits of {batch_size} steps per line (the check line: four times as many, the log line twice)",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.commits,
    );
    let bodies: Vec<Vec<u8>> = (0..args.commits).map(body).collect();
    let bytes = bodies[0].len() as f64 / batch_size as f64;

    // The request's CPU work, as the handler does it.
    let decode = |b: &[u8]| -> Vec<_> { flightlog_decode::decode_body(b, None, flightlog_decode::Framing::Guessed, &limits).expect("bench body decodes").into_iter().collect() };
    let prepare = |b: &[u8], redactor| assert!(!flightlog_app::ingest::prepare(decode(b), &limits, "bench", redactor).is_empty());
    let cpu = time_each(&bodies, |b| prepare(b, Some(&redactor)));
    print_line(&format!("decode+redact+validate+encode, one thread ({bytes:.0} B/step)"), &cpu, batch_size);
    let unredacted = time_each(&bodies, |b| prepare(b, None));
    print_line("decode+validate+encode (redaction off)", &unredacted, batch_size);
    let decoded = time_each(&bodies, |b| assert!(!decode(b).is_empty()));
    print_line("decode alone", &decoded, batch_size);
    let hashing = crate::record::time_hashing(&bodies, &limits);

    drop(bodies);
    let mut next_body = 0usize;
    let mut next_index = 0u64;
    let mut take_both = || {
        let (batch, unhashed) = encode(&body(next_body), &limits).expect("bench steps are valid");
        next_body += 1;
        let positions = crate::record::chained(&batch, next_index);
        next_index += batch.len() as u64;
        (batch, positions, unhashed)
    };

    // Every commit as the writer makes it, each round once as shipped, once
    // with the derived tables' parts not fsynced (the ablation), once
    // without the tamper-evident record (hash columns zero, no log insert),
    // and once with the views run in turn rather than at the same time, in
    // an order that turns round by round, so that a noisy neighbour or the
    // merges one round leaves behind slow each alike. The duplicate check
    // line holds every round's samples; the log insert line those of the
    // rounds that write it.
    let (mut check, mut log, mut messages, mut held_reads) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut shipped, mut unsynced, mut unrecorded, mut in_turn) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    const TURNS: [(bool, bool, bool); 4] = [(true, true, true), (false, true, true), (true, false, true), (true, true, false)];
    for round in 0..args.commits {
        for turn in 0..TURNS.len() {
            let (fsync_derived, recorded, parallel_views) = TURNS[(round + turn) % TURNS.len()];
            set_derived_fsync(&store, fsync_derived).await?;
            let (batch, positions, unhashed) = take_both();
            let started = Instant::now();
            let sessions: Vec<&str> = batch.iter().map(|s| s.session_id.as_str()).collect();
            let steps: Vec<u64> = batch.iter().map(|s| s.step).collect();
            store.session_states("bench", &sessions, &steps).await?;
            check.push(started.elapsed());
            if !recorded {
                unrecorded.push(timed_steps_insert(&store, &unhashed, &crate::record::unchained(&positions)).await?);
                continue;
            }
            // Long messages are stored once per session before their steps
            // (new sessions here: nothing is held; the writer reads what
            // is held beside its duplicate check).
            let rows: Vec<MessageRow> = batch
                .iter()
                .flat_map(|s| s.contents.iter().map(|(hash, body)| MessageRow { project: "bench", session: &s.session_id, hash, body }))
                .collect();
            if !rows.is_empty() {
                let started = Instant::now();
                let held = store.held_messages(&rows).await?;
                held_reads.push(started.elapsed());
                let started = Instant::now();
                store.insert_messages(&rows, &held).await?;
                messages.push(started.elapsed());
            }
            if !parallel_views {
                in_turn.push(timed_steps_insert_in_turn(&store, &batch, &positions).await?);
                continue;
            }
            let took = timed_steps_insert(&store, &batch, &positions).await?;
            if fsync_derived { &mut shipped } else { &mut unsynced }.push(took);
            let entries: Vec<(&str, &EncodedStep, u64)> = batch.iter().zip(&positions).map(|(s, p)| ("bench", s, p.log_index)).collect();
            let started = Instant::now();
            store.insert_log_entries(&entries).await?;
            log.push(started.elapsed());
        }
    }
    set_derived_fsync(&store, true).await?;
    print_line("duplicate check (session_states)", &check, batch_size);
    if !messages.is_empty() {
        print_line("which messages are held (read beside the check)", &held_reads, batch_size);
        print_line("messages insert (long ones, once per session)", &messages, batch_size);
    }
    print_line("steps insert, all 3 views", &shipped, batch_size);
    print_line("the same, the views' tables not fsynced (ablation)", &unsynced, batch_size);
    print_line("the same, the views run in turn (parallel_view_processing = 0)", &in_turn, batch_size);
    print_line("log-of-record insert", &log, batch_size);
    print_line("steps insert, all 3 views, hash columns zero (no record)", &unrecorded, batch_size);
    crate::record::print_share(crate::record::Commit { cpu: &cpu, check: &check, steps: &shipped, log: &log }, &unrecorded, &hashing, batch_size);
    let mut take = || {
        let (batch, positions, _) = take_both();
        (batch, positions)
    };

    one_insert_with_the_log(&store, args.commits, batch_size, &mut take).await?;
    // Read before the views are dropped, for `views_by_batch`.
    let view_queries = view_queries(&store).await?;
    let mut left = VIEWS.len();
    for view in VIEWS {
        store.backend().query(&format!("DROP VIEW {view}"), Default::default()).await.with_context(|| format!("drop {view}"))?;
        left -= 1;
        let mut times = Vec::new();
        for _ in 0..args.commits {
            let (batch, positions) = take();
            times.push(timed_steps_insert(&store, &batch, &positions).await?);
        }
        print_line(&format!("steps insert, without {view} ({left} views left)"), &times, batch_size);
    }
    input_formats(&store, args.commits, batch_size, &mut take).await?;
    views_by_batch(&store, &view_queries).await?;
    crate::costs::print_engine_peak_rss(None)
}

/// Each view's SELECT, as the engine keeps it.
async fn view_queries(store: &flightlog_store::Store) -> anyhow::Result<Vec<(String, String)>> {
    #[derive(serde::Deserialize)]
    struct View {
        name: String,
        as_select: String,
    }
    let sql = "SELECT name, as_select FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView'";
    let views: Vec<View> = flightlog_store::backend::rows(&store.backend().query(sql, Default::default()).await?)?;
    let wanted: Vec<(String, String)> =
        views.into_iter().filter(|v| VIEWS.contains(&v.name.as_str())).map(|v| (v.name, v.as_select)).collect();
    anyhow::ensure!(wanted.len() == VIEWS.len(), "the store has {} of the {} views", wanted.len(), VIEWS.len());
    Ok(wanted)
}

/// Batch sizes for [`views_by_batch`].
const VIEW_BATCHES: [usize; 3] = [1_000, 10_000, 50_000];

/// The three views over batches of stored steps: copies of them read from
/// `bench_staged`, a `Null` table shaped like `steps`, and write copies of
/// their tables (fsynced like them), so that an insert there costs the
/// views alone. The batches are held in memory tables first, the sizes in
/// turn, so that reading them costs little and alike.
async fn views_by_batch(store: &flightlog_store::Store, views: &[(String, String)]) -> anyhow::Result<()> {
    let ch = store.backend();
    ch.query("CREATE TABLE bench_staged AS steps ENGINE = Null", Default::default()).await?;
    for (view, select) in views {
        let table = view.trim_end_matches("_mv");
        ch.query(&format!("CREATE TABLE {table}_batched AS {table}"), Default::default()).await?;
        // The engine names the source `db.steps`: read from the Null table instead.
        let from = select.find(".steps").map(|at| &select[..at]).and_then(|head| head.rfind("FROM ")).context("the view reads FROM db.steps")?;
        let end = select[from..].find(".steps").map(|at| from + at + ".steps".len()).expect("found above");
        let staged = format!("{}FROM bench_staged{}", &select[..from], &select[end..]);
        ch.query(&format!("CREATE MATERIALIZED VIEW {view}_batched TO {table}_batched AS {staged}"), Default::default()).await?;
    }
    #[derive(serde::Deserialize)]
    struct Held {
        n: u64,
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); VIEW_BATCHES.len()];
    for (i, rows) in VIEW_BATCHES.iter().enumerate() {
        ch.query(&format!("CREATE TABLE bench_batch_{i} ENGINE = Memory AS SELECT * FROM steps LIMIT {rows}"), Default::default()).await?;
        let held: Vec<Held> = flightlog_store::backend::rows(&ch.query(&format!("SELECT count() AS n FROM bench_batch_{i}"), Default::default()).await?)?;
        let held = held.first().map_or(0, |h| h.n);
        anyhow::ensure!(held == *rows as u64, "only {held} steps stored for a batch of {rows}: run more --commits");
    }
    for _ in 0..7 {
        for (i, times) in times.iter_mut().enumerate() {
            let started = Instant::now();
            ch.query(&format!("INSERT INTO bench_staged SELECT * FROM bench_batch_{i}"), Default::default()).await?;
            times.push(started.elapsed());
        }
    }
    for (rows, times) in VIEW_BATCHES.iter().zip(&times) {
        let ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let (p50, _, _) = crate::guard::percentiles(ms);
        println!("the three views alone over a batch of {rows:>6} steps (7 runs)        p50 {p50:>7.1} ms = {:>6.2} us per step", p50 * 1e3 / *rows as f64);
    }
    Ok(())
}

/// The formats the steps insert could send, each inserting the same rows
/// into a copy of `steps` without views (`CREATE TABLE … AS steps`: its
/// engine, key and fsync settings), the three in turn commit by commit.
/// The rows are those of an insert just made, read back in each format;
/// read back as RowBinary they are the bytes the writer sends.
const INPUT_FORMATS: [Format; 3] = [Format::RowBinary, Format::Native, Format::ArrowStream];

async fn input_formats(
    store: &flightlog_store::Store,
    commits: usize,
    batch_size: usize,
    take: &mut impl FnMut() -> (Vec<EncodedStep>, Vec<LogPosition>),
) -> anyhow::Result<()> {
    let columns: Vec<&str> = flightlog_model::columns::STEP_COLUMNS.iter().map(|c| c.name).collect();
    let columns = columns.join(", ");
    store.backend().query("CREATE TABLE bench_input_formats AS steps", Default::default()).await?;
    let insert = format!("INSERT INTO bench_input_formats ({columns})");
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); INPUT_FORMATS.len()];
    let mut bytes = vec![0usize; INPUT_FORMATS.len()];
    for commit in 0..commits {
        let (batch, positions) = take();
        timed_steps_insert(store, &batch, &positions).await?;
        let (first, last) = (positions[0].log_index, positions[positions.len() - 1].log_index);
        let read = format!("SELECT {columns} FROM steps WHERE log_index BETWEEN {first} AND {last} ORDER BY log_index");
        for i in (0..INPUT_FORMATS.len()).map(|i| (i + commit) % INPUT_FORMATS.len()) {
            let rows = store.backend().query_as(&read, Default::default(), INPUT_FORMATS[i]).await?;
            bytes[i] += rows.len();
            let started = Instant::now();
            store.backend().insert_as(&insert, rows, INPUT_FORMATS[i]).await?;
            times[i].push(started.elapsed());
        }
    }
    for (i, format) in INPUT_FORMATS.iter().enumerate() {
        let per_step = bytes[i] as f64 / (commits * batch_size) as f64;
        print_line(&format!("steps insert without views, sent as {} ({per_step:.0} B/step)", format.name()), &times[i], batch_size);
    }
    Ok(())
}

/// The suggestion of one insert that carries both the steps and
/// the log of record, against the writer's two: the rows sent once into a
/// `Null` table whose two views fill `steps` (and so its own views) and
/// `log_entries`, so that writing to `steps` alone still adds nothing to
/// the log. The two ways in turn commit by commit, order swapped each time.
async fn one_insert_with_the_log(
    store: &flightlog_store::Store,
    commits: usize,
    batch_size: usize,
    take: &mut impl FnMut() -> (Vec<EncodedStep>, Vec<LogPosition>),
) -> anyhow::Result<()> {
    for sql in [
        "CREATE TABLE bench_intake AS steps ENGINE = Null",
        "CREATE MATERIALIZED VIEW bench_intake_steps_mv TO steps AS SELECT * FROM bench_intake",
        "CREATE MATERIALIZED VIEW bench_intake_log_mv TO log_entries AS SELECT log_index, project, session_id, step, step_hash FROM bench_intake",
    ] {
        store.backend().query(sql, Default::default()).await.with_context(|| sql.to_string())?;
    }
    let intake = flightlog_store::steps::insert_steps_sql().replacen("INSERT INTO steps ", "INSERT INTO bench_intake ", 1);
    let (mut two, mut one) = (Vec::new(), Vec::new());
    for commit in 0..commits {
        for way in [commit % 2, (commit + 1) % 2] {
            let (batch, positions) = take();
            if way == 0 {
                let entries: Vec<(&str, &EncodedStep, u64)> = batch.iter().zip(&positions).map(|(s, p)| ("bench", s, p.log_index)).collect();
                let steps = timed_steps_insert(store, &batch, &positions).await?;
                let started = Instant::now();
                store.insert_log_entries(&entries).await?;
                two.push(steps + started.elapsed());
            } else {
                one.push(timed_insert(store, &batch, &positions, &intake).await?);
            }
        }
    }
    for sql in ["DROP VIEW bench_intake_steps_mv", "DROP VIEW bench_intake_log_mv", "DROP TABLE bench_intake"] {
        store.backend().query(sql, Default::default()).await?;
    }
    print_line("steps insert, then log-of-record insert (the writer's two)", &two, batch_size);
    print_line("one insert carrying both (a Null table, a view to each)", &one, batch_size);
    Ok(())
}

/// How long inserting `batch` at `positions` into steps takes, views and all.
async fn timed_steps_insert(store: &flightlog_store::Store, batch: &[EncodedStep], positions: &[LogPosition]) -> anyhow::Result<Duration> {
    timed_insert(store, batch, positions, flightlog_store::steps::insert_steps_sql()).await
}

/// The steps insert with its views run one after the other, as they were
/// before the writer's inserts ran them at the same time.
async fn timed_steps_insert_in_turn(store: &flightlog_store::Store, batch: &[EncodedStep], positions: &[LogPosition]) -> anyhow::Result<Duration> {
    let sql = format!("{} SETTINGS parallel_view_processing = 0", flightlog_store::steps::insert_steps_sql());
    timed_insert(store, batch, positions, &sql).await
}

/// `sql` with the rows the writer would send for `batch`, timed.
async fn timed_insert(store: &flightlog_store::Store, batch: &[EncodedStep], positions: &[LogPosition], sql: &str) -> anyhow::Result<Duration> {
    let rows: Vec<(&EncodedStep, LogPosition)> = batch.iter().zip(positions.iter().copied()).collect();
    let started = Instant::now();
    store.backend().insert(sql, flightlog_store::steps::steps_rows(&rows, 0)).await?;
    Ok(started.elapsed())
}

/// Turns the fsync of the views' tables on or off.
async fn set_derived_fsync(store: &flightlog_store::Store, on: bool) -> anyhow::Result<()> {
    let on = u8::from(on);
    for table in VIEWS.iter().map(|v| v.trim_end_matches("_mv")) {
        let sql = format!("ALTER TABLE {table} MODIFY SETTING fsync_after_insert = {on}, fsync_part_directory = {on}");
        store.backend().query(&sql, Default::default()).await?;
    }
    Ok(())
}

/// A body's steps as the writer receives them (not redacted: the policy
/// finds nothing in the bench's steps), and the same steps with their hash
/// zero, as a Flightlog without the tamper-evident record would store them.
fn encode(body: &[u8], limits: &Limits) -> anyhow::Result<(Vec<EncodedStep>, Vec<EncodedStep>)> {
    let mut hashed = Vec::new();
    let mut unhashed = Vec::new();
    for r in flightlog_decode::decode_body(body, None, flightlog_decode::Framing::Guessed, limits)? {
        let step = r.and_then(|v| flightlog_model::step_from_json(v, limits));
        let mut step = step.map_err(|e| anyhow::anyhow!("bench step invalid: {}: {}", e.field, e.reason))?;
        hashed.push(EncodedStep::new("bench", &step));
        step.step_hash = [0; 32];
        unhashed.push(EncodedStep::new("bench", &step));
    }
    Ok((hashed, unhashed))
}

/// The CPU work of an OTLP/HTTP export as the handler does it, on one
/// thread: with redaction, without it, and the protobuf decoding and the
/// mapping of spans alone.
fn otlp_request_cpu(bodies: Vec<Vec<u8>>, batch_size: usize) {
    use flightlog_decode::otlp::{Encoding, decode_request, map_request};
    let limits = Limits::default();
    let redactor = flightlog_redact::Redactor::new(&flightlog_redact::Policy::default()).expect("the default policy compiles");
    let (commits, bytes) = (bodies.len(), bodies[0].len() as f64 / batch_size as f64);
    println!("{commits} OTLP exports of {batch_size} spans per line ({bytes:.0} B/span as protobuf), one thread");
    let decode = |b: &Vec<u8>| decode_request(b, Encoding::Protobuf).expect("bench export decodes");
    let prepare = |b: &Vec<u8>, redactor| {
        let export = flightlog_app::spans::ReceivedExport { body: b.clone(), gzip: false, encoding: Encoding::Protobuf };
        let prepared = flightlog_app::spans::prepare_spans(export, &limits, "bench", redactor).expect("within the limit");
        assert_eq!(prepared.steps(), batch_size);
    };
    print_line("decode+map+redact+validate+encode", &time_each(&bodies, |b| prepare(b, Some(&redactor))), batch_size);
    print_line("decode+map+validate+encode (redaction off)", &time_each(&bodies, |b| prepare(b, None)), batch_size);
    print_line("decode+map alone", &time_each(&bodies, |b| assert_eq!(map_request(&decode(b)).len(), batch_size)), batch_size);
    print_line("decode alone", &time_each(&bodies, |b| assert_eq!(decode(b).resource_spans.len(), 1)), batch_size);
    // OTLP/gRPC hands the export over decoded. It used to be encoded and
    // decoded again to go the bytes' way; now it is mapped as it came. The
    // two in turn, twice, for a comparison on one machine in one run.
    let requests: Vec<_> = bodies.iter().map(decode).collect();
    let as_bytes_again = |r: &flightlog_decode::otlp::ExportTraceServiceRequest| {
        let body = flightlog_decode::otlp::encode_request(r);
        let export = flightlog_app::spans::ReceivedExport { body, gzip: false, encoding: Encoding::Protobuf };
        let prepared = flightlog_app::spans::prepare_spans(export, &limits, "bench", Some(&redactor)).expect("within the limit");
        assert_eq!(prepared.steps(), batch_size);
    };
    let as_it_came = |r: &flightlog_decode::otlp::ExportTraceServiceRequest| {
        let prepared = flightlog_app::spans::prepare_decoded_spans(r, &limits, "bench", Some(&redactor)).expect("within the limit");
        assert_eq!(prepared.steps(), batch_size);
    };
    for _ in 0..2 {
        print_line("gRPC's export encoded, decoded again, prepared (before)", &time_each(&requests, as_bytes_again), batch_size);
        print_line("gRPC's export prepared as it came", &time_each(&requests, as_it_came), batch_size);
    }
}

pub(crate) fn time_each<T>(items: &[T], mut each: impl FnMut(&T)) -> Vec<Duration> {
    items
        .iter()
        .map(|item| {
            let started = Instant::now();
            each(item);
            started.elapsed()
        })
        .collect()
}

pub(crate) fn print_line(what: &str, times: &[Duration], batch: usize) {
    let ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    let (p50, p99, _) = crate::guard::percentiles(ms);
    println!(
        "{what:<60} p50 {p50:>7.1} ms, p99 {p99:>7.1} ms, mean {mean:>7.1} ms per commit = {:>7.0} steps/s",
        batch as f64 / (mean / 1e3)
    );
}
