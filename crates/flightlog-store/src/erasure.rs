//! Erasure of personal content (GDPR) without breaking the proofs: see
//! `flightlog-model` integrity for why the step hashes survive it.

use crate::backend::{Format, Params, StoreError, rows};
use crate::rowbinary::{Reader, RowBinary};
use flightlog_model::action::{ActionKey, action_of_content};
use crate::Store;
use crate::content::Content;
use flightlog_model::canonical::to_canonical_json;
use flightlog_model::stored::rest_of_matching;
use flightlog_model::integrity::{ERASABLE, erase};
use std::collections::BTreeMap;

const ERASABLE_ROWS: &str = include_str!("queries/erasable_rows.sql");
const ERASE_STEP_CONTENT: &str = include_str!("queries/erase_step_content.sql");
const ERASED_BEFORE_SPAN_ATTRIBUTES: &str = include_str!("queries/erased_before_span_attributes.sql");
const ERASURE_REACHING_HOLDS: &str = include_str!("queries/erasure_reaching_holds.sql");
const INSERT_ERASED_ACTIONS: &str = "INSERT INTO erased_actions (project, log_index, action_key, result)";

/// Where an erasure request reaches what a legal hold keeps: the session
/// and user of steps it covers (`erasure_reaching_holds.sql`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct HeldReach {
    pub session_id: String,
    pub user_id: String,
}

/// Steps of one session and user that an earlier erasure left holding
/// their span's attributes (`erased_before_span_attributes.sql`); also the
/// key a listing continues after.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ErasedBefore {
    pub project: String,
    pub session_id: String,
    pub user_id: String,
    #[serde(default)]
    pub steps: Vec<u64>,
}

/// What legal holds keep from every erasure: their sessions, and the steps
/// of their users. An erasure leaves these alone even when they arrived
/// after the holds were checked against it.
#[derive(Debug, Default, Clone)]
pub struct Held {
    pub sessions: Vec<String>,
    pub users: Vec<String>,
}

#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Erasure {
    pub steps_erased: u64,
    pub fields_erased: u64,
    pub sessions: Vec<String>,
    /// (session, step) of every step matched (erased now or before), for
    /// the vector index.
    #[serde(skip)]
    pub steps: Vec<(String, u64)>,
}

/// An erasure worked out and not yet applied ([`Store::plan_erasure`]).
pub struct ErasurePlan {
    project: String,
    held: Held,
    /// Every session matched, erased now or before.
    matched: Vec<String>,
    /// New content per session: (step, what raw keeps of it, erased hashes as JSON).
    per_session: BTreeMap<String, Vec<(u64, String, String)>>,
    /// The highest log position read per session: the update touches no
    /// row past it.
    read_through: BTreeMap<String, u64>,
    /// What each step to erase did, kept before its content goes.
    actions: Vec<(u64, (ActionKey, u64))>,
    /// What applying it erases (its counts are the record's).
    pub done: Erasure,
    /// One past the highest log position the erasure read (0: none): it
    /// covers the steps it matched below it, and no step logged since.
    pub log_through: u64,
}

/// A step an erasure covers: what `raw` keeps, the hashes kept by earlier
/// erasures, and the content columns.
struct Row {
    session_id: String,
    step: u64,
    log_index: u64,
    raw: String,
    erased: BTreeMap<String, String>,
    content: Content,
}

/// What `erasable_rows.sql` selects before the content columns.
const LEADING: [(&str, &str); 5] =
    [("session_id", "String"), ("step", "UInt64"), ("log_index", "UInt64"), ("raw", "String"), ("erased", "Map(String, String)")];

/// The rows of `erasable_rows.sql`'s RowBinaryWithNamesAndTypes answer
/// (RowBinary: a session's steps are mostly text, which JSON escapes).
fn erasable_rows(out: &[u8]) -> Result<Vec<Row>, StoreError> {
    let columns: Vec<(&str, &str)> = LEADING.iter().chain(&Content::BINARY_COLUMNS).copied().collect();
    let mut r = Reader::new(out, &columns)?;
    let mut found = Vec::new();
    while !r.done() {
        // Read as the JSON answer was (with replacement characters), so a
        // row changed behind Flightlog's back fails no erasure.
        let (session_id, step, log_index, raw) = (r.text_lossy()?.0, r.u64()?, r.u64()?, r.text_lossy()?.0);
        let erased = (0..r.map_len()?).map(|_| Ok((r.text_lossy()?.0, r.text_lossy()?.0))).collect::<Result<_, StoreError>>()?;
        found.push(Row { session_id, step, log_index, raw, erased, content: Content::read(&mut r)? });
    }
    Ok(found)
}

impl Store {
    /// Erases the erasable fields of the steps of `session` and/or `user`
    /// (empty = any) in `project`, but not those `held` keeps. Steps
    /// already erased are left as they are.
    pub async fn erase(&self, project: &str, session: &str, user: &str, held: &Held) -> Result<Erasure, StoreError> {
        self.erase_where(project, session, user, &[], None, held).await
    }

    /// [`Store::erase`] of `session`'s steps at log positions up to
    /// `through` (a content expiry: the steps its record lists), in one
    /// pass whatever their number.
    pub async fn erase_session_through(&self, project: &str, session: &str, through: u64, held: &Held) -> Result<Erasure, StoreError> {
        assert!(!session.is_empty(), "names its session");
        self.erase_where(project, session, "", &[], Some(through), held).await
    }

    /// Keeps what steps about to be erased did (schema/0029_erased_actions.sql),
    /// for the guard's memory rebuilt after a restart.
    async fn keep_erased_actions(&self, project: &str, actions: &[(u64, (ActionKey, u64))]) -> Result<(), StoreError> {
        if actions.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        let mut w = RowBinary(&mut buf);
        for (log_index, (key, result)) in actions {
            w.string(project);
            w.u64(*log_index);
            w.u64(key.0);
            w.u64(*result);
        }
        self.ch.insert(INSERT_ERASED_ACTIONS, buf).await?;
        Ok(())
    }

    /// Which of the held sessions and users an erasure of `session` and/or
    /// `user` would reach through its steps (a few of them).
    pub async fn erasure_reaching_holds(
        &self,
        project: &str,
        (session, user): (&str, &str),
        (held_sessions, held_users): (&[String], &[String]),
    ) -> Result<Vec<HeldReach>, StoreError> {
        if held_sessions.is_empty() && held_users.is_empty() {
            return Ok(Vec::new());
        }
        let params = Params::new()
            .text("project", project)
            .text("session", session)
            .text("user", user)
            .texts("held_sessions", held_sessions)
            .texts("held_users", held_users);
        rows(&self.ch.query(ERASURE_REACHING_HOLDS, params).await?)
    }

    /// Steps erased (or whose content expired) before an erasure took an
    /// OpenTelemetry span's attributes with the prompt, which still hold
    /// them: up to `limit` groups of one session and user each, in key
    /// order after `after` (project, session, user). The retention job
    /// erases them again ([`Store::erase_steps`]).
    pub async fn erased_before_span_attributes(&self, after: &ErasedBefore, limit: u32) -> Result<Vec<ErasedBefore>, StoreError> {
        let params = Params::new()
            .text("after_project", &after.project)
            .text("after_session", &after.session_id)
            .text("after_user", &after.user_id)
            .number("limit", limit);
        rows(&self.ch.query(ERASED_BEFORE_SPAN_ATTRIBUTES, params).await?)
    }

    /// [`Store::erase`] of these steps of `session` only (by their step
    /// numbers), a few hundred per statement.
    pub async fn erase_steps(&self, project: &str, session: &str, steps: &[u64], held: &Held) -> Result<Erasure, StoreError> {
        assert!(!session.is_empty() && !steps.is_empty(), "names its steps");
        let mut done = Erasure::default();
        for chunk in steps.chunks(500) {
            let part = self.erase_where(project, session, "", chunk, None, held).await?;
            done.steps_erased += part.steps_erased;
            done.fields_erased += part.fields_erased;
            if done.sessions.is_empty() {
                done.sessions = part.sessions;
            }
            done.steps.extend(part.steps);
        }
        Ok(done)
    }

    /// [`Store::erase`], of only `steps` of the session when there are any.
    async fn erase_where(&self, project: &str, session: &str, user: &str, steps: &[u64], through: Option<u64>, held: &Held) -> Result<Erasure, StoreError> {
        let plan = self.plan_erasure_where(project, session, user, steps, through, held).await?;
        self.apply_erasure(plan).await
    }

    /// What an erasure of the steps of `session` and/or `user` (empty =
    /// any), at log positions up to `through` when given, would blank, but
    /// not those `held` keeps: read and worked out, nothing changed yet.
    /// Its record is kept before [`Store::apply_erasure`] blanks anything,
    /// so that no erased field is ever without one (verification requires
    /// it), and a crash between the two leaves a record whose erasure the
    /// writer finishes.
    pub async fn plan_erasure(&self, project: &str, session: &str, user: &str, through: Option<u64>, held: &Held) -> Result<ErasurePlan, StoreError> {
        self.plan_erasure_where(project, session, user, &[], through, held).await
    }

    async fn plan_erasure_where(&self, project: &str, session: &str, user: &str, steps: &[u64], through: Option<u64>, held: &Held) -> Result<ErasurePlan, StoreError> {
        let params = Params::new()
            .text("project", project)
            .text("session", session)
            .text("user", user)
            .numbers("steps", steps.iter().copied())
            .number("through", through.map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX)))
            .texts("held_sessions", &held.sessions)
            .texts("held_users", &held.users);
        let mut found = erasable_rows(&self.ch.query_as(ERASABLE_ROWS, params, Format::RowBinaryWithNamesAndTypes).await?)?;
        self.put_back_messages(project, found.iter_mut().map(|r| (r.session_id.as_str(), &mut r.content))).await?;
        // Every session matched, erased now or before: dropping what its
        // erased steps alone referred to is then finished by a retry.
        let mut matched: Vec<String> = found.iter().map(|r| r.session_id.clone()).collect();
        matched.dedup();
        // New content per session: (step, what raw keeps of it, erased hashes as JSON).
        let mut per_session: BTreeMap<String, Vec<(u64, String, String)>> = BTreeMap::new();
        // The highest log position read per session: the update touches no
        // row past it.
        let mut read_through: BTreeMap<String, u64> = BTreeMap::new();
        // What each step erased now did, kept before its content goes.
        let mut actions: Vec<(u64, (ActionKey, u64))> = Vec::new();
        let mut done = Erasure::default();
        for row in found {
            let through = read_through.entry(row.session_id.clone()).or_default();
            *through = (*through).max(row.log_index);
            let mut content = row.content.rebuild_value(&row.raw).map_err(StoreError::Decode)?;
            // Listed even when erased before: a retry after a failed index
            // update must reach the same steps.
            done.steps.push((row.session_id.clone(), row.step));
            let did = action_of_content(&content);
            let called = content.pointer("/tool_execution/name").and_then(serde_json::Value::as_str).is_some_and(|t| !t.is_empty());
            let fresh = erase(&mut content, &ERASABLE);
            if fresh.is_empty() {
                continue;
            }
            // Only a step that called a tool did something the guard keeps.
            if called {
                actions.push((row.log_index, did));
            }
            // Hashes kept by an earlier erasure are the real ones: keep them.
            let mut all: BTreeMap<String, String> = fresh.iter().map(|(p, h)| (p.clone(), hex::encode(h))).collect();
            all.extend(row.erased);
            done.steps_erased += 1;
            done.fields_erased += fresh.len() as u64;
            let erased_json = serde_json::to_string(&all).expect("a map of strings serialises");
            // The erased fields are null, kept in raw; the columns left
            // untouched (reasoning, metadata…) hold the rest, so raw leaves
            // out what each of them still gives back exactly.
            let rest = match &content {
                serde_json::Value::Object(step) => rest_of_matching(step, |c| row.content.column(c)),
                other => to_canonical_json(other),
            };
            per_session.entry(row.session_id).or_default().push((row.step, rest, erased_json));
        }
        let log_through = read_through.values().copied().max().map_or(0, |i| i + 1);
        Ok(ErasurePlan { project: project.to_string(), held: held.clone(), matched, per_session, read_through, actions, done, log_through })
    }

    /// Blanks what `plan` worked out (see [`Store::plan_erasure`]). Run
    /// again after a failure, it changes only what is still to change.
    pub async fn apply_erasure(&self, plan: ErasurePlan) -> Result<Erasure, StoreError> {
        let ErasurePlan { project, held, matched, per_session, read_through, actions, mut done, .. } = plan;
        let project = project.as_str();
        self.keep_erased_actions(project, &actions).await?;
        for (session, steps) in per_session {
            // Bounded statements: at most 500 steps per mutation.
            for chunk in steps.chunks(500) {
                let params = Params::new()
                    .numbers("steps", chunk.iter().map(|(n, _, _)| *n))
                    .texts("raws", chunk.iter().map(|(_, r, _)| r))
                    .texts("erased", chunk.iter().map(|(_, _, e)| e))
                    .text("project", project)
                    .text("session", &session)
                    .number("through", read_through.get(&session).copied().unwrap_or_default())
                    .texts("held_users", &held.users);
                self.ch.query(ERASE_STEP_CONTENT, params).await?;
            }
            done.sessions.push(session);
        }
        self.drop_unneeded_messages(project, &matched).await?;
        // Nor does a copy kept to hash the next long value faster.
        flightlog_model::prefix_hash::forget();
        Ok(done)
    }
}
