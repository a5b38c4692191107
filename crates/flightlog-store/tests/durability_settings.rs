//! Every table that holds evidence or state fsyncs a part before an insert
//! is acknowledged, as the migrations leave them in a real embedded engine,
//! the tables that materialized views derive from steps included: they are
//! rebuilt from steps when a start-up finds them apart, but with a
//! ClickHouse server that loses power while Flightlog runs on, nothing
//! would look until Flightlog's next start, and a table left with many
//! broken parts may refuse to load at all (issue 15's note: dropping their
//! fsync made a 1,000-step insert 14-21% faster and was reverted for this).

use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{Params, Store};
use std::sync::Arc;

/// Tables that state no fsync settings (the engine's default, off): the
/// price list is loaded again from schema/prices.csv at every start-up,
/// and the migration ledger is only written by DDL that may run twice.
const DEFAULT: [&str; 2] = ["prices", "schema_migrations"];

#[tokio::test]
async fn every_table_of_state_fsyncs_its_parts() {
    #[derive(serde::Deserialize, Debug)]
    struct Table {
        name: String,
        create_table_query: String,
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap())).await.unwrap();
    let sql = "SELECT name, create_table_query FROM system.tables \
               WHERE database = currentDatabase() AND engine LIKE '%MergeTree' ORDER BY name";
    let tables: Vec<Table> = flightlog_store::backend::rows(&store.backend().query(sql, Params::new()).await.unwrap()).unwrap();
    for name in ["steps", "log_entries", "session_summaries", "session_actions", "cost_rollups", "checkpoints"] {
        assert!(tables.iter().any(|t| t.name == name), "{name} is among {tables:?}");
    }
    for t in &tables {
        let q = &t.create_table_query;
        if DEFAULT.contains(&t.name.as_str()) {
            assert!(!q.contains("fsync"), "{q}");
        } else {
            assert!(q.contains("fsync_after_insert = 1") && q.contains("fsync_part_directory = 1"), "{} does not fsync: {q}", t.name);
        }
    }
}
