//! The step's columns, defined once: [`STEP_COLUMNS`], the `steps` table's
//! stored columns in table order, each with its ClickHouse type and where
//! its value comes from.
//!
//! Everything that lists the step's columns is derived from this table:
//! - the insert (`flightlog-store` steps: `INSERT INTO steps (…)`, and the
//!   RowBinary encoder, whose order a test checks against it);
//! - the flat form of a step, [`fields`]: the CSV import's header
//!   (`flightlog-decode` csv_steps) and the first part of a steps export;
//! - the steps export, [`exported`]: the fields, then [`RECORD`], with a
//!   value kind per column ([`Column::value`]) and the store's `SELECT`;
//! - the cost benchmark's generating `INSERT … SELECT` (`flightlog-bench`).
//!
//! The DDL stays SQL (`schema/0001_steps.sql`: migrations are applied as
//! files); a store test reads the real table's columns from the engine and
//! asserts they equal this table, names and types in order, so the two
//! cannot drift.
//!
//! Why here, in the model: the CSV decoder needs the flat form and may not
//! depend on the store; the store, the export and the benchmark all depend
//! on the model. The flat form (what a client sends) and the stored columns
//! differ, so the relation is explicit: a stored column either comes from a
//! client's field ([`Source::Field`], whose flat name is the column's except
//! `ts` ← `timestamp`), is derived from the step when it is encoded
//! ([`Source::Derived`]), or is assigned by the single writer when it
//! accepts the step ([`Source::Writer`]). Columns computed by the engine on
//! read (ALIAS columns added by later migrations, like `key_decision`) are
//! not written with a row and are not listed.

/// How a cell of the flat (CSV) form is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Text,
    Number,
    Json,
    List,
}

/// A field of the step as a client sends it, in its flat form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its column in the flat form (CSV header, export).
    pub flat: &'static str,
    /// Its dotted path in the step JSON.
    pub path: &'static str,
    pub cell: Cell,
}

/// Where a stored column's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A field the client sends.
    Field(Field),
    /// Computed from the step when it is encoded: the project (from the
    /// key), the price key, the canonical JSON, failed, the step hash,
    /// erased fields (none at ingestion).
    Derived,
    /// Assigned by the single writer when it accepts the step; written
    /// after all the others (see flightlog-store's `EncodedStep`).
    Writer,
}

/// One stored column of `steps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// The ClickHouse type, spelled as `system.columns` spells it.
    pub clickhouse_type: &'static str,
    pub source: Source,
}

/// The kind of value a column holds once read out (exports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// Strings, and what is exported as text: arrays (JSON), times
    /// (RFC 3339), hashes (hex), maps.
    Text,
    Int,
    /// Unsigned: a step number or a token count past i64 (stored before
    /// their limits) would not fit an Int.
    UInt,
    Float,
    Bool,
}

impl Column {
    /// Its name in the flat form and exports: the field's flat name, or
    /// the column's own.
    pub fn export_name(&self) -> &'static str {
        match self.source {
            Source::Field(f) => f.flat,
            _ => self.name,
        }
    }

    /// The field it stores, if a client sends it.
    pub fn field(&self) -> Option<Field> {
        match self.source {
            Source::Field(f) => Some(f),
            _ => None,
        }
    }

    /// The kind of value, from the ClickHouse type (nullability aside).
    pub fn value(&self) -> Value {
        let t = self.clickhouse_type;
        let t = t.strip_prefix("Nullable(").and_then(|t| t.strip_suffix(')')).unwrap_or(t);
        match t {
            "UInt64" => Value::UInt,
            "Int64" => Value::Int,
            "Float64" => Value::Float,
            "Bool" => Value::Bool,
            _ => Value::Text,
        }
    }

    /// A DateTime64 column (microseconds inside).
    pub fn is_time(&self) -> bool {
        self.clickhouse_type.starts_with("DateTime64(")
    }
}

const fn field(name: &'static str, clickhouse_type: &'static str, path: &'static str, cell: Cell) -> Column {
    Column { name, clickhouse_type, source: Source::Field(Field { flat: name, path, cell }) }
}

const fn derived(name: &'static str, clickhouse_type: &'static str) -> Column {
    Column { name, clickhouse_type, source: Source::Derived }
}

const fn writer(name: &'static str, clickhouse_type: &'static str) -> Column {
    Column { name, clickhouse_type, source: Source::Writer }
}

const LC: &str = "LowCardinality(String)";
const TEXT: &str = "String";

/// The stored columns of `steps`, in table order (`schema/0001_steps.sql`).
pub const STEP_COLUMNS: &[Column] = &[
    derived("project", LC),
    field("session_id", TEXT, "session_id", Cell::Text),
    field("step", "UInt64", "step", Cell::Number),
    Column {
        name: "ts",
        clickhouse_type: "DateTime64(6, 'UTC')",
        source: Source::Field(Field { flat: "timestamp", path: "timestamp", cell: Cell::Text }),
    },
    field("agent_name", LC, "agent.name", Cell::Text),
    field("agent_version", LC, "agent.version", Cell::Text),
    field("reasoning", TEXT, "agent_thoughts.reasoning", Cell::Text),
    field("considered_tools", "Array(LowCardinality(String))", "agent_thoughts.considered_tools", Cell::List),
    field("chosen_tool", LC, "agent_thoughts.chosen_tool", Cell::Text),
    field("confidence", "Nullable(Float64)", "agent_thoughts.confidence", Cell::Number),
    field("tool_name", LC, "tool_execution.name", Cell::Text),
    field("tool_params", TEXT, "tool_execution.params", Cell::Json),
    field("tool_result", TEXT, "tool_execution.result", Cell::Json),
    field("tool_status", LC, "tool_execution.status", Cell::Text),
    field("tool_error", TEXT, "tool_execution.error", Cell::Text),
    field("tool_duration_ms", "Nullable(UInt64)", "tool_execution.duration_ms", Cell::Number),
    field("model_provider", LC, "model.provider", Cell::Text),
    field("model_name", LC, "model.name", Cell::Text),
    field("model_version", LC, "model.version", Cell::Text),
    // model_name reduced to the price list's key (see `pricing`).
    derived("model_key", LC),
    field("temperature", "Nullable(Float64)", "model.temperature", Cell::Number),
    field("top_p", "Nullable(Float64)", "model.top_p", Cell::Number),
    field("seed", "Nullable(Int64)", "model.seed", Cell::Number),
    field("max_tokens", "Nullable(UInt64)", "model.max_tokens", Cell::Number),
    field("prompt_system", TEXT, "prompt.system", Cell::Text),
    field("prompt_messages", TEXT, "prompt.messages", Cell::Json),
    // Long messages stored once per session (`by_reference`): their keys,
    // in order, and then prompt_messages is empty.
    derived("message_refs", "Array(FixedString(32))"),
    // Span attributes stored once per session the same way
    // (`stored::write_otel_rest`): key → its pieces' keys.
    derived("attribute_refs", "Map(String, Array(FixedString(32)))"),
    // Long texts stored once per session whole (`by_reference::Place`):
    // the system prompt (its column then empty), and span attributes that
    // are not an array's text. Where it goes back → its key.
    derived("text_refs", "Map(String, FixedString(32))"),
    field("completion", TEXT, "prompt.completion", Cell::Text),
    field("input_tokens", "UInt64", "cost.input_tokens", Cell::Number),
    field("output_tokens", "UInt64", "cost.output_tokens", Cell::Number),
    field("cache_read_tokens", "UInt64", "cost.cache_read_tokens", Cell::Number),
    field("cache_write_tokens", "UInt64", "cost.cache_write_tokens", Cell::Number),
    field("reasoning_tokens", "UInt64", "cost.reasoning_tokens", Cell::Number),
    field("estimated_cost", "Nullable(Float64)", "cost.estimated_cost", Cell::Number),
    field("user_id", TEXT, "user_id", Cell::Text),
    field("tags", "Array(LowCardinality(String))", "tags", Cell::List),
    field("metadata", TEXT, "metadata", Cell::Json),
    // The step as received, in canonical JSON, without the content its typed
    // columns hold exactly (put back on read: `stored`): unknown fields are
    // never lost.
    derived("raw", TEXT),
    derived("failed", "Bool"),
    derived("step_hash", "FixedString(32)"),
    derived("erased", "Map(String, FixedString(32))"),
    writer("session_seq", "UInt64"),
    writer("chain_hash", "FixedString(32)"),
    writer("log_index", "UInt64"),
    writer("received_at", "DateTime64(6, 'UTC')"),
];

/// What Flightlog recorded when it accepted a step, as a steps export
/// carries it after the fields, in this order.
pub const RECORD: [&str; 3] = ["log_index", "step_hash", "received_at"];

/// The stored column of this name.
pub fn column(name: &str) -> Option<&'static Column> {
    STEP_COLUMNS.iter().find(|c| c.name == name)
}

/// The flat form of a step (the CSV header), in order: the fields a client
/// sends, in table order.
pub fn fields() -> impl Iterator<Item = &'static Field> {
    STEP_COLUMNS.iter().filter_map(|c| match &c.source {
        Source::Field(f) => Some(f),
        _ => None,
    })
}

/// The columns of a steps export, in order: the flat form (so an export
/// imports into another instance field for field), then the [`RECORD`].
pub fn exported() -> impl Iterator<Item = &'static Column> {
    let fields = STEP_COLUMNS.iter().filter(|c| matches!(c.source, Source::Field(_)));
    fields.chain(RECORD.iter().map(|name| column(name).expect("RECORD names stored columns")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_the_record_is_stored() {
        let mut names: Vec<&str> = STEP_COLUMNS.iter().map(|c| c.name).collect();
        names.extend(fields().map(|f| f.flat).filter(|f| column(f).is_none()));
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a name is used twice: {names:?}");
        for name in RECORD {
            assert!(column(name).is_some_and(|c| !matches!(c.source, Source::Field(_))), "{name}");
        }
    }

    #[test]
    fn the_writers_columns_come_last() {
        let first_writer = STEP_COLUMNS.iter().position(|c| c.source == Source::Writer).unwrap();
        assert!(STEP_COLUMNS[first_writer..].iter().all(|c| c.source == Source::Writer));
    }

    #[test]
    fn the_flat_form_is_the_csv_header_of_today() {
        let header: Vec<&str> = fields().map(|f| f.flat).collect();
        assert_eq!(
            header.join(","),
            "session_id,step,timestamp,agent_name,agent_version,reasoning,considered_tools,chosen_tool,confidence,\
             tool_name,tool_params,tool_result,tool_status,tool_error,tool_duration_ms,model_provider,model_name,\
             model_version,temperature,top_p,seed,max_tokens,prompt_system,prompt_messages,completion,input_tokens,\
             output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,estimated_cost,user_id,tags,metadata"
        );
        // The export's columns and kinds as they were listed by hand
        // before (flightlog-api's steps export), the unsigned ones told
        // apart since stop 64 (a u64 past i64 was exported as null).
        use Value::*;
        let before = [
            ("session_id", Text), ("step", UInt), ("timestamp", Text), ("agent_name", Text), ("agent_version", Text),
            ("reasoning", Text), ("considered_tools", Text), ("chosen_tool", Text), ("confidence", Float),
            ("tool_name", Text), ("tool_params", Text), ("tool_result", Text), ("tool_status", Text), ("tool_error", Text),
            ("tool_duration_ms", UInt), ("model_provider", Text), ("model_name", Text), ("model_version", Text),
            ("temperature", Float), ("top_p", Float), ("seed", Int), ("max_tokens", UInt), ("prompt_system", Text),
            ("prompt_messages", Text), ("completion", Text), ("input_tokens", UInt), ("output_tokens", UInt),
            ("cache_read_tokens", UInt), ("cache_write_tokens", UInt), ("reasoning_tokens", UInt), ("estimated_cost", Float),
            ("user_id", Text), ("tags", Text), ("metadata", Text), ("log_index", UInt), ("step_hash", Text), ("received_at", Text),
        ];
        assert_eq!(exported().map(|c| (c.export_name(), c.value())).collect::<Vec<_>>(), before);
    }
}
