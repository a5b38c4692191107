//! Drives the real libchdb: these tests need `make setup` to have fetched it.

use flightlog_chdb::Library;

fn lib() -> Library {
    Library::open(&flightlog_chdb::default_library_path()).expect("libchdb loads (run `make setup`)")
}

#[test]
fn rowbinary_insert_and_parameterised_query_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let lib = lib();
    let conn = lib.connect(dir.path()).unwrap();
    conn.query("CREATE TABLE t (s String, n UInt64) ENGINE = MergeTree ORDER BY s", "CSV", &[]).unwrap();
    // RowBinary: String = varint length + bytes, UInt64 = 8 bytes LE.
    let mut data = Vec::new();
    for (s, n) in [("a", 1u64), ("b\0x", 2)] {
        data.push(s.len() as u8);
        data.extend_from_slice(s.as_bytes());
        data.extend_from_slice(&n.to_le_bytes());
    }
    let rows = conn.insert("INSERT INTO t (s, n)", "RowBinary", &data).unwrap();
    assert_eq!(rows, 2);
    let out = conn.query("SELECT n FROM t WHERE s = {s:String}", "CSV", &[("s", "b\0x")]).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "2\n");
}

#[test]
fn errors_carry_the_engine_message() {
    let dir = tempfile::tempdir().unwrap();
    let conn = lib().connect(dir.path()).unwrap();
    let err = conn.query("SELECT * FROM no_such_table", "CSV", &[]).unwrap_err().to_string();
    assert!(err.contains("no_such_table"), "{err}");
}

#[test]
fn two_connections_to_one_path_see_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let lib = lib();
    let a = lib.connect(dir.path()).unwrap();
    let b = lib.connect(dir.path()).unwrap();
    a.query("CREATE TABLE t (n UInt64) ENGINE = MergeTree ORDER BY n", "CSV", &[]).unwrap();
    a.query("INSERT INTO t VALUES (7)", "CSV", &[]).unwrap();
    let handle = std::thread::spawn(move || b.query("SELECT sum(n) FROM t", "CSV", &[]).unwrap());
    assert_eq!(handle.join().unwrap(), b"7\n");
}

#[test]
fn missing_library_is_an_error_naming_the_path() {
    let err = Library::open("/nonexistent/libchdb.so".as_ref()).err().unwrap().to_string();
    assert!(err.contains("/nonexistent/libchdb.so") && err.contains("make setup"), "{err}");
}
