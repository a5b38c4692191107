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
];

#[derive(serde::Deserialize)]
struct Applied {
    version: u32,
    checksum: String,
}

pub async fn apply(ch: &dyn Backend) -> Result<(), StoreError> {
    for statement in statements(LEDGER) {
        ch.query(&statement, Params::new()).await?;
    }
    let applied: Vec<Applied> = rows(&ch.query("SELECT version, checksum FROM schema_migrations", Params::new()).await?)?;
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
            ch.query(&statement, Params::new()).await?;
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

    #[test]
    fn files_split_into_statements_without_comments() {
        let got = statements("-- a comment;\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\nSELECT 1;\n");
        assert_eq!(got, ["CREATE TABLE a (x UInt8)\nENGINE = Memory", "SELECT 1"]);
        assert_eq!(statements(MIGRATIONS[1].sql).len(), 2, "session_summaries has a table and its view");
    }
}
