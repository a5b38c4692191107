//! The layering rule of docs/architecture.md, checked from `cargo metadata`:
//! every workspace crate uses only crates on lower floors, so front ends
//! never use each other and nothing below the core reaches up into it.

use std::collections::BTreeMap;
use std::process::Command;

/// Each workspace crate's floor (docs/architecture.md).
const FLOORS: &[(&str, u8)] = &[
    ("flightlog-model", 0),
    ("flightlog-chdb", 0),
    ("flightlog-embed", 0),
    ("flightlog-export", 0),
    ("flightlog-redact", 0),
    ("flightlog-decode", 1),
    ("flightlog-store", 1),
    ("flightlog-chdb-http", 1),
    ("flightlog-ingest", 2),
    ("flightlog-index", 2),
    ("flightlog-integrity", 3),
    ("flightlog-app", 4),
    ("flightlog-api", 5),
    ("flightlog-web", 5),
    ("flightlog-grpc", 5),
    ("flightlog-mcp", 5),
    ("flightlog", 6),
    ("flightlog-bench", 6),
    // The end-to-end tests drive the binary from outside.
    ("flightlog-tests", 7),
];

/// (crate, the workspace crates it depends on, normal and dev alike).
fn workspace_dependencies() -> Vec<(String, Vec<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let members: Vec<String> =
        meta["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["name"].as_str().unwrap().to_string())
                .filter(|d| members.contains(d))
                .collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

#[test]
fn every_crate_uses_only_lower_floors() {
    let floors: BTreeMap<&str, u8> = FLOORS.iter().copied().collect();
    let crates = workspace_dependencies();
    assert!(crates.len() >= 14, "the workspace should list every crate, got {crates:?}");
    let mut wrong = Vec::new();
    for (name, deps) in &crates {
        let Some(&floor) = floors.get(name.as_str()) else {
            wrong.push(format!("{name} has no floor: add it to docs/architecture.md and FLOORS"));
            continue;
        };
        for dep in deps {
            match floors.get(dep.as_str()) {
                Some(&f) if f < floor => {}
                Some(&f) => wrong.push(format!("{name} (floor {floor}) uses {dep} (floor {f})")),
                None => wrong.push(format!("{dep}, used by {name}, has no floor")),
            }
        }
    }
    assert!(wrong.is_empty(), "the layering rule of docs/architecture.md is broken:\n  {}", wrong.join("\n  "));
}

#[test]
fn front_ends_reach_the_core() {
    let crates: BTreeMap<String, Vec<String>> = workspace_dependencies().into_iter().collect();
    for front in ["flightlog-api", "flightlog-web", "flightlog-grpc", "flightlog-mcp"] {
        assert!(crates[front].iter().any(|d| d == "flightlog-app"), "{front} should be built on flightlog-app");
    }
}
