//! Redaction of personal data and secrets in agent steps.
//!
//! Ingestion runs every step through a [`Redactor`] before the step is
//! hashed, stored or embedded (flightlog-app `redaction`), so that what
//! Flightlog keeps never held the original values. A project's [`Policy`] (plain data, stored as JSON) says
//! which kinds to look for, which custom patterns to add, which field paths
//! to drop whole or leave alone, and whether a found value becomes a mask
//! (`[EMAIL]`) or a keyed pseudonym (`[EMAIL:7f3a2c]`). The default policy
//! turns every built-in kind on, so a new project is safe unconfigured.
//!
//! ```
//! use flightlog_redact::{Policy, Redactor};
//!
//! let redactor = Redactor::new(&Policy::default()).unwrap();
//! let mut step = serde_json::json!({
//!     "tool": {"name": "send_mail", "params": {"to": "jane.doe@example.com"}},
//!     "reasoning": "Refund card 4111 1111 1111 1111 for order 1234567",
//! });
//! let report = redactor.redact(&mut step);
//! assert_eq!(step["tool"]["params"]["to"], "[EMAIL]");
//! assert_eq!(step["reasoning"], "Refund card [CARD] for order 1234567");
//! assert_eq!(report.total(), 2);
//! assert_eq!(report.redactions[0].path, "/reasoning");
//! ```
//!
//! The pieces, in the order a text meets them:
//! - `detect`: the built-in detectors (email, phone, card, IBAN, IP,
//!   secrets, national ids), each a pattern plus a validation, behind cheap
//!   prefilters so that clean text costs little;
//! - [`policy`]: what to redact and how, and the errors a bad policy gives;
//! - `replace`: masks and pseudonyms;
//! - [`Redactor`]: the walk over a step's JSON, with drop and keep paths;
//! - [`Report`]: where, which kind and how many; never the original text.
//!
//! Depends on no other Flightlog crate.

mod detect;
mod kind;
mod path;
pub mod policy;
mod redactor;
mod replace;
mod report;

pub use kind::{BuiltinKind, Kind};
pub use policy::{CustomPattern, Policy, PolicyError, PseudonymSecret, Replacement};
pub use redactor::{CleanTexts, Redactor, drop_breaking_schema};
pub use report::{Redaction, Report};
