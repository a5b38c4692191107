//! The memory budget is ClickHouse's own limit, on the embedded engine:
//! a statement that needs more is refused as over budget (the process lives
//! on and keeps answering), and a GROUP BY over more keys than fit spills
//! to disk and gives the same answer as without a budget.

use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{Backend, MemoryBudget, Params, StoreError};

const BUDGET: MemoryBudget = MemoryBudget { bytes: 128 << 20 };

fn open(dir: &std::path::Path, memory: MemoryBudget) -> Embedded {
    Embedded::open(&default_library_path(), dir, 1, memory).unwrap()
}

fn text(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap().trim().to_string()
}

#[tokio::test]
async fn a_statement_over_its_budget_is_refused_as_such_and_the_engine_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), BUDGET);
    // 240 MB in one array: nothing can spill it.
    let err = engine.query("SELECT length(groupArray(number)) AS n FROM numbers(30000000)", Params::new()).await.unwrap_err();
    match &err {
        StoreError::OverMemoryBudget { budget, detail } => {
            assert_eq!(*budget, BUDGET);
            assert!(detail.contains("MEMORY_LIMIT_EXCEEDED"), "{detail}");
        }
        other => panic!("expected over budget, got {other:?}"),
    }
    assert!(err.to_string().contains("128 MiB"), "{err}");
    // The same connection answers the next statement.
    assert_eq!(text(engine.query("SELECT 1 AS one", Params::new()).await.unwrap()), r#"{"one":1}"#);
}

#[tokio::test]
async fn a_group_by_bigger_than_the_budget_spills_and_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    // Six million distinct keys with their counts: a hash table of far
    // more than 128 MiB.
    let sql = "SELECT count() AS groups, sum(c) AS rows, sum(k) AS keys FROM \
               (SELECT toString(number) AS s, any(number) AS k, count() AS c FROM numbers(6000000) GROUP BY number % 3000000 AS g, s)";
    let engine = open(dir.path(), BUDGET);
    // Not spilling, the same GROUP BY does not fit: the spill is what answers it.
    let unspilled = format!("{sql} SETTINGS max_bytes_before_external_group_by = 0");
    assert!(matches!(engine.query(&unspilled, Params::new()).await, Err(StoreError::OverMemoryBudget { .. })));
    let budgeted = text(engine.query(sql, Params::new()).await.expect("spilled, not refused"));
    // Without a limit (one engine per process: the same one, unlimited for
    // this statement).
    let unlimited_sql = format!("{sql} SETTINGS max_memory_usage = 0, max_bytes_before_external_group_by = 0");
    let unlimited = text(engine.query(&unlimited_sql, Params::new()).await.unwrap());
    assert_eq!(budgeted, unlimited);
    assert!(budgeted.starts_with(r#"{"groups":6000000,"rows":6000000"#), "{budgeted}");
}
