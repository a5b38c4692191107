//! Just enough of ClickHouse's lexer to split what an HTTP request sends
//! into what chDB needs: the statement, its output format, and for an
//! `INSERT ... FORMAT X` / `INSERT ... VALUES` the data that follows.
//!
//! The split follows ClickHouse's `ParserInsertQuery`: the data of
//! `FORMAT <name>` starts after the spaces and tabs that follow the name and
//! at most one line break (`\r\n` or `\n`); the data of `VALUES` starts
//! right after the keyword.

use std::ops::Range;

/// What the request asks for. Ranges index the request text.
#[derive(Debug, PartialEq, Eq)]
pub enum Statement {
    /// An INSERT carrying its data: `head` is the statement without its
    /// `FORMAT <name>` / `VALUES` part.
    Insert {
        head: String,
        format: String,
        data: Range<usize>,
    },
    /// Anything else: run as is; `format` is its `FORMAT` clause, if any.
    Query { sql: String, format: Option<String> },
}

/// A syntax problem found before the engine sees the statement.
#[derive(Debug, PartialEq, Eq)]
pub struct SyntaxError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A bare word: keyword, identifier or number.
    Word,
    /// A string literal or a quoted identifier.
    Quoted,
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Skips whitespace and comments (`--`, `#`, `/* */`).
fn skip_blank(text: &[u8], mut pos: usize) -> usize {
    loop {
        while pos < text.len() && text[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let rest = &text[pos..];
        if rest.starts_with(b"--") || rest.starts_with(b"#") {
            while pos < text.len() && text[pos] != b'\n' {
                pos += 1;
            }
        } else if rest.starts_with(b"/*") {
            pos += 2;
            while pos < text.len() && !text[pos..].starts_with(b"*/") {
                pos += 1;
            }
            pos = (pos + 2).min(text.len());
        } else {
            return pos;
        }
    }
}

fn next_token(text: &[u8], pos: usize) -> Option<Token> {
    let start = skip_blank(text, pos);
    let &c = text.get(start)?;
    let end = if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
        let mut end = start;
        while end < text.len()
            && (text[end].is_ascii_alphanumeric() || text[end] == b'_' || text[end] >= 0x80)
        {
            end += 1;
        }
        return Some(Token {
            kind: Kind::Word,
            start,
            end,
        });
    } else if c == b'\'' || c == b'"' || c == b'`' {
        // Backslash escapes and doubled quotes, as ClickHouse reads them.
        let mut end = start + 1;
        loop {
            match text.get(end) {
                None => break end,
                Some(b'\\') => end += 2,
                Some(&q) if q == c => {
                    if text.get(end + 1) == Some(&c) {
                        end += 2;
                    } else {
                        break end + 1;
                    }
                }
                Some(_) => end += 1,
            }
        }
        .min(text.len())
    } else {
        return Some(Token {
            kind: Kind::Punct(c),
            start,
            end: start + 1,
        });
    };
    Some(Token {
        kind: Kind::Quoted,
        start,
        end,
    })
}

fn is_word(text: &[u8], t: &Token, word: &str) -> bool {
    t.kind == Kind::Word && text[t.start..t.end].eq_ignore_ascii_case(word.as_bytes())
}

fn utf8(text: &[u8]) -> Result<String, SyntaxError> {
    String::from_utf8(text.to_vec()).map_err(|_| SyntaxError("the query is not valid UTF-8".into()))
}

/// Splits the request text (the `query` parameter, a line break, the body).
pub fn classify(text: &[u8]) -> Result<Statement, SyntaxError> {
    let Some(first) = next_token(text, 0) else {
        return Err(SyntaxError("Empty query".into()));
    };
    if is_word(text, &first, "INSERT") {
        if let Some(insert) = split_insert(text, first)? {
            return Ok(insert);
        }
        return Ok(Statement::Query {
            sql: utf8(text)?,
            format: None,
        });
    }
    let mut depth = 0i32;
    let mut tokens = Vec::new();
    let mut pos = first.start;
    while let Some(t) = next_token(text, pos) {
        pos = t.end;
        match t.kind {
            Kind::Punct(b'(' | b'[' | b'{') => depth += 1,
            Kind::Punct(b')' | b']' | b'}') => depth -= 1,
            Kind::Punct(b';') if depth == 0 => {
                if next_token(text, pos).is_some() {
                    return Err(SyntaxError("Multi-statements are not allowed".into()));
                }
                break;
            }
            _ => {}
        }
        if depth == 0 {
            tokens.push(t);
        }
    }
    // `FORMAT <name>` is the last clause but for SETTINGS; a column named
    // `format` is followed by something else.
    let mut format = None;
    for (i, t) in tokens.iter().enumerate() {
        let after_dot = i > 0 && tokens[i - 1].kind == Kind::Punct(b'.');
        if !is_word(text, t, "FORMAT") || after_dot {
            continue;
        }
        let Some(name) = tokens.get(i + 1).filter(|n| n.kind == Kind::Word) else {
            continue;
        };
        let last = match tokens.get(i + 2) {
            None => true,
            Some(next) => is_word(text, next, "SETTINGS") || next.kind == Kind::Punct(b';'),
        };
        if last {
            format = Some(utf8(&text[name.start..name.end])?);
        }
    }
    Ok(Statement::Query {
        sql: utf8(text)?,
        format,
    })
}

/// `None` when the INSERT carries no data (INSERT ... SELECT, or a form the
/// engine will judge).
fn split_insert(text: &[u8], first: Token) -> Result<Option<Statement>, SyntaxError> {
    let mut depth = 0i32;
    let mut prev: Option<Token> = None;
    let mut pos = first.end;
    while let Some(t) = next_token(text, pos) {
        pos = t.end;
        match t.kind {
            Kind::Punct(b'(' | b'[' | b'{') => depth += 1,
            Kind::Punct(b')' | b']' | b'}') => depth -= 1,
            _ => {}
        }
        // The word after INTO / TABLE / a dot is a name, whatever it says.
        let is_name = prev.is_some_and(|p| {
            is_word(text, &p, "INTO") || is_word(text, &p, "TABLE") || p.kind == Kind::Punct(b'.')
        });
        if depth == 0 && !is_name {
            if is_word(text, &t, "FORMAT") {
                let Some(name) = next_token(text, t.end).filter(|n| n.kind == Kind::Word) else {
                    return Ok(None);
                };
                let mut data = name.end;
                if text.get(data) == Some(&b';') {
                    return Err(SyntaxError(
                        "You have excessive ';' symbol before data for INSERT: put at least one whitespace symbol before the data"
                            .into(),
                    ));
                }
                while matches!(text.get(data), Some(b' ' | b'\t' | b'\x0c')) {
                    data += 1;
                }
                if text.get(data) == Some(&b'\r') {
                    data += 1;
                }
                if text.get(data) == Some(&b'\n') {
                    data += 1;
                }
                return Ok(Some(Statement::Insert {
                    head: utf8(&text[..t.start])?.trim_end().to_string(),
                    format: utf8(&text[name.start..name.end])?,
                    data: data..text.len(),
                }));
            }
            if is_word(text, &t, "VALUES") {
                return Ok(Some(Statement::Insert {
                    head: utf8(&text[..t.start])?.trim_end().to_string(),
                    format: "Values".into(),
                    data: t.end..text.len(),
                }));
            }
            if is_word(text, &t, "SELECT") || is_word(text, &t, "WITH") {
                return Ok(None);
            }
        }
        prev = Some(t);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(text: &[u8]) -> (String, String, Vec<u8>) {
        match classify(text).unwrap() {
            Statement::Insert { head, format, data } => (head, format, text[data].to_vec()),
            other => panic!("not an insert: {other:?}"),
        }
    }

    #[test]
    fn insert_data_starts_after_one_line_break() {
        let (head, format, data) = insert(b"INSERT INTO t (a, b) FORMAT RowBinary\n\n\x01\x02");
        assert_eq!(
            (head.as_str(), format.as_str()),
            ("INSERT INTO t (a, b)", "RowBinary")
        );
        assert_eq!(
            data, b"\n\x01\x02",
            "only the first line break belongs to the query"
        );
        let (_, _, data) = insert(b"insert into t format TSV \t\r\n1\t2\n");
        assert_eq!(data, b"1\t2\n");
        let (_, _, data) = insert(b"INSERT INTO t FORMAT JSONEachRow {\"a\":1}");
        assert_eq!(data, b"{\"a\":1}");
    }

    #[test]
    fn insert_keeps_settings_and_ignores_lookalikes() {
        let (head, format, _) =
            insert(b"INSERT INTO db.format (`format`, 'FORMAT') SETTINGS async_insert = 0 FORMAT RowBinary\n");
        assert_eq!(
            head,
            "INSERT INTO db.format (`format`, 'FORMAT') SETTINGS async_insert = 0"
        );
        assert_eq!(format, "RowBinary");
        let (head, format, data) = insert(b"INSERT INTO t VALUES (1, 'a')");
        assert_eq!(
            (head.as_str(), format.as_str(), data.as_slice()),
            ("INSERT INTO t", "Values", &b" (1, 'a')"[..])
        );
        assert!(matches!(
            classify(b"INSERT INTO t SELECT 1 FORMAT X").unwrap(),
            Statement::Query { format: None, .. }
        ));
        assert!(classify(b"INSERT INTO t FORMAT TSV;1").is_err());
    }

    #[test]
    fn query_format_clause() {
        let format = |q: &str| match classify(q.as_bytes()).unwrap() {
            Statement::Query { format, .. } => format,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            format("SELECT 1 FORMAT JSONEachRow"),
            Some("JSONEachRow".into())
        );
        assert_eq!(
            format("SELECT 1 format JSON SETTINGS max_threads = 1;"),
            Some("JSON".into())
        );
        assert_eq!(format("SELECT format FROM t"), None);
        assert_eq!(format("SELECT (SELECT 1 FORMAT TSV)"), None);
        assert_eq!(format("SELECT 'FORMAT JSON' -- FORMAT CSV\n"), None);
        assert_eq!(format("CREATE TABLE t (a UInt8) ENGINE = Memory"), None);
    }

    #[test]
    fn empty_and_multi_statements_are_refused() {
        assert_eq!(classify(b"  -- nothing\n").unwrap_err().0, "Empty query");
        assert!(
            classify(b"SELECT 1; SELECT 2")
                .unwrap_err()
                .0
                .starts_with("Multi-statements")
        );
        assert!(classify(b"SELECT ';'; ").is_ok());
    }
}
