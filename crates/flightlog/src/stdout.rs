//! What a command prints on stdout. A reader that stops reading
//! (`flightlog prices list | head`) ends the command there, quietly and
//! successfully, where `println!` panicked on the broken pipe.

use std::io::Write;

/// Prints `text` and a newline.
pub fn line(text: impl std::fmt::Display) -> std::io::Result<()> {
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        written => written,
    }
}

/// Prints an answer of the API as indented JSON.
pub fn json(answer: &impl serde::Serialize) -> anyhow::Result<()> {
    Ok(line(serde_json::to_string_pretty(answer)?)?)
}
