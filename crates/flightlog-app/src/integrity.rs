//! Proving the record: reports of a session or of everything, evidence
//! bundles, signed checkpoints and the proof that one extends another, and
//! erasure of personal content with every proof left valid.

use flightlog_store::StoreError;
use crate::{AppError, AppState, params};
use flightlog_integrity::{bundle, verify};
use flightlog_model::merkle::{Tree, leaf_hash};
use flightlog_model::retention::HoldSubject;
use std::collections::BTreeSet;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncSeekExt;
use tokio_util::io::ReaderStream;
use flightlog_store::{CheckpointRow, Erasure, ErasurePlan, ErasureRow, Held, ListedErasure};
use flightlog_integrity::signer::erasure_message;
use flightlog_model::time::now_us;

/// Evidence bundles built or being answered at once by this process: each
/// holds a file as large as itself.
static BUNDLES_AT_ONCE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A session's evidence bundle, written whole to a temporary file (in
/// `TMPDIR`, else /tmp) before it is answered, so that a failure is an
/// error and not a cut-off file, then read from it a piece at a time:
/// memory holds neither the file nor the session. The file is already
/// unlinked; it goes when this does.
pub struct EvidenceFile {
    file: tokio::fs::File,
    /// Bytes.
    pub len: u64,
    /// The session's steps and users, for the read's access record (read
    /// after the bundle: a live session may have gained a step meanwhile).
    pub steps: u64,
    pub users: Vec<String>,
    /// One of the bundles at once, held until the file is answered.
    turn: tokio::sync::SemaphorePermit<'static>,
}

impl EvidenceFile {
    /// The file's bytes, in pieces, for an answer's body; the file (and its
    /// turn) go when the answer is sent or given up.
    pub fn into_stream(self) -> impl Stream<Item = <ReaderStream<tokio::fs::File> as Stream>::Item> + Send + 'static {
        let turn = self.turn;
        ReaderStream::with_capacity(self.file, 256 * 1024).map(move |piece| {
            let _held = &turn;
            piece
        })
    }
}

/// Proof that the log at checkpoint `newer` extends the log at `older`.
pub struct Consistency {
    pub older: CheckpointRow,
    pub newer: CheckpointRow,
    pub proof: Vec<[u8; 32]>,
}

/// What is to be erased, as received. An unknown field is refused: a
/// misspelled `user_id` would otherwise erase less than was asked. So is
/// an empty one: read as "not given", `"user_id": ""` beside a session
/// would erase every user's steps in it.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    #[serde(default, deserialize_with = "a_session")]
    pub session_id: String,
    #[serde(default, deserialize_with = "a_user")]
    pub user_id: String,
    /// Why (a ticket, the data subject's request): kept in the erasure's
    /// record, at most 1,000 bytes.
    #[serde(default)]
    pub reason: String,
}

/// The record of an erasure as the API and the pages show it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErasureRecord {
    /// RFC 3339.
    pub at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    pub reason: String,
    /// The id of the key that asked for it.
    pub by: String,
    pub steps_erased: u64,
    pub fields_erased: u64,
    /// Whether this instance signed the record; one that it did not was
    /// written behind its back and says nothing of who asked.
    pub signed: bool,
    /// Whether all its content is blanked. The record is kept first; an
    /// erasure a crash or a failure cut short is finished by the writer
    /// (at start-up, or its next round), and until then says false.
    pub finished: bool,
}

fn a_session<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    named("session_id", d)
}

fn a_user<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    named("user_id", d)
}

fn named<'de, D: serde::Deserializer<'de>>(field: &str, d: D) -> Result<String, D::Error> {
    let id = <String as serde::Deserialize>::deserialize(d)?;
    match id.is_empty() {
        true => Err(serde::de::Error::custom(format!("{field} is empty: name one, or leave the field out"))),
        false => Ok(id),
    }
}

/// The file name of a session's evidence bundle (ids are free text).
pub fn evidence_file_name(session_id: &str) -> String {
    let safe = session_id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_', "_");
    format!("evidence-{safe}.json")
}

impl AppState {
    /// A secret for `purpose` that every process with this instance's
    /// signing key derives alike (replicas behind one load balancer must
    /// accept each other's forms), and that survives restarts.
    pub fn shared_secret(&self, purpose: &str) -> Vec<u8> {
        self.checkpointer.derived_secret(purpose)
    }

    pub async fn verify_session(&self, project: &str, id: &str) -> Result<verify::Report, AppError> {
        crate::params::session_id(id)?;
        let report = self.session_report(project, id).await?;
        Ok(report.ok_or_else(|| AppError::no_session(id))?.noting_deleted_checkpoint(self.checkpointer.deleted_checkpoint().await?))
    }

    /// A session's steps checked against their hashes, the log of record
    /// and this instance's checkpoints; None when it has none.
    pub(crate) async fn session_report(&self, project: &str, id: &str) -> Result<Option<verify::Report>, AppError> {
        Ok(verify::verify_session(&self.store, project, id, Some(&self.checkpointer.public_key_hex())).await?)
    }

    /// Every step, the log of record and its checkpoints; and whether the
    /// newest checkpoint this instance signed is still stored.
    pub async fn verify_all(&self) -> Result<verify::Report, AppError> {
        let report = verify::verify_all(&self.store, Some(&self.checkpointer.public_key_hex())).await?;
        Ok(report.with_deleted_checkpoint(self.checkpointer.deleted_checkpoint().await?))
    }

    /// The session's evidence bundle, a self-contained JSON file. With
    /// `with_access_log` (only for a caller whose key has the admin scope:
    /// it names other readers' keys, filters and users) it lists who read
    /// the session; without, it leaves that section out.
    pub async fn evidence(&self, project: &str, id: &str, with_access_log: bool) -> Result<EvidenceFile, AppError> {
        crate::params::session_id(id)?;
        // Sealed first (by the writer; elsewhere a no-op), so that a bundle
        // of a live session proves its latest steps too: checked with the
        // key pinned, an unsealed step fails. A refusal is logged by the
        // sealing, and the bundle shows what stands.
        if let Err(e) = self.checkpointer.seal().await {
            tracing::warn!(error = %e, "exporting an evidence bundle without sealing its latest steps");
        }
        // Each build takes a file as large as the bundle (1.4 GB for a
        // session of 500,000 steps) and a core for as long: a few at once,
        // the others wait their turn.
        let turn = BUNDLES_AT_ONCE.acquire().await.map_err(|e| AppError::unavailable("evidence bundles", e))?;
        let unwritable = |e: std::io::Error| AppError::unavailable("cannot write the evidence bundle to a temporary file", e);
        let mut file = tokio::fs::File::from_std(tempfile::tempfile().map_err(unwritable)?);
        let key = self.checkpointer.public_key_hex();
        match bundle::export(&self.store, &key, project, id, with_access_log, &mut file).await {
            Ok(true) => {}
            Ok(false) => return Err(AppError::no_session(id)),
            Err(bundle::ExportError::Store(e)) => return Err(e.into()),
            Err(bundle::ExportError::Write(e)) => return Err(unwritable(e)),
        }
        let len = file.stream_position().await.map_err(unwritable)?;
        file.rewind().await.map_err(unwritable)?;
        let (steps, users) = self.store.session_summary(project, id).await?.map_or((0, Vec::new()), |s| (s.steps, s.users));
        Ok(EvidenceFile { file, len, steps, users, turn })
    }

    pub async fn checkpoints(&self) -> Result<Vec<CheckpointRow>, AppError> {
        Ok(self.store.checkpoints().await?)
    }

    /// Signs a checkpoint of the log now; None when nothing is new. A log
    /// that no longer extends the last checkpoint is a conflict with what
    /// was signed, not the caller's mistake.
    pub async fn seal(&self) -> Result<Option<CheckpointRow>, AppError> {
        self.checkpointer.seal().await.map_err(|e| match e {
            StoreError::Invalid(message) => AppError::Conflict { code: "log_rewritten", message },
            e => e.into(),
        })
    }

    /// The proof between two signed checkpoints, given by their tree sizes.
    pub async fn consistency(&self, from: Option<&str>, to: Option<&str>) -> Result<Consistency, AppError> {
        let size = |name: &str, v: Option<&str>| {
            params::number::<u64>(name, v)?.ok_or_else(|| AppError::invalid(name, "is required: a checkpoint's tree size"))
        };
        let (from, to) = (size("from", from)?, size("to", to)?);
        let checkpoints = self.store.checkpoints().await?;
        let find = |size: u64, name: &str| {
            checkpoints
                .iter()
                .find(|c| c.tree_size == size)
                .cloned()
                .ok_or_else(|| AppError::invalid(name, format!("no signed checkpoint has size {size}")))
        };
        let (older, newer) = (find(from, "from")?, find(to, "to")?);
        if older.tree_size > newer.tree_size {
            return Err(AppError::invalid("from", "must not be larger than to"));
        }
        if let Some(proof) = flightlog_integrity::nodes::consistency_proof(&self.store, older.tree_size, newer.tree_size).await? {
            return Ok(Consistency { older, newer, proof });
        }
        // The stored nodes do not reach that far yet: from the whole log.
        let leaves = self.store.log_step_hashes().await?;
        if (leaves.len() as u64) < newer.tree_size {
            return Err(AppError::Conflict {
                code: "log_truncated",
                message: "the log of record is shorter than the checkpoint; run verification".into(),
            });
        }
        let tree = Tree::new(leaves[..newer.tree_size as usize].iter().map(leaf_hash).collect());
        let proof = tree.consistency_proof(older.tree_size as usize, newer.tree_size as usize);
        Ok(Consistency { older, newer, proof })
    }

    /// Erases the personal content of a session and/or a user's steps, in
    /// storage and in the similar-failure index (whose snippets could hold
    /// it); `by` is the key id, for the log.
    pub async fn erase(&self, project: &str, req: &ErasureRequest, by: &str) -> Result<Erasure, AppError> {
        if req.session_id.is_empty() && req.user_id.is_empty() {
            return Err(AppError::invalid("session_id", "give session_id, user_id or both: what is to be erased"));
        }
        for (field, id) in [("session_id", &req.session_id), ("user_id", &req.user_id)] {
            if !id.is_empty() {
                crate::params::id(field, id, self.limits.max_id_bytes)?;
            }
        }
        crate::params::reason(&req.reason)?;
        // No hold is placed from the look at the holds until the erasure
        // is done (`retention::OneAtATime`).
        let _turn = self.holds_and_erasures.turn().await;
        let held = self.refuse_erasure_under_hold(project, req).await?;
        self.check_erasure_runs_here()?;
        // The holds spared again by the erasure itself: a step of the user
        // that arrives in a held session while the erasure runs is not
        // erased with the rest.
        let plan = self.store.plan_erasure(project, &req.session_id, &req.user_id, None, &held).await?;
        // A session named that the project does not have is most likely a
        // typo: not answered as a success. (A user with no step, there or
        // anywhere, cannot be told from one whose steps are all gone: 200,
        // steps_erased 0.)
        if plan.done.steps.is_empty() && !req.session_id.is_empty() && self.store.session_summary(project, &req.session_id).await?.is_none() {
            return Err(AppError::no_session(&req.session_id));
        }
        // Kept before anything is blanked: who asked for what, when and
        // why, and which steps it covers. Verification accepts an erased
        // field only under such a record, and one whose erasure a crash cut
        // short is finished by the writer (`finish_cut_short_erasures`).
        let mut record = ErasureRow {
            project: project.to_string(),
            at_us: now_us(),
            session_id: req.session_id.clone(),
            user_id: req.user_id.clone(),
            reason: req.reason.clone(),
            by_key: by.to_string(),
            steps_erased: plan.done.steps_erased,
            fields_erased: plan.done.fields_erased,
            signature: String::new(),
            log_through: i64::try_from(plan.log_through).unwrap_or(i64::MAX),
        };
        record.signature = self.checkpointer.sign(&erasure_message(&record));
        self.store
            .put_erasure(&record)
            .await
            .map_err(|e| AppError::unavailable("the erasure's record could not be kept, so nothing was erased yet; send it again (a record that was kept after all is finished by the writer)", e))?;
        let done = self.carry_out_erasure(&record, plan).await?;
        tracing::info!(project = %project, session = %req.session_id, user = %req.user_id,
                       steps = done.steps_erased, by = %by, "personal content erased");
        Ok(done)
    }

    /// What an erasure does once its record is kept: blanks what `plan`
    /// covers, forgets those steps in the similar-failure index, then marks
    /// the record finished. Cut short anywhere, the writer's next retention
    /// run does it again (`finish_cut_short_erasures`).
    async fn carry_out_erasure(&self, record: &ErasureRow, plan: ErasurePlan) -> Result<Erasure, AppError> {
        let done = self.store.apply_erasure(plan).await.map_err(|e| {
            AppError::unavailable("the erasure is recorded but not finished; it is finished by the writer's next retention run, or send it again", e)
        })?;
        let done = self.forget_erased_points(&record.project, done).await?;
        self.store
            .put_erasure_finished(record)
            .await
            .map_err(|e| AppError::unavailable("erased, but its end could not be recorded; the writer checks it again", e))?;
        Ok(done)
    }

    /// Finishes the erasures a crash or a failure cut short after their
    /// record was kept (at most `limit`): the steps each covers, sparing
    /// what holds keep now. One that fails is logged and the others go on;
    /// the next run retries it.
    pub(crate) async fn finish_cut_short_erasures(&self, limit: u32) -> Result<(), AppError> {
        // The list read in the turn, so that an erasure running now is
        // not taken for one cut short and done twice.
        let _turn = self.holds_and_erasures.turn().await;
        for record in self.store.unfinished_erasures(limit).await? {
            if let Err(e) = self.finish_erasure(&record).await {
                tracing::warn!(project = %record.project, session = %record.session_id, user = %record.user_id, error = %e,
                               "could not finish an erasure a crash or failure had cut short; the next run retries");
            }
        }
        Ok(())
    }

    /// Finishes one erasure whose record was kept (in the caller's turn).
    async fn finish_erasure(&self, record: &ErasureRow) -> Result<(), AppError> {
        self.check_erasure_runs_here()?;
        let held = self.held_in_force(&record.project).await?;
        // The record's cover ends below log_through; 0 covers nothing.
        let Some(through) = u64::try_from(record.log_through).ok().and_then(|t| t.checked_sub(1)) else {
            self.store.put_erasure_finished(record).await?;
            return Ok(());
        };
        let plan = self.store.plan_erasure(&record.project, &record.session_id, &record.user_id, Some(through), &held).await?;
        self.carry_out_erasure(record, plan).await?;
        tracing::info!(project = %record.project, session = %record.session_id, user = %record.user_id,
                       at = %flightlog_model::time::format_timestamp(record.at_us), "finished an erasure a crash or failure had cut short");
        Ok(())
    }

    /// The project's newest erasure records, at most `limit`.
    pub async fn erasure_records(&self, project: &str, limit: u32) -> Result<Vec<ErasureRecord>, AppError> {
        Ok(self
            .store
            .erasures(project, limit)
            .await?
            .into_iter()
            .map(|ListedErasure { record: r, finished }| {
                let signed = self.checkpointer.signed(&erasure_message(&r), &r.signature);
                ErasureRecord {
                    at: flightlog_model::time::format_timestamp(r.at_us),
                    session_id: r.session_id,
                    user_id: r.user_id,
                    reason: r.reason,
                    by: r.by_key,
                    steps_erased: r.steps_erased,
                    fields_erased: r.fields_erased,
                    signed,
                    finished,
                }
            })
            .collect())
    }

    /// A legal hold keeps what it holds from erasure as from expiry (GDPR
    /// Art. 17(3)(e): not when the data is needed for legal claims): an
    /// erasure that names a held session or user, or reaches a step of
    /// one, is refused whole, naming the holds. Releasing the hold, which
    /// is signed and kept with who and why, is the way to erase them.
    /// (Read just before the erasure, and no hold is placed in between on
    /// this process: `retention::OneAtATime`. A step that arrives in
    /// between under a hold is spared by the erasure itself, given what
    /// this returns: what is held, when the erasure reaches none of it.)
    async fn refuse_erasure_under_hold(&self, project: &str, req: &ErasureRequest) -> Result<Held, AppError> {
        let held = self.held_in_force(project).await?;
        let reached = self.store.erasure_reaching_holds(project, (&req.session_id, &req.user_id), (&held.sessions, &held.users)).await?;
        // Hold ids are never empty, so an empty session or user named
        // nothing here.
        let sessions = std::iter::once(&req.session_id).chain(reached.iter().map(|r| &r.session_id)).filter(|s| held.sessions.contains(s));
        let users = std::iter::once(&req.user_id).chain(reached.iter().map(|r| &r.user_id)).filter(|u| held.users.contains(u));
        let blocking: BTreeSet<(&str, &String)> =
            sessions.map(|s| (HoldSubject::Session.as_str(), s)).chain(users.map(|u| (HoldSubject::User.as_str(), u))).collect();
        if blocking.is_empty() {
            return Ok(held);
        }
        let named: Vec<String> = blocking.iter().map(|(subject, id)| format!("{subject} {id:?}")).collect();
        Err(AppError::Conflict {
            code: "legal_hold",
            message: format!(
                "this erasure names or reaches what a legal hold keeps ({}); nothing was erased. Release the hold first (DELETE /v1/legal-holds/{{subject}}/{{id}})",
                named.join(", ")
            ),
        })
    }

    /// Erases a session's steps up to log position `through` (the expiry
    /// of its content), sparing what `held` keeps; `by` names who asked,
    /// for the log.
    pub(crate) async fn erase_steps_through(&self, project: &str, session: &str, through: u64, held: &Held, by: &str) -> Result<Erasure, AppError> {
        self.check_erasure_runs_here()?;
        let done = self.store.erase_session_through(project, session, through, held).await?;
        tracing::info!(project = %project, session = %session, steps = done.steps_erased, by = %by, "personal content erased");
        self.forget_erased_points(project, done).await
    }

    /// Beside the writer only (requests are forwarded to it): an erasure
    /// drops stored messages, which the writer's steps may refer to.
    fn check_erasure_runs_here(&self) -> Result<(), AppError> {
        match self.ingestor.role() {
            flightlog_ingest::Role::Writer { .. } => Ok(()),
            _ => Err(AppError::unavailable("erasure runs beside the log's writer, which this process is not now; retry", "not the writer")),
        }
    }

    /// The similar-failure index's points of the erased steps go too (their
    /// snippets could hold the content).
    async fn forget_erased_points(&self, project: &str, done: Erasure) -> Result<Erasure, AppError> {
        let ids = done.steps.iter().map(|(s, n)| flightlog_index::point_id(project, s, *n)).collect::<Vec<_>>();
        self.search
            .remove_points(ids)
            .await
            .map_err(|e| AppError::unavailable("erased in storage, but the vector index failed; retry", e))?;
        Ok(done)
    }
}
