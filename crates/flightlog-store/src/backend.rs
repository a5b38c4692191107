//! The backend: the transport to ClickHouse, the only thing that differs
//! between the embedded engine and a server. It is deliberately thin (run a statement,
//! insert RowBinary) so that everything above it is shared and proven by
//! the embedded engine.

use async_trait::async_trait;

pub use crate::error::StoreError;
pub use crate::params::Params;

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs one statement and returns its output as JSONEachRow (64-bit
    /// integers unquoted).
    async fn query(&self, sql: &str, params: Params) -> Result<Vec<u8>, StoreError> {
        self.query_as(sql, params, Format::JsonEachRow).await
    }

    /// Runs one statement and returns its output in `format`.
    async fn query_as(&self, sql: &str, params: Params, format: Format) -> Result<Vec<u8>, StoreError>;

    /// Runs `insert_sql` (`INSERT INTO t (cols)`, no FORMAT clause) with
    /// `rows` encoded as RowBinary. Returns once the rows are durable.
    async fn insert(&self, insert_sql: &str, rows: Vec<u8>) -> Result<u64, StoreError> {
        self.insert_as(insert_sql, rows, Format::RowBinary).await
    }

    /// [`Backend::insert`] with `rows` in another input format (the
    /// write-path benchmark compares them; the store writes RowBinary).
    async fn insert_as(&self, insert_sql: &str, rows: Vec<u8>, format: Format) -> Result<u64, StoreError>;

    /// For logs and /healthz: which engine, where.
    fn describe(&self) -> String;

    /// Whether the engine is reached over the network, and so may stop
    /// answering while this process runs (/healthz asks it then).
    fn remote(&self) -> bool {
        false
    }

    /// The replicated cluster the schema lives on, if any: migrations then
    /// run `ON CLUSTER` with replicated engines.
    fn cluster(&self) -> Option<&str> {
        None
    }
}

/// The formats of reads' output and of inserts' input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line: what most reads parse (see [`rows`]).
    JsonEachRow,
    /// A header of column names and types, then the rows in RowBinary:
    /// for reads of long texts, which JSON makes the engine escape and the
    /// reader unescape (see `crate::rowbinary::Reader`).
    RowBinaryWithNamesAndTypes,
    /// Rows as the `steps` insert sends them: no header, no names.
    RowBinary,
    /// ClickHouse's own columnar blocks.
    Native,
    /// Apache Arrow's IPC stream.
    ArrowStream,
}

impl Format {
    /// The name ClickHouse knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Self::JsonEachRow => "JSONEachRow",
            Self::RowBinaryWithNamesAndTypes => "RowBinaryWithNamesAndTypes",
            Self::RowBinary => "RowBinary",
            Self::Native => "Native",
            Self::ArrowStream => "ArrowStream",
        }
    }
}

/// Parses JSONEachRow output into rows of `T`.
pub fn rows<T: serde::de::DeserializeOwned>(out: &[u8]) -> Result<Vec<T>, StoreError> {
    out.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).map_err(|e| StoreError::Decode(format!("{e}: {}", String::from_utf8_lossy(line)))))
        .collect()
}

/// Parses the JSONEachRow output of a one-column query into its values,
/// whatever the column is named: no struct of one field per question.
pub fn column<T: serde::de::DeserializeOwned>(out: &[u8]) -> Result<Vec<T>, StoreError> {
    let found: Vec<std::collections::BTreeMap<String, T>> = rows(out)?;
    found
        .into_iter()
        .map(|row| {
            let columns = row.len();
            let mut values = row.into_values();
            match (values.next(), columns) {
                (Some(v), 1) => Ok(v),
                _ => Err(StoreError::Decode(format!("a row of {columns} columns where one was asked"))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_column_answer_reads_as_its_values_and_a_wider_one_is_an_error() {
        assert_eq!(column::<u64>(b"{\"rows\":3}\n{\"rows\":4}\n").unwrap(), vec![3, 4]);
        assert_eq!(column::<String>(b"{\"user_id\":\"u\"}\n").unwrap(), vec!["u".to_string()]);
        assert!(column::<u64>(b"").unwrap().is_empty());
        assert!(column::<u64>(b"{\"a\":1,\"b\":2}\n").is_err(), "two columns");
        assert!(column::<u64>(b"{}\n").is_err(), "none");
    }
}
