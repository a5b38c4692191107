//! Exports: a table (named, typed columns) written batch by batch as CSV,
//! Arrow IPC (stream format) or Parquet, so that a large export never has
//! to be held in memory. Rows arrive as JSON values (what the store reads);
//! each column's type decides how they are written.
//!
//! ```
//! use flightlog_export::{Column, Format, Kind, TableWriter};
//! let columns = vec![Column::new("model", Kind::Text), Column::new("cost", Kind::Float)];
//! let mut w = TableWriter::new(Format::Csv, columns, Vec::new()).unwrap();
//! w.write(&[vec!["gpt-4o".into(), 0.5.into()]]).unwrap();
//! assert_eq!(String::from_utf8(w.finish().unwrap()).unwrap(), "model,cost\ngpt-4o,0.5\n");
//! ```
//!
//! May use: no other Flightlog crate (floor 0). Used by the application core
//! and the front ends that send files.

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Arrow,
    Parquet,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "arrow" => Some(Self::Arrow),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Arrow => "application/vnd.apache.arrow.stream",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Arrow => "arrow",
            Self::Parquet => "parquet",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    /// A ClickHouse `UInt64`: values past i64 (a tool call's duration
    /// stored before its limit) were written as nulls into an Int64.
    UInt,
    Float,
    Bool,
}

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
}

impl Column {
    pub fn new(name: &str, kind: Kind) -> Self {
        Self { name: name.to_string(), kind }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A value its column's type cannot hold: written as null, it would
    /// be changed without a word.
    #[error("column {column}: {value} is not {kind}")]
    Unfit { column: String, value: String, kind: &'static str },
}

enum Inner<W: Write + Send> {
    Csv(csv::Writer<W>),
    Arrow(arrow_ipc::writer::StreamWriter<W>),
    Parquet(parquet::arrow::ArrowWriter<W>),
}

/// Writes one table to `W`, batch by batch.
pub struct TableWriter<W: Write + Send> {
    columns: Vec<Column>,
    schema: Arc<Schema>,
    inner: Inner<W>,
}

impl<W: Write + Send> TableWriter<W> {
    pub fn new(format: Format, columns: Vec<Column>, sink: W) -> Result<Self, ExportError> {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| {
                    let t = match c.kind {
                        Kind::Text => DataType::Utf8,
                        Kind::Int => DataType::Int64,
                        Kind::UInt => DataType::UInt64,
                        Kind::Float => DataType::Float64,
                        Kind::Bool => DataType::Boolean,
                    };
                    Field::new(&c.name, t, true)
                })
                .collect::<Vec<_>>(),
        ));
        let inner = match format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(sink);
                w.write_record(columns.iter().map(|c| c.name.as_str()))?;
                w.flush()?;
                Inner::Csv(w)
            }
            Format::Arrow => Inner::Arrow(arrow_ipc::writer::StreamWriter::try_new(sink, &schema)?),
            Format::Parquet => Inner::Parquet(parquet::arrow::ArrowWriter::try_new(sink, schema.clone(), None)?),
        };
        Ok(Self { columns, schema, inner })
    }

    /// Writes rows (one value per column, in column order; null = empty).
    pub fn write(&mut self, rows: &[Vec<Value>]) -> Result<(), ExportError> {
        match &mut self.inner {
            Inner::Csv(w) => {
                for row in rows {
                    w.write_record(row.iter().map(csv_cell))?;
                }
                w.flush()?;
            }
            Inner::Arrow(w) => w.write(&batch(&self.schema, &self.columns, rows)?)?,
            Inner::Parquet(w) => {
                w.write(&batch(&self.schema, &self.columns, rows)?)?;
                // One row group per batch, so that memory stays bounded.
                w.flush()?;
            }
        }
        Ok(())
    }

    /// Ends the table (footers) and hands back the sink.
    pub fn finish(self) -> Result<W, ExportError> {
        Ok(match self.inner {
            Inner::Csv(w) => w.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?,
            Inner::Arrow(mut w) => {
                w.finish()?;
                w.into_inner()?
            }
            Inner::Parquet(w) => w.into_inner()?,
        })
    }
}

/// A sink that the writer and a streamer share: the writer appends, the
/// streamer takes what is there after each batch and sends it on.
#[derive(Clone, Default)]
pub struct SharedBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Everything written since the last call.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A cell: null, or read as its column's type, or refused.
fn cell<T>(column: &Column, v: &Value, kind: &'static str, as_kind: impl Fn(&Value) -> Option<T>) -> Result<Option<T>, ExportError> {
    match v {
        Value::Null => Ok(None),
        v => as_kind(v).map(Some).ok_or_else(|| ExportError::Unfit { column: column.name.clone(), value: v.to_string(), kind }),
    }
}

fn batch(schema: &Arc<Schema>, columns: &[Column], rows: &[Vec<Value>]) -> Result<RecordBatch, ExportError> {
    let arrays = columns.iter().enumerate().map(|(i, c)| -> Result<ArrayRef, ExportError> {
        let cells = rows.iter().map(move |r| r.get(i).unwrap_or(&Value::Null));
        Ok(match c.kind {
            Kind::Text => {
                let mut b = StringBuilder::new();
                for v in cells {
                    match v {
                        Value::Null => b.append_null(),
                        other => b.append_value(csv_cell(other)),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Int => {
                let mut b = Int64Builder::new();
                for v in cells {
                    b.append_option(cell(c, v, "a signed 64-bit integer", |v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))?);
                }
                Arc::new(b.finish())
            }
            Kind::UInt => {
                let mut b = UInt64Builder::new();
                for v in cells {
                    b.append_option(cell(c, v, "an unsigned 64-bit integer", |v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))?);
                }
                Arc::new(b.finish())
            }
            Kind::Float => {
                let mut b = Float64Builder::new();
                for v in cells {
                    b.append_option(cell(c, v, "a number", Value::as_f64)?);
                }
                Arc::new(b.finish())
            }
            Kind::Bool => {
                let mut b = BooleanBuilder::new();
                for v in cells {
                    b.append_option(cell(c, v, "a boolean", |v| v.as_bool().or_else(|| v.as_u64().map(|n| n != 0)))?);
                }
                Arc::new(b.finish())
            }
        })
    });
    Ok(RecordBatch::try_new(schema.clone(), arrays.collect::<Result<Vec<_>, _>>()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> Vec<Column> {
        vec![Column::new("s", Kind::Text), Column::new("n", Kind::Int), Column::new("x", Kind::Float), Column::new("b", Kind::Bool)]
    }

    #[test]
    fn every_format_writes_and_reads_back() {
        let rows = vec![vec![json!("a,\"b\""), json!(1), json!(0.5), json!(true)], vec![json!(null), json!("7"), json!(null), json!(0)]];
        let csv = TableWriter::new(Format::Csv, table(), Vec::new()).and_then(|mut w| { w.write(&rows)?; w.finish() }).unwrap();
        assert_eq!(String::from_utf8(csv).unwrap(), "s,n,x,b\n\"a,\"\"b\"\"\",1,0.5,true\n,7,,0\n");

        let ipc = TableWriter::new(Format::Arrow, table(), Vec::new()).and_then(|mut w| { w.write(&rows)?; w.write(&rows)?; w.finish() }).unwrap();
        let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None).unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 4);
        assert_eq!(batches[0].column(1).as_any().downcast_ref::<arrow_array::Int64Array>().unwrap().value(1), 7);

        let pq = TableWriter::new(Format::Parquet, table(), Vec::new()).and_then(|mut w| { w.write(&rows)?; w.finish() }).unwrap();
        assert_eq!(&pq[..4], b"PAR1");
    }

    /// An unsigned column holds all of u64, and a value no column of its
    /// type holds is refused: it was written as null.
    #[test]
    fn values_are_written_whole_or_refused() {
        let columns = vec![Column::new("u", Kind::UInt), Column::new("i", Kind::Int)];
        let rows = vec![vec![json!(u64::MAX), json!(i64::MIN)], vec![json!(null), json!("-5")]];
        let ipc = TableWriter::new(Format::Arrow, columns.clone(), Vec::new()).and_then(|mut w| { w.write(&rows)?; w.finish() }).unwrap();
        let batch = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None).unwrap().next().unwrap().unwrap();
        let unsigned = batch.column(0).as_any().downcast_ref::<arrow_array::UInt64Array>().unwrap();
        assert_eq!((unsigned.value(0), arrow_array::Array::is_null(unsigned, 1)), (u64::MAX, true));
        assert_eq!(batch.column(1).as_any().downcast_ref::<arrow_array::Int64Array>().unwrap().value(1), -5);
        for (cell, column) in [(json!(-1), 0), (json!(u64::MAX), 1), (json!("ten"), 1), (json!(1.5), 0)] {
            let mut row = vec![json!(null), json!(null)];
            row[column] = cell.clone();
            let refused = TableWriter::new(Format::Parquet, columns.clone(), Vec::new()).and_then(|mut w| w.write(&[row])).unwrap_err();
            assert!(matches!(refused, ExportError::Unfit { .. }), "{cell}: {refused}");
        }
    }

    #[test]
    fn a_shared_buffer_streams_what_was_written_so_far() {
        let buf = SharedBuffer::default();
        let mut w = TableWriter::new(Format::Csv, table(), buf.clone()).unwrap();
        assert_eq!(buf.take(), b"s,n,x,b\n");
        w.write(&[vec![json!("a"), json!(1), json!(1.5), json!(false)]]).unwrap();
        assert_eq!(buf.take(), b"a,1,1.5,false\n");
        w.finish().unwrap();
        assert!(buf.take().is_empty());
    }
}
