//! Which tables fsync a part before an insert is acknowledged, as the
//! migrations leave them in a real embedded engine. Everything that is
//! evidence or state (steps, the log of record, keys, checkpoints,
//! policies…) does; only the tables that materialized views derive from
//! steps do not, because the store rebuilds them from steps at start-up
//! whenever they disagree (schema/0021).

use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{Params, Store};
use std::sync::Arc;

const DERIVED: [&str; 3] = ["cost_rollups", "session_actions", "session_summaries"];
/// Tables that state no fsync settings (the engine's default, off): the
/// price list is loaded again from schema/prices.csv at every start-up,
/// and the migration ledger is only written by DDL that may run twice.
const DEFAULT: [&str; 2] = ["prices", "schema_migrations"];

#[tokio::test]
async fn only_tables_rebuilt_from_steps_skip_the_fsync() {
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
    assert!(tables.iter().any(|t| t.name == "steps") && tables.iter().any(|t| t.name == "log_entries"), "{tables:?}");
    let mut unsynced = Vec::new();
    for t in tables.iter().filter(|t| !DEFAULT.contains(&t.name.as_str())) {
        let synced = t.create_table_query.contains("fsync_after_insert = 1") && t.create_table_query.contains("fsync_part_directory = 1");
        let skipped = t.create_table_query.contains("fsync_after_insert = 0") && t.create_table_query.contains("fsync_part_directory = 0");
        assert!(synced != skipped, "{} states its fsync settings once, both on or both off: {}", t.name, t.create_table_query);
        if skipped {
            unsynced.push(t.name.as_str());
        }
    }
    assert_eq!(unsynced, DERIVED);
    for name in DEFAULT {
        let t = tables.iter().find(|t| t.name == name).expect("the table exists");
        assert!(!t.create_table_query.contains("fsync"), "{}", t.create_table_query);
    }
}
