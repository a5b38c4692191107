//! What a verification reports: each problem named by kind, session,
//! step and log position, and the verdict they add up to.

use super::*;

/// Problems listed in one report, at most; the count is always exact.
pub(super) const MAX_LISTED: usize = 1000;

/// What is wrong, as named in reports (serialised in snake_case, e.g.
/// `column_changed`).
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Content, or a recorded hash, differs from what was accepted.
    Modified,
    /// A typed column differs from the step's content.
    ColumnChanged,
    /// In the log of record, no longer stored.
    Deleted,
    /// Stored, never accepted by the log of record.
    Inserted,
    /// Filed under another position, session or step than the log says.
    Moved,
    /// An erased field's content is back.
    RestoredAfterErasure,
    /// A gap in the session's chain.
    MissingInSession,
    /// A position of the session's chain or the log used twice.
    RepeatedPosition,
    /// The session's hash chain breaks.
    ChainBroken,
    /// Positions removed from the log of record.
    LogGap,
    /// The log of record is shorter than a checkpoint.
    LogTruncated,
    /// The log of record does not hash to a signed root.
    LogMismatch,
    /// A checkpoint's signature does not verify.
    BadSignature,
    /// A checkpoint does not extend the one before.
    InconsistentCheckpoints,
    /// Something recorded cannot be read (bad hex, not a bundle...).
    Unreadable,
    /// A bundle: not in canonical form (edited).
    NotCanonical,
    /// A bundle: signed by another key than the one given.
    WrongKey,
    /// A bundle: a step not proven to be in the signed log.
    NotInLog,
    /// An expiry record that lists log positions not of its own session,
    /// or not yet sealed, or of an unknown kind.
    ExpiryMismatch,
    /// The newest checkpoint this instance signed (its mark, kept outside
    /// the database) is no longer stored: the log of record was rolled
    /// back, or the checkpoints deleted.
    CheckpointDeleted,
    /// An erased field that no erasure record signed by this instance, and
    /// no content expiry record, covers: blanked behind Flightlog's back,
    /// or its record removed.
    ErasedWithoutRecord,
}

impl ProblemKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Modified => "modified",
            Self::ColumnChanged => "column_changed",
            Self::Deleted => "deleted",
            Self::Inserted => "inserted",
            Self::Moved => "moved",
            Self::RestoredAfterErasure => "restored_after_erasure",
            Self::MissingInSession => "missing_in_session",
            Self::RepeatedPosition => "repeated_position",
            Self::ChainBroken => "chain_broken",
            Self::LogGap => "log_gap",
            Self::LogTruncated => "log_truncated",
            Self::LogMismatch => "log_mismatch",
            Self::BadSignature => "bad_signature",
            Self::InconsistentCheckpoints => "inconsistent_checkpoints",
            Self::Unreadable => "unreadable",
            Self::NotCanonical => "not_canonical",
            Self::WrongKey => "wrong_key",
            Self::NotInLog => "not_in_log",
            Self::ExpiryMismatch => "expiry_mismatch",
            Self::CheckpointDeleted => "checkpoint_deleted",
            Self::ErasedWithoutRecord => "erased_without_record",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A report's verdict (serialised in snake_case).
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// No problem, and every step sealed by a signed checkpoint.
    Verified,
    /// No problem, but some steps came after the latest checkpoint.
    IntactNotYetSealed,
    /// See the problems. (The default: nothing is verified until checked.)
    #[default]
    Failed,
}

impl ReportStatus {
    /// The verdict from the problems found and the steps not yet sealed.
    pub fn of(problems: u64, not_yet_sealed: u64) -> Self {
        match (problems, not_yet_sealed) {
            (0, 0) => Self::Verified,
            (0, _) => Self::IntactNotYetSealed,
            _ => Self::Failed,
        }
    }

    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::IntactNotYetSealed => "intact_not_yet_sealed",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for ReportStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Serialize, Clone, PartialEq, utoipa::ToSchema)]
pub struct Problem {
    pub kind: ProblemKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    pub detail: String,
}

#[derive(Debug, Serialize, Clone, utoipa::ToSchema)]
pub struct ErasedField {
    pub session_id: String,
    pub step: u64,
    pub field: String,
}

/// A signed expiry record, as a report lists it: content blanked or steps
/// removed by retention, not by anyone tampering.
#[derive(Debug, Serialize, Clone, utoipa::ToSchema)]
pub struct Expired {
    pub project: String,
    pub session_id: String,
    pub kind: ExpiryKind,
    /// How many steps it covers, and their first and last log positions.
    pub steps: u64,
    pub log_from: u64,
    pub log_to: u64,
    /// The retention policy in force when it expired.
    #[schema(value_type = Object)]
    pub policy: Value,
    pub expired_at: String,
}

#[derive(Debug, Serialize, Default, utoipa::ToSchema)]
pub struct Report {
    /// See [`ReportStatus`].
    pub status: ReportStatus,
    /// status == verified.
    pub verified: bool,
    pub steps_checked: u64,
    /// Steps covered by the latest valid checkpoint.
    pub sealed: u64,
    /// Steps accepted after the latest checkpoint (session steps, or a count).
    pub not_yet_sealed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Value>,
    pub erased: Vec<ErasedField>,
    /// What retention expired, each under a signed record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expired: Vec<Expired>,
    pub problem_count: u64,
    pub problems: Vec<Problem>,
    /// With one session: problems of the log elsewhere, which do not fail
    /// this session (its own steps are checked against the log of record).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_problems: Vec<Problem>,
}

impl Report {
    pub(super) fn problem(&mut self, p: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(p);
        }
    }

    /// The whole log's report, failed, when `marked` says the newest
    /// checkpoint this instance signed covered that many entries and no
    /// stored checkpoint reaches as far ([`super::signed_checkpoint_deleted`]).
    pub fn with_deleted_checkpoint(mut self, marked: Option<u64>) -> Self {
        let Some(marked) = marked else { return self };
        self.problem(deleted_checkpoint(marked));
        self.finish()
    }

    /// A session's report, noting the same among the problems of the log
    /// elsewhere, which do not fail the session (its steps are proven
    /// against the checkpoints that are stored).
    pub fn noting_deleted_checkpoint(mut self, marked: Option<u64>) -> Self {
        if let Some(marked) = marked {
            self.log_problems.push(deleted_checkpoint(marked));
        }
        self
    }

    pub(super) fn finish(mut self) -> Self {
        self.status = ReportStatus::of(self.problem_count, self.not_yet_sealed);
        self.verified = self.status == ReportStatus::Verified;
        self
    }
}

fn deleted_checkpoint(marked: u64) -> Problem {
    Problem {
        kind: ProblemKind::CheckpointDeleted,
        session_id: None,
        step: None,
        log_index: None,
        detail: format!(
            "the newest checkpoint this instance signed, over {marked} entries, is no longer stored: the log of record was rolled back \
             or its checkpoints deleted (the instance's mark of it is DATA_DIR/integrity/last-checkpoint)"
        ),
    }
}

/// The checkpoint a report was proven against, as reports show it.
pub(super) fn checkpoint_json(c: &CheckpointRow) -> Value {
    json!({
        "tree_size": c.tree_size, "root_hash": hex::encode(c.root_hash),
        "created_at": flightlog_model::time::format_timestamp(c.created_us), "public_key": c.public_key,
    })
}

pub(super) fn problem(kind: ProblemKind, row: Option<&IntegrityRow>, detail: String) -> Problem {
    Problem {
        kind,
        session_id: row.map(|r| r.session_id.clone()),
        step: row.map(|r| r.step),
        log_index: row.map(|r| r.log_index),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_statuses_serialise_as_their_names() {
        use ProblemKind::*;
        let all = [
            (Modified, "modified"), (ColumnChanged, "column_changed"), (Deleted, "deleted"), (Inserted, "inserted"),
            (Moved, "moved"), (RestoredAfterErasure, "restored_after_erasure"), (MissingInSession, "missing_in_session"),
            (RepeatedPosition, "repeated_position"), (ChainBroken, "chain_broken"), (LogGap, "log_gap"),
            (LogTruncated, "log_truncated"), (LogMismatch, "log_mismatch"), (BadSignature, "bad_signature"),
            (InconsistentCheckpoints, "inconsistent_checkpoints"), (Unreadable, "unreadable"),
            (NotCanonical, "not_canonical"), (WrongKey, "wrong_key"), (NotInLog, "not_in_log"),
            (ExpiryMismatch, "expiry_mismatch"), (CheckpointDeleted, "checkpoint_deleted"),
            (ErasedWithoutRecord, "erased_without_record"),
        ];
        for (kind, name) in all {
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            assert_eq!(kind.as_str(), name);
        }
        for (status, name) in [
            (ReportStatus::Verified, "verified"),
            (ReportStatus::IntactNotYetSealed, "intact_not_yet_sealed"),
            (ReportStatus::Failed, "failed"),
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), name);
            assert_eq!(status.to_string(), name);
        }
        assert_eq!(ReportStatus::of(0, 0), ReportStatus::Verified);
        assert_eq!(ReportStatus::of(0, 3), ReportStatus::IntactNotYetSealed);
        assert_eq!(ReportStatus::of(1, 0), ReportStatus::Failed);
        let p = Problem { kind: ChainBroken, session_id: None, step: Some(2), log_index: None, detail: "d".into() };
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"kind":"chain_broken","step":2,"detail":"d"}"#);
    }
}
