//! Retention: how long a project keeps its steps' full content, and how
//! long it keeps its steps at all, counted in days from a session's last
//! step. Expiry works on whole sessions, so a session is never half
//! shown: its content expires together, then the whole session goes.
//!
//! Content that expires is blanked like an erasure (the same fields, the
//! field hashes kept), so every proof still verifies. Steps that expire are
//! removed from storage but never from the log of record: a signed expiry
//! record states which log positions went, when, and under which policy,
//! and verification accepts exactly those as expired.

use serde::{Deserialize, Serialize};

/// The EU AI Act (Art. 19, 26(6)) asks for automatic logs to be kept at
/// least six months; a shorter policy is allowed, with a warning.
pub const SIX_MONTHS_DAYS: u32 = 183;
/// A century: anything longer is a typo, not a policy.
pub const MAX_DAYS: u32 = 36_500;
const DAY_US: i64 = 86_400_000_000;

/// A project's retention policy. `None` keeps forever (the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days after a session's last step that its full content (prompts,
    /// messages, completions, tool params and results, and an
    /// OpenTelemetry span's attributes) is kept.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36500)]
    pub content_days: Option<u32>,
    /// Days after a session's last step that its steps are kept at all.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36500)]
    pub steps_days: Option<u32>,
}

/// What an expiry did to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryKind {
    /// The full content was blanked; the steps remain.
    Content,
    /// The steps were removed from storage (the log of record keeps them).
    Steps,
}

impl ExpiryKind {
    pub const ALL: [ExpiryKind; 2] = [ExpiryKind::Content, ExpiryKind::Steps];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Content => "content",
            Self::Steps => "steps",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a legal hold keeps: one session, or every session with a step of
/// one user. A held session never expires, whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldSubject {
    Session,
    User,
}

impl HoldSubject {
    pub const ALL: [HoldSubject; 2] = [HoldSubject::Session, HoldSubject::User];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Retention {
    /// Refuses what cannot be a policy: zero days, more than a century, or
    /// content kept longer than the steps that carry it. Returns the field
    /// at fault and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, days) in [("content_days", self.content_days), ("steps_days", self.steps_days)] {
            if let Some(d) = days
                && !(1..=MAX_DAYS).contains(&d)
            {
                return Err((field, format!("must be between 1 and {MAX_DAYS} days, or null to keep forever; got {d}")));
            }
        }
        match (self.content_days, self.steps_days) {
            (Some(c), Some(s)) if c > s => {
                Err(("content_days", format!("is {c} days, longer than steps_days ({s}): content cannot outlive its steps")))
            }
            // Kept forever is the longest of all.
            (None, Some(s)) => Err(("content_days", format!("is forever, longer than steps_days ({s}): content cannot outlive its steps"))),
            _ => Ok(()),
        }
    }

    /// What a compliance officer should know about this policy.
    pub fn warnings(&self) -> Vec<String> {
        [("content_days", self.content_days), ("steps_days", self.steps_days)]
            .into_iter()
            .filter_map(|(field, days)| {
                let d = days?;
                (d < SIX_MONTHS_DAYS).then(|| {
                    format!(
                        "{field} is {d} days, under six months ({SIX_MONTHS_DAYS} days): the EU AI Act (Art. 19, 26(6)) \
                         asks deployers of high-risk systems to keep automatic logs at least six months"
                    )
                })
            })
            .collect()
    }

    /// The days after which `kind` expires under this policy.
    pub fn days(&self, kind: ExpiryKind) -> Option<u32> {
        match kind {
            ExpiryKind::Content => self.content_days,
            ExpiryKind::Steps => self.steps_days,
        }
    }

    /// Sessions whose last step is before this instant (µs) expire `kind`
    /// at `now_us`; None when the policy keeps it forever.
    pub fn cutoff_us(&self, kind: ExpiryKind, now_us: i64) -> Option<i64> {
        self.days(kind).map(|d| now_us - i64::from(d) * DAY_US)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_is_checked_and_warns_under_six_months() {
        let keep = Retention::default();
        assert_eq!(keep.check(), Ok(()));
        assert!(keep.warnings().is_empty());
        assert_eq!(keep.cutoff_us(ExpiryKind::Steps, 1_000), None);

        let short = Retention { content_days: Some(1), steps_days: Some(400) };
        assert_eq!(short.check(), Ok(()));
        let warnings = short.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("content_days is 1 days, under six months"), "{warnings:?}");
        assert_eq!(short.cutoff_us(ExpiryKind::Content, 2 * DAY_US), Some(DAY_US));

        assert_eq!(Retention { content_days: Some(0), steps_days: None }.check().unwrap_err().0, "content_days");
        assert_eq!(Retention { content_days: None, steps_days: Some(MAX_DAYS + 1) }.check().unwrap_err().0, "steps_days");
        let longer = Retention { content_days: Some(30), steps_days: Some(7) }.check().unwrap_err();
        assert_eq!(longer.0, "content_days");
        assert!(longer.1.contains("cannot outlive"));
        let forever = Retention { content_days: None, steps_days: Some(5) }.check().unwrap_err();
        assert_eq!(forever.0, "content_days");
        assert!(forever.1.contains("is forever") && forever.1.contains("cannot outlive"), "{}", forever.1);
    }

    #[test]
    fn kinds_have_names() {
        for kind in ExpiryKind::ALL {
            assert_eq!(ExpiryKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(ExpiryKind::parse("all"), None);
        for subject in HoldSubject::ALL {
            assert_eq!(HoldSubject::parse(subject.as_str()), Some(subject));
        }
    }
}
