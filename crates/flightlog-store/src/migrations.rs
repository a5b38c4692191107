//! Applies `schema/NNNN_name.sql` in order, once each, recording every
//! applied file in `schema_migrations`. Re-running is a no-op. A recorded
//! file whose text has since changed is an error: a migration that already
//! ran must not be edited, only followed by a new one.

use crate::backend::{Backend, Params, StoreError, rows};
use sha2::{Digest, Sha256};

struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
}

const LEDGER: &str = include_str!("../../../schema/0000_schema_migrations.sql");

const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "steps", sql: include_str!("../../../schema/0001_steps.sql") },
    Migration { version: 2, name: "session_summaries", sql: include_str!("../../../schema/0002_session_summaries.sql") },
    Migration { version: 3, name: "api_keys", sql: include_str!("../../../schema/0003_api_keys.sql") },
    Migration { version: 4, name: "integrity", sql: include_str!("../../../schema/0004_integrity.sql") },
    Migration { version: 5, name: "costs", sql: include_str!("../../../schema/0005_costs.sql") },
    Migration { version: 6, name: "log_index_skip", sql: include_str!("../../../schema/0006_log_index_skip.sql") },
    Migration { version: 7, name: "session_actions", sql: include_str!("../../../schema/0007_session_actions.sql") },
    Migration { version: 8, name: "web_sessions", sql: include_str!("../../../schema/0008_web_sessions.sql") },
    Migration { version: 9, name: "write_probes", sql: include_str!("../../../schema/0009_write_probes.sql") },
    Migration { version: 10, name: "key_decision", sql: include_str!("../../../schema/0010_key_decision.sql") },
    Migration { version: 11, name: "indexer_marks", sql: include_str!("../../../schema/0011_indexer_marks.sql") },
    Migration { version: 12, name: "writer_lease", sql: include_str!("../../../schema/0012_writer_lease.sql") },
    Migration { version: 13, name: "project_policies", sql: include_str!("../../../schema/0013_project_policies.sql") },
    Migration { version: 14, name: "legal_holds", sql: include_str!("../../../schema/0014_legal_holds.sql") },
    Migration { version: 15, name: "expirations", sql: include_str!("../../../schema/0015_expirations.sql") },
    Migration { version: 16, name: "access_log", sql: include_str!("../../../schema/0016_access_log.sql") },
    Migration { version: 17, name: "guard_answers", sql: include_str!("../../../schema/0017_guard_answers.sql") },
    Migration { version: 18, name: "incidents", sql: include_str!("../../../schema/0018_incidents.sql") },
    Migration { version: 19, name: "merkle_nodes", sql: include_str!("../../../schema/0019_merkle_nodes.sql") },
    Migration { version: 20, name: "cost_rollups", sql: include_str!("../../../schema/0020_cost_rollups.sql") },
    Migration { version: 21, name: "raw_keeps_the_rest", sql: include_str!("../../../schema/0021_raw_keeps_the_rest.sql") },
    Migration { version: 22, name: "sessions_by_start", sql: include_str!("../../../schema/0022_sessions_by_start.sql") },
    Migration { version: 23, name: "step_contents", sql: include_str!("../../../schema/0023_step_contents.sql") },
    Migration {
        version: 24,
        name: "span_attributes_by_reference",
        sql: include_str!("../../../schema/0024_span_attributes_by_reference.sql"),
    },
    Migration { version: 25, name: "texts_by_reference", sql: include_str!("../../../schema/0025_texts_by_reference.sql") },
    Migration { version: 26, name: "sessions_by_start_whole", sql: include_str!("../../../schema/0026_sessions_by_start_whole.sql") },
    Migration { version: 27, name: "erasures", sql: include_str!("../../../schema/0027_erasures.sql") },
    Migration { version: 28, name: "tier_cache_write", sql: include_str!("../../../schema/0028_tier_cache_write.sql") },
    Migration { version: 29, name: "erased_actions", sql: include_str!("../../../schema/0029_erased_actions.sql") },
    Migration { version: 30, name: "writer_lease_ttl", sql: include_str!("../../../schema/0030_writer_lease_ttl.sql") },
    Migration { version: 31, name: "erasure_before_blanking", sql: include_str!("../../../schema/0031_erasure_before_blanking.sql") },
];

#[derive(serde::Deserialize)]
struct Applied {
    version: u32,
    checksum: String,
}

/// Brings the schema up to date: the migrations the ledger does not list
/// yet, in order. On a cluster ([`Backend::cluster`]) every statement runs
/// as [`cluster_schema`] prints it, and the ledger is itself replicated.
/// Several processes starting at once may both apply a migration: every
/// statement is idempotent (`IF NOT EXISTS`, or an ALTER that sets what it
/// sets again; a projection built twice costs the work twice, no more),
/// and the one backfill is checked against the steps at start-up
/// (`repair_summaries_if_needed`).
pub async fn apply(ch: &dyn Backend) -> Result<(), StoreError> {
    let on_cluster = ch.cluster().map(on_cluster);
    let run = |statement: String| match &on_cluster {
        Some(clause) => replicated(&statement, clause),
        None => statement,
    };
    for statement in statements(LEDGER) {
        ch.query(&run(statement), Params::new()).await?;
    }
    let applied: Vec<Applied> = rows(&ch.query("SELECT version, checksum FROM schema_migrations", Params::new()).await?)?;
    // A store a newer Flightlog migrated may hold rows this one would read
    // wrongly (since version 21, `raw` without the content its columns
    // hold; since 23, long messages by reference): refuse it rather than
    // serve steps without their content.
    let known = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(newer) = applied.iter().map(|a| a.version).filter(|v| *v > known).max() {
        return Err(StoreError::Setup(format!(
            "this store was migrated by a newer Flightlog (schema migration {newer:04}; this one knows up to {known:04}): upgrade Flightlog to open it"
        )));
    }
    for m in MIGRATIONS {
        let checksum = hex::encode(Sha256::digest(m.sql.as_bytes()));
        match applied.iter().find(|a| a.version == m.version) {
            Some(a) if a.checksum == checksum => continue,
            Some(_) => {
                return Err(StoreError::Setup(format!(
                    "schema migration {:04}_{} was edited after it was applied; add a new migration instead",
                    m.version, m.name
                )));
            }
            None => {}
        }
        tracing::info!(version = m.version, name = m.name, "applying schema migration");
        for statement in statements(m.sql) {
            run_waiting_for_builds(ch, &run(statement)).await?;
        }
        ch.query(
            // INSERT … SELECT: parameters bind there on every server; in a
            // VALUES list the server reads its values as data, not SQL.
            "INSERT INTO schema_migrations (version, name, checksum) SELECT {v:UInt32}, {n:String}, {c:String}",
            Params::new().number("v", m.version).text("n", m.name).text("c", &checksum),
        )
        .await?;
    }
    Ok(())
}

/// How long a migration waits for a projection's build to finish before
/// it drops that projection.
const BUILD_WAIT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Runs `statement`, and runs it again while the engine refuses it only
/// because a projection it drops is still being built (a mutation an
/// earlier migration started in the background: the engine says "not
/// finished yet"). Each try is short, so a server's time limit on one
/// statement never cuts the wait; a build that outlasts [`BUILD_WAIT`] is
/// reported with the engine's own advice.
async fn run_waiting_for_builds(ch: &dyn Backend, statement: &str) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    loop {
        match ch.query(statement, Params::new()).await {
            Err(StoreError::Engine(e)) if waits_for_a_build(&e) && started.elapsed() < BUILD_WAIT => {
                tracing::info!(waited_s = started.elapsed().as_secs(), "waiting for a projection's build before dropping it");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            other => return other.map(|_| ()),
        }
    }
}

/// Whether the engine refused to drop a projection only because a mutation
/// that affects it has not finished (ClickHouse 26.7's message).
fn waits_for_a_build(engine_error: &str) -> bool {
    engine_error.contains("Cannot drop projection") && engine_error.contains("not finished yet")
}

/// The whole schema, statement by statement, for a replicated cluster:
/// the same statements `ON CLUSTER name`, each `…MergeTree` engine as its
/// `Replicated…MergeTree` with a Keeper path per table (`{shard}` and
/// `{replica}` are the servers' macros). What `flightlog schema --cluster`
/// prints for an operator to review; one shard (every replica holds every
/// session). What `--clickhouse-cluster` applies at start-up. Sharding
/// across several (`Distributed` tables by session) is not done yet
/// (docs/scale-out.md).
pub fn cluster_schema(cluster: &str) -> Vec<String> {
    let on_cluster = on_cluster(cluster);
    std::iter::once(LEDGER)
        .chain(MIGRATIONS.iter().map(|m| m.sql))
        .flat_map(statements)
        .map(|statement| replicated(&statement, &on_cluster))
        .collect()
}

fn on_cluster(cluster: &str) -> String {
    format!("ON CLUSTER {}", crate::server::quote_identifier(cluster))
}

/// One statement for a cluster (see [`cluster_schema`]).
fn replicated(statement: &str, on_cluster: &str) -> String {
    let words: Vec<&str> = statement.split_whitespace().collect();
    // CREATE TABLE IF NOT EXISTS t / CREATE MATERIALIZED VIEW IF NOT EXISTS v
    // / ALTER TABLE t: ON CLUSTER goes right after the name.
    let name_at = match words.as_slice() {
        ["CREATE", "TABLE", "IF", "NOT", "EXISTS", ..] => Some(5),
        ["CREATE", "MATERIALIZED", "VIEW", "IF", "NOT", "EXISTS", ..] => Some(6),
        ["ALTER", "TABLE", ..] => Some(2),
        _ => None,
    };
    let Some(at) = name_at else { return statement.to_string() };
    let name = words[at];
    let (head, rest) = statement.split_at(statement.find(name).expect("the name is in the statement") + name.len());
    let mut out = format!("{head} {on_cluster}{rest}");
    if let Some(start) = out.find("ENGINE = ") {
        let engine_at = start + "ENGINE = ".len();
        let engine_end = out[engine_at..].find(|c: char| !c.is_ascii_alphanumeric()).map_or(out.len(), |i| engine_at + i);
        let engine = out[engine_at..engine_end].to_string();
        if engine.ends_with("MergeTree") {
            let keeper = format!("'/clickhouse/tables/{{shard}}/{{database}}/{name}', '{{replica}}'");
            let args = if out[engine_end..].starts_with('(') {
                let close = engine_end + out[engine_end..].find(')').expect("engine arguments close");
                let inner = out[engine_end + 1..close].trim().to_string();
                let joined = if inner.is_empty() { keeper } else { format!("{keeper}, {inner}") };
                (close + 1, joined)
            } else {
                (engine_end, keeper)
            };
            out = format!("{}Replicated{engine}({}){}", &out[..engine_at], args.1, &out[args.0..]);
        }
    }
    out
}

/// Splits a file into statements: each ends with `;` at the end of a line.
/// Comment lines are dropped so they never form an empty statement.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            let stmt = current.trim().trim_end_matches(';').trim().to_string();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cluster DDL an operator reviews, held to a golden file
    /// (schema/cluster.golden.sql; rewrite it with FLIGHTLOG_GOLDEN_WRITE=1
    /// and review the diff when the schema changes).
    #[test]
    fn the_cluster_schema_matches_its_golden_file() {
        let got = cluster_schema("flightlog").join(";\n\n") + ";\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema/cluster.golden.sql");
        if std::env::var_os("FLIGHTLOG_GOLDEN_WRITE").is_some() {
            std::fs::write(path, &got).unwrap();
        }
        let want = std::fs::read_to_string(path).expect("schema/cluster.golden.sql");
        assert_eq!(got, want, "the cluster DDL changed: review it and rewrite the golden file");
        assert!(!got.contains("ENGINE = MergeTree") && !got.contains("ENGINE = AggregatingMergeTree"), "every engine is replicated");
        assert_eq!(got.matches("ON CLUSTER `flightlog`").count(), cluster_schema("flightlog").iter().filter(|s| !s.starts_with("INSERT")).count());
    }

    #[test]
    fn engines_become_replicated_with_their_arguments() {
        let got = replicated("CREATE TABLE IF NOT EXISTS keys\n(x UInt8)\nENGINE = ReplacingMergeTree(version)\nORDER BY x", "ON CLUSTER `c`");
        assert_eq!(
            got,
            "CREATE TABLE IF NOT EXISTS keys ON CLUSTER `c`\n(x UInt8)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/keys', '{replica}', version)\nORDER BY x"
        );
        assert_eq!(replicated("ALTER TABLE steps ADD INDEX i x TYPE minmax", "ON CLUSTER `c`"), "ALTER TABLE steps ON CLUSTER `c` ADD INDEX i x TYPE minmax");
    }

    /// What a backend on a cluster is sent: statements only, answers empty.
    struct Recorder(std::sync::Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl Backend for Recorder {
        async fn query_as(&self, sql: &str, _: Params, _: crate::backend::Format) -> Result<Vec<u8>, StoreError> {
            self.0.lock().unwrap().push(sql.to_string());
            Ok(Vec::new())
        }
        async fn insert_as(&self, _: &str, _: Vec<u8>, _: crate::backend::Format) -> Result<u64, StoreError> {
            unreachable!("migrations insert through statements")
        }
        fn describe(&self) -> String {
            "recorder".into()
        }
        fn cluster(&self) -> Option<&str> {
            Some("flightlog")
        }
    }

    /// `--clickhouse-cluster` applies exactly the reviewed DDL.
    #[tokio::test]
    async fn on_a_cluster_migrations_run_the_reviewed_statements() {
        let recorder = Recorder(Default::default());
        apply(&recorder).await.unwrap();
        let sent: Vec<String> = recorder.0.into_inner().unwrap();
        let ddl: Vec<&String> = sent.iter().filter(|s| !s.starts_with("SELECT") && !s.starts_with("INSERT INTO schema_migrations")).collect();
        let reviewed = cluster_schema("flightlog");
        assert_eq!(ddl.len(), reviewed.len());
        for (got, want) in ddl.iter().zip(&reviewed) {
            assert_eq!(*got, want);
        }
    }

    #[test]
    fn a_drop_refused_for_a_running_build_is_waited_for() {
        // The engine's message, as a plain MergeTree gives it.
        assert!(waits_for_a_build(
            "Code: 36. DB::Exception: Cannot drop projection by_start because it's affected by mutation with ID 'mutation_2.txt' which is not finished yet. Wait this mutation, or KILL it with command \"KILL MUTATION WHERE mutation_id = 'mutation_2.txt'\". (BAD_ARGUMENTS)"
        ));
        assert!(!waits_for_a_build("Code: 36. DB::Exception: Cannot drop projection by_start: no such projection. (BAD_ARGUMENTS)"));
    }

    #[test]
    fn files_split_into_statements_without_comments() {
        let got = statements("-- a comment;\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\nSELECT 1;\n");
        assert_eq!(got, ["CREATE TABLE a (x UInt8)\nENGINE = Memory", "SELECT 1"]);
        assert_eq!(statements(MIGRATIONS[1].sql).len(), 2, "session_summaries has a table and its view");
    }
}
