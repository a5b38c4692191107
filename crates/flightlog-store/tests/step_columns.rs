//! The `steps` table the migrations create (schema/*.sql, applied to a real
//! embedded engine) has exactly the stored columns of the one definition,
//! `flightlog_model::columns::STEP_COLUMNS`: same names, same types, same
//! order. The DDL stays SQL; this is what keeps it from drifting.

use flightlog_model::columns::STEP_COLUMNS;
use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{Params, Store};
use std::sync::Arc;

#[tokio::test]
async fn the_steps_table_has_the_defined_columns_in_order() {
    #[derive(serde::Deserialize, Debug)]
    struct Described {
        name: String,
        r#type: String,
        default_type: String,
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap())).await.unwrap();
    let out = store.backend().query("DESCRIBE TABLE steps", Params::new()).await.unwrap();
    let described: Vec<Described> = flightlog_store::backend::rows(&out).unwrap();
    assert!(described.len() >= STEP_COLUMNS.len(), "{described:?}");
    // Columns the engine computes on read (ALIAS) are not written with a
    // row and are not in the definition.
    let stored: Vec<(&str, &str)> =
        described.iter().filter(|c| c.default_type != "ALIAS").map(|c| (c.name.as_str(), c.r#type.as_str())).collect();
    let defined: Vec<(&str, &str)> = STEP_COLUMNS.iter().map(|c| (c.name, c.clickhouse_type)).collect();
    assert_eq!(stored, defined);
}
