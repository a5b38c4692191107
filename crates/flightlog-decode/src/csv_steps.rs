//! The flat CSV form of a step: one column per typed field, named like the
//! storage columns. Used by `flightlog import` and by CSV exports, so a file
//! exported by Flightlog imports back unchanged.
//!
//! Cells: empty means absent; numbers are plain text; `tool_params`,
//! `tool_result`, `prompt_messages` and `metadata` hold JSON; `tags` and
//! `considered_tools` hold a JSON array or a `;`-separated list. A column not
//! listed here is kept as a top-level string field of the step.

use crate::json::parse_record;
use flightlog_model::FieldError;
use serde_json::{Map, Value};

/// How a cell is read.
#[derive(Clone, Copy, PartialEq)]
pub enum Cell {
    Text,
    Number,
    Json,
    List,
}

/// (CSV column, path in the step JSON, how the cell is read), in file order.
pub const COLUMNS: &[(&str, &str, Cell)] = &[
    ("session_id", "session_id", Cell::Text),
    ("step", "step", Cell::Number),
    ("timestamp", "timestamp", Cell::Text),
    ("agent_name", "agent.name", Cell::Text),
    ("agent_version", "agent.version", Cell::Text),
    ("reasoning", "agent_thoughts.reasoning", Cell::Text),
    ("considered_tools", "agent_thoughts.considered_tools", Cell::List),
    ("chosen_tool", "agent_thoughts.chosen_tool", Cell::Text),
    ("confidence", "agent_thoughts.confidence", Cell::Number),
    ("tool_name", "tool_execution.name", Cell::Text),
    ("tool_params", "tool_execution.params", Cell::Json),
    ("tool_result", "tool_execution.result", Cell::Json),
    ("tool_status", "tool_execution.status", Cell::Text),
    ("tool_error", "tool_execution.error", Cell::Text),
    ("tool_duration_ms", "tool_execution.duration_ms", Cell::Number),
    ("model_provider", "model.provider", Cell::Text),
    ("model_name", "model.name", Cell::Text),
    ("model_version", "model.version", Cell::Text),
    ("temperature", "model.temperature", Cell::Number),
    ("top_p", "model.top_p", Cell::Number),
    ("seed", "model.seed", Cell::Number),
    ("max_tokens", "model.max_tokens", Cell::Number),
    ("prompt_system", "prompt.system", Cell::Text),
    ("prompt_messages", "prompt.messages", Cell::Json),
    ("completion", "prompt.completion", Cell::Text),
    ("input_tokens", "cost.input_tokens", Cell::Number),
    ("output_tokens", "cost.output_tokens", Cell::Number),
    ("cache_read_tokens", "cost.cache_read_tokens", Cell::Number),
    ("cache_write_tokens", "cost.cache_write_tokens", Cell::Number),
    ("reasoning_tokens", "cost.reasoning_tokens", Cell::Number),
    ("estimated_cost", "cost.estimated_cost", Cell::Number),
    ("user_id", "user_id", Cell::Text),
    ("tags", "tags", Cell::List),
    ("metadata", "metadata", Cell::Json),
];

/// Turns one CSV row (with the file's header) into step JSON.
pub fn row_to_json(header: &csv::StringRecord, row: &csv::StringRecord) -> Result<Value, FieldError> {
    // A column named twice would silently keep one of its cells.
    // Errors name a column by its name, or by its place when it has none.
    let label = |i: usize, name: &str| if name.is_empty() { format!("(column {})", i + 1) } else { name.to_string() };
    for (i, name) in header.iter().enumerate() {
        if header.iter().take(i).any(|earlier| earlier == name) {
            return Err(FieldError::new(label(i, name), "the column appears more than once in the header"));
        }
    }
    let mut step = Map::new();
    for (i, (name, cell)) in header.iter().zip(row.iter()).enumerate() {
        if cell.is_empty() {
            continue;
        }
        let (path, kind) = match COLUMNS.iter().find(|(col, _, _)| *col == name) {
            Some((_, path, kind)) => (*path, *kind),
            None => (name, Cell::Text),
        };
        let value = read_cell(name, cell, kind)?;
        if !insert_path(&mut step, path, value) {
            return Err(FieldError::new(label(i, name), format!("its field {path:?} is already given by another column")));
        }
    }
    Ok(Value::Object(step))
}

fn read_cell(column: &str, cell: &str, kind: Cell) -> Result<Value, FieldError> {
    let bad = |what: &str| FieldError::new(column, format!("must be {what}, got {cell:?}"));
    // JSON in a cell is read as strictly as a request body: a repeated key
    // or a number that would lose digits refuses the row, naming the cell.
    let strict = |text: &str, what: &str| {
        parse_record(text.as_bytes()).map_err(|e| match e.field.as_str() {
            "(record)" if e.reason.starts_with("is not valid JSON") => bad(what),
            "(record)" => FieldError::new(column, e.reason),
            inner => FieldError::new(format!("{column}.{inner}"), e.reason),
        })
    };
    match kind {
        Cell::Text => Ok(Value::String(cell.to_string())),
        Cell::Number => match strict(cell.trim(), "a number")? {
            n @ Value::Number(_) => Ok(n),
            _ => Err(bad("a number")),
        },
        Cell::Json => strict(cell, "JSON"),
        Cell::List if cell.trim_start().starts_with('[') => strict(cell, "a JSON array"),
        Cell::List => Ok(Value::Array(cell.split(';').map(|s| Value::String(s.trim().to_string())).collect())),
    }
}

/// Puts `value` at the dotted `path`; false when another column already
/// holds that place (an unknown column `agent` beside `agent_name`), so
/// that neither is silently dropped.
fn insert_path(root: &mut Map<String, Value>, path: &str, value: Value) -> bool {
    match path.split_once('.') {
        None => {
            if root.contains_key(path) {
                return false;
            }
            root.insert(path.to_string(), value);
            true
        }
        Some((parent, rest)) => match root.entry(parent).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(map) => insert_path(map, rest, value),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(text: &str) -> Vec<Result<Value, FieldError>> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        reader.records().map(|r| row_to_json(&header, &r.unwrap())).collect()
    }

    #[test]
    fn a_csv_row_becomes_nested_step_json() {
        let got = rows(
            "session_id,step,timestamp,agent_name,considered_tools,tool_params,input_tokens,tags,region\n\
             s1,3,2026-01-15T10:30:00Z,bot,a;b,\"{\"\"id\"\":4}\",120,\"[\"\"x\"\"]\",eu\n",
        );
        assert_eq!(
            got[0].clone().unwrap(),
            json!({"session_id": "s1", "step": 3, "timestamp": "2026-01-15T10:30:00Z", "agent": {"name": "bot"},
                   "agent_thoughts": {"considered_tools": ["a", "b"]}, "tool_execution": {"params": {"id": 4}},
                   "cost": {"input_tokens": 120}, "tags": ["x"], "region": "eu"})
        );
    }

    #[test]
    fn a_bad_cell_names_its_column() {
        let got = rows("session_id,step,timestamp\ns1,three,2026-01-15T10:30:00Z\n");
        assert_eq!(got[0].clone().unwrap_err(), FieldError::new("step", "must be a number, got \"three\""));
    }

    #[test]
    fn cells_are_read_exactly_or_refused() {
        let got = rows("session_id,step,timestamp,session_id\ns1,1,2026-01-15T10:30:00Z,s2\n");
        assert_eq!(got[0].clone().unwrap_err().field, "session_id");
        let got = rows("session_id,step,timestamp,tool_params\ns1,1,2026-01-15T10:30:00Z,\"{\"\"a\"\":1,\"\"a\"\":2}\"\n");
        assert_eq!(got[0].clone().unwrap_err().field, "tool_params.a");
        let got = rows("session_id,step,timestamp,estimated_cost\ns1,1,2026-01-15T10:30:00Z,1.000000000000000000001\n");
        assert_eq!(got[0].clone().unwrap_err().field, "estimated_cost");
        for header in ["session_id,step,timestamp,agent,agent_name", "session_id,step,timestamp,agent_name,agent"] {
            let got = rows(&format!("{header}\ns1,1,2026-01-15T10:30:00Z,x,y\n"));
            assert!(got[0].is_err(), "{header}: neither column may be dropped");
        }
    }
}
