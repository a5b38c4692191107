//! What a command prints on stdout. A reader that stops reading
//! (`flightlog prices list | head`) is not an error: what is left to print
//! is dropped, and the command ends as it would have, its exit code still
//! saying how it went (an import that stopped, a record that does not
//! verify). `println!` panicked on the broken pipe.

use std::io::Write;

/// Prints `text` and a newline, unless the reader has gone.
pub fn line(text: impl std::fmt::Display) -> std::io::Result<()> {
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}

/// Prints what a query answered, as it came.
pub fn bytes(out: &[u8]) -> std::io::Result<()> {
    match std::io::stdout().lock().write_all(out) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}

/// Prints an answer of the API as indented JSON.
pub fn json(answer: &impl serde::Serialize) -> anyhow::Result<()> {
    Ok(line(serde_json::to_string_pretty(answer)?)?)
}
