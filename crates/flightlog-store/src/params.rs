//! Values for a statement's `{name:Type}` placeholders.
//!
//! ClickHouse reads a parameter's value as text in the *escaped* form of its
//! TSV format, whichever transport carries it (chDB's C API, or `param_*`
//! on the server's HTTP interface): a backslash starts an escape sequence,
//! `\N` means NULL (an empty string for a `String`), and a raw tab or
//! newline ends the value. Passed as-is, the session id `\N` would match
//! every session and `a\\b` would match `a\b`. So no value reaches the
//! engine as-is: [`Params`] writes each one in the form the engine reads
//! back as exactly that value, and it is the only way to build parameters.

use std::fmt::Display;

/// The named values of one statement, each already in ClickHouse's
/// parameter text form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// A `String` parameter: exactly `value`, whatever characters it holds.
    pub fn text(mut self, name: &'static str, value: &str) -> Self {
        self.push_text(name, value);
        self
    }

    /// An `Array(String)` parameter.
    pub fn texts<S: AsRef<str>>(mut self, name: &'static str, items: impl IntoIterator<Item = S>) -> Self {
        self.push_texts(name, items);
        self
    }

    /// A number or boolean parameter (`UInt64`, `Int64`, `Float64`, `Bool`…).
    pub fn number(mut self, name: &'static str, value: impl Number) -> Self {
        self.push_number(name, value);
        self
    }

    /// An `Array(UInt64)` (or other numeric array) parameter.
    pub fn numbers<N: Number>(mut self, name: &'static str, values: impl IntoIterator<Item = N>) -> Self {
        self.push_numbers(name, values);
        self
    }

    pub fn push_text(&mut self, name: &'static str, value: &str) {
        self.0.push((name, escaped(value)));
    }

    pub fn push_texts<S: AsRef<str>>(&mut self, name: &'static str, items: impl IntoIterator<Item = S>) {
        self.0.push((name, array_literal(items)));
    }

    pub fn push_numbers<N: Number>(&mut self, name: &'static str, values: impl IntoIterator<Item = N>) {
        let items: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
        self.0.push((name, format!("[{}]", items.join(","))));
    }

    pub fn push_number(&mut self, name: &'static str, value: impl Number) {
        self.0.push((name, value.to_string()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (name, value in parameter text form), for a backend to send.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

/// Types whose `Display` form is also ClickHouse's text form of them.
/// `f64` must be finite: callers check (NaN and infinities are refused
/// where a client could send them).
pub trait Number: Display + private::Sealed {}

mod private {
    pub trait Sealed {}
}

macro_rules! numbers {
    ($($t:ty),*) => {$(impl private::Sealed for $t {} impl Number for $t {})*};
}
numbers!(u8, u16, u32, u64, usize, i32, i64, f64, bool);

/// A string in the escaped text form: the backslash and the two characters
/// that would end the value (tab, newline) are escaped; everything else,
/// quotes and `\N`-lookalikes included, then reads back unchanged.
fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// An `Array(String)` value is read as an array literal of quoted strings
/// (no outer escaping): inside quotes, only `'` and `\` need escaping.
fn array_literal<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('\'');
        for c in item.as_ref().chars() {
            if c == '\'' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('\'');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_backslashes_tabs_and_newlines_only() {
        let p = Params::new().text("a", r"\N").text("b", "x\\").text("c", "t\tn\nq'\"é");
        let v: Vec<_> = p.iter().collect();
        assert_eq!(v, [("a", r"\\N"), ("b", r"x\\"), ("c", "t\\tn\\nq'\"é")]);
    }

    #[test]
    fn string_arrays_quote_and_escape_each_item() {
        let p = Params::new().texts("a", ["a", "it's", "back\\slash"]).texts("e", Vec::<String>::new());
        let v: Vec<_> = p.iter().collect();
        assert_eq!(v, [("a", r"['a','it\'s','back\\slash']"), ("e", "[]")]);
    }

    #[test]
    fn numbers_are_written_as_displayed() {
        let p = Params::new().number("u", u64::MAX).number("i", -5i64).number("b", true).numbers("n", [1u64, 2]);
        let v: Vec<_> = p.iter().collect();
        assert_eq!(v, [("u", "18446744073709551615"), ("i", "-5"), ("b", "true"), ("n", "[1,2]")]);
    }
}
