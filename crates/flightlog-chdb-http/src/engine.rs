//! Runs one request's statement on chDB, the way a ClickHouse server runs
//! an HTTP query: a fresh session per request (URL settings, `database`
//! and any `SET`/`USE` never outlive the request), settings applied before
//! the statement.

use crate::sql::Statement;
use flightlog_chdb::{Connection, Library};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// A ClickHouse exception: code and message, without the `Code: N.
/// DB::Exception:` prefix and the `(NAME) (version ...)` suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub code: i32,
    pub message: String,
}

impl Exception {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Reads the engine's error text: `Code: N. DB::Exception: msg. (NAME)`,
    /// sometimes nested (`Code: 73. DB::Exception: Code: 73. ...`) and with
    /// a `(version ...)` suffix or not.
    pub fn from_engine(text: &str) -> Self {
        let mut rest = text.trim();
        let Some(code) = parse_prefix(rest) else {
            return Self::new(UNKNOWN_EXCEPTION, rest);
        };
        while let Some((c, after)) = parse_prefix(rest) {
            if c != code.0 {
                break;
            }
            rest = after;
        }
        let mut message = rest.trim_end();
        // Peel `(version ...)` and `(NAME)` suffixes, and the `. ` that
        // ClickHouse puts before a name, until none is left.
        while let Some(inner) =
            strip_paren_suffix(message, |s| s.starts_with("version ") || is_error_name(s))
        {
            let inner = inner.trim_end();
            message = inner.strip_suffix('.').unwrap_or(inner);
        }
        let message = message.to_string();
        Self::new(code.0, message)
    }
}

/// ClickHouse's code for an exception that is not a DB::Exception.
pub const UNKNOWN_EXCEPTION: i32 = 1002;
pub const SYNTAX_ERROR: i32 = 62;
pub const NOT_IMPLEMENTED: i32 = 48;
pub const AUTHENTICATION_FAILED: i32 = 516;
pub const BAD_ARGUMENTS: i32 = 36;
pub const UNKNOWN_SETTING: i32 = 115;

fn parse_prefix(text: &str) -> Option<(i32, &str)> {
    let rest = text.strip_prefix("Code: ")?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    let code = rest[..digits].parse().ok()?;
    let rest = rest[digits..]
        .strip_prefix(". DB::Exception: ")
        .or_else(|| rest[digits..].strip_prefix(", e.displayText() = DB::Exception: "))?;
    Some((code, rest))
}

fn strip_paren_suffix(text: &str, inner_ok: impl Fn(&str) -> bool) -> Option<&str> {
    let body = text.strip_suffix(')')?;
    let open = body.rfind('(')?;
    inner_ok(&body[open + 1..]).then(|| &text[..open])
}

fn is_error_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// What a statement produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub body: Vec<u8>,
    pub written_rows: u64,
    pub written_bytes: u64,
}

/// One request, ready to run.
pub struct Job {
    pub text: Vec<u8>,
    pub statement: Statement,
    /// `param_<name>` values, exactly as received.
    pub params: Vec<(String, String)>,
    /// URL parameters that are settings, in order.
    pub settings: Vec<(String, String)>,
    pub database: Option<String>,
    /// GET requests are read-only (`readonly = 2`), as in ClickHouse.
    pub readonly: bool,
    /// Output format when the statement has no FORMAT clause.
    pub default_format: String,
}

pub struct Engine {
    lib: Library,
    path: PathBuf,
    /// Kept open for the life of the process: the engine stays up between
    /// requests, and start-up queries run on it.
    _anchor: Mutex<Connection>,
    /// `chdb_connect` is not documented as thread-safe; sessions are opened
    /// one at a time (each takes well under a millisecond).
    connect_lock: Mutex<()>,
    pub version: String,
    pub timezone: String,
    names: HashMap<i32, String>,
}

impl Engine {
    pub fn open(lib_path: &std::path::Path, path: PathBuf) -> Result<Self, String> {
        let lib = Library::open(lib_path).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let anchor = lib.connect(&path).map_err(|e| e.to_string())?;
        let text = |sql: &str| -> Result<String, String> {
            let out = anchor
                .query(sql, "TabSeparated", &[])
                .map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        };
        let about = text("SELECT version(), timezone()")?;
        let mut about = about.trim_end().split('\t');
        let version = about.next().unwrap_or("unknown").to_string();
        let timezone = about.next().unwrap_or("UTC").to_string();
        let names = text("SELECT number, errorCodeToName(number) FROM numbers(2000) WHERE errorCodeToName(number) != ''")?
            .lines()
            .filter_map(|l| {
                let (code, name) = l.split_once('\t')?;
                Some((code.parse().ok()?, name.to_string()))
            })
            .collect();
        Ok(Self {
            lib,
            path,
            _anchor: Mutex::new(anchor),
            connect_lock: Mutex::new(()),
            version,
            timezone,
            names,
        })
    }

    pub fn error_name(&self, code: i32) -> &str {
        self.names
            .get(&code)
            .map(String::as_str)
            .unwrap_or("UNKNOWN_EXCEPTION")
    }

    pub fn code_of(&self, name: &str) -> Option<i32> {
        self.names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(c, _)| *c)
    }

    /// The body ClickHouse prints for an exception.
    pub fn render(&self, e: &Exception) -> String {
        format!(
            "Code: {}. DB::Exception: {}. ({}) (version {})\n",
            e.code,
            e.message,
            self.error_name(e.code),
            self.version
        )
    }

    fn session(&self) -> Result<Connection, Exception> {
        let _one = self.connect_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.lib
            .connect(&self.path)
            .map_err(|e| Exception::new(UNKNOWN_EXCEPTION, e.to_string()))
    }

    /// Runs the job on a fresh session (blocking).
    pub fn run(&self, job: Job) -> Result<Outcome, Exception> {
        let conn = self.session()?;
        let exec = |sql: &str| {
            conn.query(sql, "TabSeparated", &[])
                .map(drop)
                .map_err(engine_error)
        };
        if let Some(db) = &job.database {
            exec(&format!("USE {}", quote_identifier(db)))?;
        }
        if !job.settings.is_empty() {
            let mut assignments = Vec::with_capacity(job.settings.len());
            for (name, value) in &job.settings {
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err(Exception::new(
                        UNKNOWN_SETTING,
                        format!("Unknown setting '{name}'"),
                    ));
                }
                assignments.push(format!("{name} = {}", quote_string(value)));
            }
            exec(&format!("SET {}", assignments.join(", ")))?;
        }
        if job.readonly && !job.settings.iter().any(|(n, _)| n == "readonly") {
            exec("SET readonly = 2")?;
        }
        match &job.statement {
            Statement::Insert { head, format, data } if job.params.is_empty() => {
                let data = &job.text[data.clone()];
                let rows = conn.insert(head, format, data).map_err(engine_error)?;
                Ok(Outcome {
                    body: Vec::new(),
                    written_rows: rows,
                    written_bytes: data.len() as u64,
                })
            }
            Statement::Insert { .. } => {
                // chDB's insert stream binds no parameters: the whole text
                // goes through the query path, which needs it as UTF-8.
                let sql = std::str::from_utf8(&job.text).map_err(|_| {
                    Exception::new(
                        NOT_IMPLEMENTED,
                        "this fixture binds param_* in an INSERT only when its data is UTF-8 text",
                    )
                })?;
                let params: Vec<(&str, &str)> = job
                    .params
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                conn.query(sql, &job.default_format, &params)
                    .map_err(engine_error)?;
                Ok(Outcome::default())
            }
            Statement::Query { sql, format } => {
                let format = format.as_deref().unwrap_or(&job.default_format);
                let params: Vec<(&str, &str)> = job
                    .params
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let body = conn.query(sql, format, &params).map_err(engine_error)?;
                Ok(Outcome {
                    body,
                    ..Outcome::default()
                })
            }
        }
    }
}

fn engine_error(e: flightlog_chdb::Error) -> Exception {
    match e {
        flightlog_chdb::Error::Query(text) => Exception::from_engine(&text),
        other => Exception::new(UNKNOWN_EXCEPTION, other.to_string()),
    }
}

fn quote_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_lose_their_nesting_and_suffixes() {
        let e = Exception::from_engine(
            "Code: 73. DB::Exception: Code: 73. DB::Exception: Unknown format Nope. Maybe you meant: ['One']. (UNKNOWN_FORMAT) (version 26.7.2.1). (UNKNOWN_FORMAT) (version 26.7.2.1). (UNKNOWN_FORMAT)",
        );
        assert_eq!(
            e,
            Exception::new(73, "Unknown format Nope. Maybe you meant: ['One']")
        );
        let e = Exception::from_engine(
            "Code: 60. DB::Exception: Unknown table 'nope'. Maybe you meant system.one?. (UNKNOWN_TABLE)",
        );
        assert_eq!(
            e,
            Exception::new(60, "Unknown table 'nope'. Maybe you meant system.one?")
        );
        let e = Exception::from_engine(
            "Code: 62. DB::Exception: Syntax error (in f(x)). (SYNTAX_ERROR) (version 1.2)",
        );
        assert_eq!(e.message, "Syntax error (in f(x))");
        assert_eq!(Exception::from_engine("boom").code, UNKNOWN_EXCEPTION);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_string("a'b\\c"), "'a\\'b\\\\c'");
        assert_eq!(quote_identifier("we`ird"), "`we\\`ird`");
    }
}
