//! One stored row's content checks: its fields against its recorded step
//! hash (erased fields by their kept hashes), and its typed columns
//! against its content.

use super::*;

/// What the content checks of one row found, to be taken into a report
/// in row order (rows are checked in parallel).
#[derive(Default)]
pub(super) struct Findings {
    problems: Vec<Problem>,
    erased: Vec<ErasedField>,
}

impl Findings {
    fn problem(&mut self, p: Problem) {
        self.problems.push(p);
    }
}

impl Report {
    pub(super) fn absorb(&mut self, found: Findings) {
        for p in found.problems {
            self.problem(p);
        }
        self.erased.extend(found.erased);
    }
}

/// A row's content against its recorded hash (erased fields by their kept
/// hashes), and its typed columns against its content.
pub(super) fn check_content(row: &IntegrityRow, recorded: &Hash, limits: &Limits, out: &mut Findings) {
    if row.not_utf8.contains(&"raw") {
        out.problem(problem(ProblemKind::Modified, Some(row), "the stored content is not UTF-8 text any more".into()));
        return;
    }
    // A column that holds content raw left to it (flightlog_model::stored)
    // is the content; where raw kept the field, the column is a copy, and
    // the columns' comparison names it.
    let left_to = |c: &str| {
        REBUILT.iter().any(|r| r.column == c) && serde_json::from_str::<Value>(&row.raw).is_ok_and(|rest| left_to_column(&rest, c))
    };
    // Reported once, here; the rest of the row is still checked (its
    // erased fields listed, its other columns compared), but the hash the
    // changed content no longer matches is not reported again.
    let not_text = row.not_utf8.iter().find(|c| left_to(c)).copied();
    if let Some(column) = not_text {
        out.problem(problem(
            ProblemKind::Modified,
            Some(row),
            format!("the stored content is not UTF-8 text any more: column {column} of step {}", row.step),
        ));
    }
    // Checked columns are reported by `check_columns`.
    if let Some(column) = row.not_utf8.iter().find(|c| row.column(c).is_none()) {
        out.problem(problem(ProblemKind::Unreadable, Some(row), format!("column {column} is not UTF-8 text")));
    }
    // Content → step hash, with erased fields' kept hashes.
    let mut erased: BTreeMap<String, Hash> = BTreeMap::new();
    for (path, h) in &row.erased {
        if !is_erasable(path) {
            out.problem(problem(ProblemKind::Modified, Some(row), not_erasable(path)));
        }
        match hash_of(h) {
            Ok(h) => {
                erased.insert(path.clone(), h);
            }
            Err(_) => out.problem(problem(ProblemKind::Unreadable, Some(row), format!("erased field {path} has a bad hash"))),
        }
    }
    let content = match row.content() {
        Ok(content) => content,
        Err(e) => {
            out.problem(problem(ProblemKind::Modified, Some(row), format!("the stored content is not JSON any more: {e}")));
            return;
        }
    };
    let modified = |out: &mut Findings| {
        if not_text.is_some() {
            return;
        }
        out.problem(problem(
            ProblemKind::Modified,
            Some(row),
            format!("step {} does not match its recorded hash: its content was changed", row.step),
        ))
    };
    let step = if erased.is_empty() {
        // Reading the content as a step hashes it as ingestion did: with
        // no field erased, that is the step hash (`stored_step_hash` with
        // no kept hashes equals `step_hash`), so it is not computed twice.
        let (hash, step) = match step_from_json(content, limits) {
            Ok(s) => (s.step_hash, Some(s)),
            // Not a step any more (reported below): hashed as it is, read
            // again since the step reader took it.
            Err(_) => (step_hash(&row.content().expect("parsed as JSON above")), None),
        };
        if hash != *recorded {
            modified(out);
        }
        step
    } else {
        if stored_step_hash(&content, &erased) != *recorded {
            modified(out);
        }
        for path in erased.keys() {
            out.erased.push(ErasedField { session_id: row.session_id.clone(), step: row.step, field: path.clone() });
            if !field_is_null(&content, path) {
                out.problem(problem(ProblemKind::RestoredAfterErasure, Some(row), restored(path)));
            }
        }
        step_from_json(content, limits).ok()
    };
    match step {
        Some(s) => check_columns(row, &s, not_text, out),
        None => out.problem(problem(ProblemKind::Modified, Some(row), "the stored content is no longer a valid step".into())),
    }
}

/// The typed columns must say what the recorded content says, exactly:
/// integers as integers and floats bit for bit.
pub(super) fn check_columns(row: &IntegrityRow, s: &Step, reported: Option<&str>, out: &mut Findings) {
    use Want::{Bool, Float, Int, List, OptUInt, Text, UInt};
    let expected = [
        ("agent_name", Text(&s.agent_name)),
        ("reasoning", Text(&s.reasoning)),
        ("chosen_tool", Text(&s.chosen_tool)),
        ("tool_name", Text(&s.tool_name)),
        ("tool_params", Text(&s.tool_params)),
        ("tool_result", Text(&s.tool_result)),
        ("tool_status", Text(&s.tool_status)),
        ("tool_error", Text(&s.tool_error)),
        ("model_provider", Text(&s.model_provider)),
        ("model_name", Text(&s.model_name)),
        ("model_version", Text(&s.model_version)),
        ("temperature", Float(s.temperature)),
        ("top_p", Float(s.top_p)),
        ("seed", Int(s.seed)),
        ("prompt_system", Text(&s.prompt_system)),
        ("prompt_messages", Text(&s.prompt_messages)),
        ("completion", Text(&s.completion)),
        ("input_tokens", UInt(s.input_tokens)),
        ("output_tokens", UInt(s.output_tokens)),
        ("cache_read_tokens", UInt(s.cache_read_tokens)),
        ("cache_write_tokens", UInt(s.cache_write_tokens)),
        ("reasoning_tokens", UInt(s.reasoning_tokens)),
        ("estimated_cost", Float(s.estimated_cost)),
        ("user_id", Text(&s.user_id)),
        ("ts", Int(Some(s.timestamp_us))),
        ("agent_version", Text(&s.agent_version)),
        ("considered_tools", List(&s.considered_tools)),
        ("confidence", Float(s.confidence)),
        ("tool_duration_ms", OptUInt(s.tool_duration_ms)),
        ("model_key", Text(&s.model_key)),
        ("max_tokens", OptUInt(s.max_tokens)),
        ("tags", List(&s.tags)),
        ("metadata", Text(&s.metadata)),
        ("failed", Bool(s.failed())),
    ];
    for (at, (column, want)) in expected.into_iter().enumerate() {
        // A content column already reported as the content changed.
        if reported == Some(column) {
            continue;
        }
        // In flightlog-store's CHECKED order, where rows hold them.
        let stored = row.column_at(at, column);
        // A column that is not UTF-8 text cannot hold what the content
        // says, even if its replacement characters happen to match.
        if !want.matches(stored) || row.not_utf8.contains(&column) {
            out.problem(problem(
                ProblemKind::ColumnChanged,
                Some(row),
                format!("column {column} of step {} no longer matches the recorded content", row.step),
            ));
        }
    }
}

/// What a typed column must hold, borrowed from the step read from the
/// content (compared without copying its texts).
enum Want<'a> {
    Text(&'a str),
    List(&'a [String]),
    UInt(u64),
    /// `None`: null.
    OptUInt(Option<u64>),
    Bool(bool),
    /// `None`: null.
    Int(Option<i64>),
    /// `None`: null. Compared by bits: a NaN or a zero's sign is a change.
    Float(Option<f64>),
}

impl Want<'_> {
    fn matches(&self, stored: Option<&Stored>) -> bool {
        match (self, stored) {
            (Want::Text(want), Some(Stored::Text(got))) => got == want,
            (Want::List(want), Some(Stored::List(got))) => got == want,
            (Want::UInt(want), Some(Stored::UInt(got))) => got == want,
            (Want::OptUInt(want), Some(Stored::OptUInt(got))) => got == want,
            (Want::Bool(want), Some(Stored::Bool(got))) => got == want,
            (Want::Int(want), Some(Stored::Int(got))) => got == want,
            (Want::Float(want), Some(Stored::Float(got))) => want.map(f64::to_bits) == got.map(f64::to_bits),
            _ => false,
        }
    }
}

/// Why a field recorded as erased that no erasure blanks is a problem
/// (here and in a bundle's check).
pub(crate) fn not_erasable(path: &str) -> String {
    format!("field {path} is recorded as erased, but no erasure blanks it: the step was altered")
}

/// Why content at a field recorded as erased is a problem.
pub(crate) fn restored(path: &str) -> String {
    format!("field {path} was erased but has content again")
}

pub(crate) fn field_is_null(content: &Value, path: &str) -> bool {
    let Ok(keys) = serde_json::from_str::<Vec<String>>(path) else { return false };
    keys.iter().try_fold(content, |v, k| v.get(k)).is_none_or(Value::is_null)
}

pub(super) fn hash_of(hex_text: &str) -> Result<Hash, ()> {
    hash_from_hex(hex_text).ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_matches_only_the_exact_value() {
        let big = (1i64 << 60) + 1;
        assert_eq!(big as f64, (big - 1) as f64, "the case a float comparison misses");
        assert!(Want::Int(Some(big)).matches(Some(&Stored::Int(Some(big)))));
        assert!(!Want::Int(Some(big)).matches(Some(&Stored::Int(Some(big - 1)))));
        assert!(!Want::UInt(u64::MAX).matches(Some(&Stored::UInt(u64::MAX - 1))));
        assert!(Want::Float(None).matches(Some(&Stored::Float(None))));
        assert!(!Want::Float(None).matches(Some(&Stored::Float(Some(f64::NAN)))), "a NaN is not a null");
        assert!(!Want::Float(Some(-0.0)).matches(Some(&Stored::Float(Some(0.0)))));
        assert!(Want::Float(Some(0.2)).matches(Some(&Stored::Float(Some(0.2)))));
        assert!(!Want::Int(None).matches(Some(&Stored::Float(None))), "a column of another type");
        assert!(!Want::Text("a").matches(None), "a missing column");
    }
}
