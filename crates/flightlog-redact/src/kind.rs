//! What a redaction found: a built-in kind of personal data or secret, a
//! project's custom pattern, or a field dropped by path.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The detectors that ship with the crate. A policy switches them on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinKind {
    Email,
    Phone,
    Card,
    Iban,
    /// IPv4 and IPv6 addresses.
    Ip,
    /// API keys, access tokens, JWTs, private keys, bearer credentials.
    Secret,
    /// National identity numbers that carry a checksum (today: the Dutch BSN).
    NationalId,
}

impl BuiltinKind {
    pub const ALL: [BuiltinKind; 7] = [
        BuiltinKind::Email,
        BuiltinKind::Phone,
        BuiltinKind::Card,
        BuiltinKind::Iban,
        BuiltinKind::Ip,
        BuiltinKind::Secret,
        BuiltinKind::NationalId,
    ];

    /// The lower-case name used in JSON, reports and metrics.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinKind::Email => "email",
            BuiltinKind::Phone => "phone",
            BuiltinKind::Card => "card",
            BuiltinKind::Iban => "iban",
            BuiltinKind::Ip => "ip",
            BuiltinKind::Secret => "secret",
            BuiltinKind::NationalId => "national_id",
        }
    }

    /// The word inside the replacement, as in `[EMAIL]`.
    pub fn mask_label(self) -> &'static str {
        match self {
            BuiltinKind::Email => "EMAIL",
            BuiltinKind::Phone => "PHONE",
            BuiltinKind::Card => "CARD",
            BuiltinKind::Iban => "IBAN",
            BuiltinKind::Ip => "IP",
            BuiltinKind::Secret => "SECRET",
            BuiltinKind::NationalId => "NATIONAL_ID",
        }
    }
}

/// The kind of one redaction, as a report records it.
///
/// In JSON it is a plain string: `"email"`, `"custom:order_ref"`, `"dropped"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Builtin(BuiltinKind),
    /// A project's own pattern, by its name.
    Custom(String),
    /// A field on a drop path: its whole value was replaced.
    Dropped,
}

impl Kind {
    /// The word inside its replacement: `EMAIL` as in `[EMAIL:7f3a2c]`,
    /// `CUSTOM:order_ref`, `DROPPED`.
    pub fn label(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Kind::Builtin(builtin) => std::borrow::Cow::Borrowed(builtin.mask_label()),
            Kind::Custom(name) => std::borrow::Cow::Owned(format!("CUSTOM:{name}")),
            Kind::Dropped => std::borrow::Cow::Borrowed("DROPPED"),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Builtin(kind) => f.write_str(kind.name()),
            Kind::Custom(name) => write!(f, "custom:{name}"),
            Kind::Dropped => f.write_str("dropped"),
        }
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "dropped" {
            return Ok(Kind::Dropped);
        }
        if let Some(name) = text.strip_prefix("custom:") {
            return Ok(Kind::Custom(name.to_owned()));
        }
        BuiltinKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .map(Kind::Builtin)
            .ok_or_else(|| format!("unknown redaction kind `{text}`"))
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
