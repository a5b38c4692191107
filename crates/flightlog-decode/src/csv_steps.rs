//! The flat CSV form of a step: one column per typed field, named like the
//! storage columns. Used by `flightlog import` and by CSV exports, so a file
//! exported by Flightlog imports into another instance field for field.
//!
//! Cells: empty means absent; numbers are plain text; `tool_params`,
//! `tool_result`, `prompt_messages` and `metadata` hold JSON; `tags` and
//! `considered_tools` hold a JSON array or a `;`-separated list. The
//! columns an export adds after the step's (`RECORD`: its log index, hash
//! and arrival, what Flightlog made of it) are not the step's and are not
//! read. Any other column not among [`columns`] is kept as a top-level
//! string field of the step.

use crate::json::parse_record;
use flightlog_model::FieldError;
use serde_json::{Map, Value};

pub use flightlog_model::columns::{Cell, Field};

/// The columns of the flat form, in file order: each with its path in the
/// step JSON and how its cell is read. Derived from the one definition of
/// the step's columns (`flightlog_model::columns`), which also gives the
/// store's columns and the export's.
pub fn columns() -> impl Iterator<Item = &'static Field> {
    flightlog_model::columns::fields()
}

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
        if cell.is_empty() || flightlog_model::columns::RECORD.contains(&name) {
            continue;
        }
        let (path, kind) = match columns().find(|f| f.flat == name) {
            Some(f) => (f.path, f.cell),
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
        Cell::List => {
            // An item is kept as written or the row is refused: trimming
            // `a; b` to "b" would store a value other than the one sent.
            let items: Vec<&str> = cell.split(';').collect();
            match items.iter().find(|item| item.trim() != **item) {
                Some(item) => Err(FieldError::new(
                    column,
                    format!("the ;-separated item {item:?} has spaces around it; remove them, or give the list as a JSON array to keep them"),
                )),
                None => Ok(Value::Array(items.into_iter().map(|s| Value::String(s.to_string())).collect())),
            }
        }
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
    fn a_list_item_with_spaces_around_it_is_refused_not_trimmed() {
        let got = rows("session_id,step,tags,considered_tools\ns1,1,a; b,x\ns1,2,\"[\"\"a\"\",\"\" b\"\"]\",x;y\n");
        let refused = got[0].clone().unwrap_err();
        assert_eq!(refused.field, "tags");
        assert!(refused.reason.contains("\" b\""), "{}", refused.reason);
        assert_eq!(got[1].clone().unwrap()["tags"], serde_json::json!(["a", " b"]));
        assert_eq!(got[1].clone().unwrap()["agent_thoughts"]["considered_tools"], serde_json::json!(["x", "y"]));
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
    fn what_an_export_recorded_of_a_step_is_not_read_as_its_fields() {
        let got = rows("session_id,step,timestamp,log_index,step_hash,received_at,region\ns1,3,2026-01-15T10:30:00Z,7,ab12,2026-01-15T10:30:01Z,eu\n");
        assert_eq!(got[0].clone().unwrap(), json!({"session_id": "s1", "step": 3, "timestamp": "2026-01-15T10:30:00Z", "region": "eu"}));
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
