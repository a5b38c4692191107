use crate::known_heads::KnownHeads;
use crate::lease::{Role, WriterLease};
use crate::merkle_log::{Loading, MerkleLog};
use flightlog_model::integrity::{chain_next, chain_seed};
use flightlog_model::merkle::Hash;
use flightlog_store::{ChainHead, EncodedStep, HeldMessages, LogPosition, MessageRow, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use flightlog_model::time::now_us;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use backon::BackoffBuilder;

/// Upper bound on rows in one group commit: bounds the writer's memory and
/// the size of one insert, while still amortising fsyncs across requests.
const MAX_GROUP_ROWS: usize = 50_000;
/// The longest a small group waits for more requests (`Writer::gather`).
const MAX_LINGER: Duration = Duration::from_millis(20);
/// A group this big does not wait: its steps' own work outweighs the
/// commit's fixed costs (`flightlog-bench write-path`: a commit of 40
/// conversation steps took 56 ms, one of 1,000 steps of 1.3 KB 75–114),
/// and waiting for requests of 1,000 steps, which take their clients and
/// the handlers longer to send and decode, cost 8 clients of `flightlog-
/// bench ingest` about 5% (16,232 and 14,940 steps/s against 17,008 and
/// 15,714).
const LINGER_BELOW_ROWS: usize = 1_000;
/// The largest probe write after a failure (see `Writer::failed_bytes`).
const MAX_PROBE_BYTES: usize = 64 << 20;
/// Log positions read per query when rebuilding the log's head.
const LOG_PAGE: u64 = 200_000;
/// Submissions waiting for the writer; beyond this, handlers wait
/// (backpressure) instead of the queue growing without bound.
const QUEUE_DEPTH: usize = 256;
/// Waits between attempts to write again after a failed commit: 0.2 s,
/// doubling, at most 5 s, until storage takes writes again.
const RECOVERY_RETRY: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(200))
    .with_max_delay(Duration::from_secs(5))
    .without_max_times();

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    Duplicate,
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the writer is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A commit failed and the writer has not yet re-read the durable
    /// state of the log; it refuses work until it has (see [`WriterHealth`]).
    #[error("storage is recovering from a failed write: {0}")]
    Recovering(String),
    /// Another process holds the writer lease (or none does, for a moment);
    /// `writer` is where it listens, when known.
    #[error("this process does not hold the writer lease{}", .writer.as_ref().map(|w| format!(" (the writer is {w})")).unwrap_or_default())]
    NotWriter { writer: Option<String> },
}

/// Whether the writer can take work. After a failed group commit it is
/// `Degraded` until it has re-read where the log stands on disk: taking
/// work before that would hand out log positions twice.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WriterHealth {
    Healthy,
    Degraded { reason: String },
}

/// Counters for /healthz and the logs.
#[derive(Debug, Default, serde::Serialize)]
pub struct IngestStats {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub conflicts: AtomicU64,
    pub group_commits: AtomicU64,
    pub failed_commits: AtomicU64,
    /// Log positions of steps stored by commits that failed (completed
    /// when the writer recovered): stored, but no one was told, so memory
    /// fed by acknowledged commits (the guard's) lacks them until it takes
    /// them ([`Ingestor::take_stored_unacknowledged`]).
    #[serde(skip)]
    stored_unacknowledged: Mutex<Vec<std::ops::Range<u64>>>,
    pub next_log_index: AtomicU64,
}

struct Submission {
    project: String,
    steps: Vec<EncodedStep>,
    reply: oneshot::Sender<Result<Committed, Refusal>>,
}

/// A submission's answer: each step's outcome, and when the commit that
/// stored the accepted ones was made (their `received_at`).
struct Committed {
    outcomes: Vec<Outcome>,
    received_us: i64,
}

/// Why a submission was not stored, as the writer tells its submitter.
#[derive(Clone)]
enum Refusal {
    Failed(Arc<StoreError>),
    Recovering(String),
    NotWriter(Option<String>),
}

/// The tenure of the writer lease under which the writer last read the
/// log's head from the store (`NONE`: it has not, or that tenure ended),
/// and the turn a load of the log takes with a seal.
#[derive(Clone, Default)]
struct Loaded {
    tenure: Arc<AtomicU64>,
    /// Held while the log is read from the store, and by a seal from the
    /// head it takes until the load knows it was signed: a seal stored
    /// after a new load read the newest checkpoint would be one that load
    /// does not know it extends (merkle_log.rs).
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Loaded {
    const NONE: u64 = u64::MAX;

    fn get(&self) -> Option<u64> {
        Some(self.tenure.load(Ordering::Acquire)).filter(|t| *t != Self::NONE)
    }

    fn set(&self, tenure: Option<u64>) {
        self.tenure.store(tenure.unwrap_or(Self::NONE), Ordering::Release);
    }
}

/// The Merkle log of durable steps, as the writer maintains it.
#[derive(Clone)]
pub struct LogView {
    log: Arc<Mutex<MerkleLog>>,
    lease: WriterLease,
    loaded: Loaded,
}

/// The head of the log as the lease holder knows it: what a checkpoint signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealableHead {
    /// The writer lease tenure it was built under.
    pub tenure: u64,
    pub size: u64,
    pub root: Hash,
    /// Which load of the log from the store it is a head of: heads of one
    /// load extend each other (see merkle_log.rs).
    pub load: u64,
    /// A (size, root) this load of the log held: that of the newest
    /// checkpoint stored when it was read, or of one signed from it since.
    pub held: Option<(u64, Hash)>,
}

impl LogView {
    /// Size and root, when this process writes the log and has read its
    /// head under its current tenure (otherwise another process may have
    /// moved it on). Every step it covers has been acknowledged as stored.
    pub fn sealable(&self) -> Option<SealableHead> {
        let tenure = self.lease.writable().filter(|t| self.loaded.get() == Some(*t))?;
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        Some(SealableHead { tenure, size: log.size(), root: log.root(), load: log.load(), held: log.held() })
    }

    /// Waits for a load of the log in progress, and keeps the next one from
    /// starting until the guard is dropped: a seal holds it from taking
    /// the head until [`LogView::signed`].
    pub async fn hold_load(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.loaded.turn.clone().lock_owned().await
    }

    /// A checkpoint was signed over `head`: later heads of its load extend it.
    pub fn signed(&self, head: &SealableHead) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).signed(head.load, head.size, head.root);
    }
}

/// The handle request handlers use. Cheap to clone; the writer stops once
/// every clone is dropped and the queue is drained.
#[derive(Clone)]
pub struct Ingestor {
    tx: mpsc::Sender<Submission>,
    stats: Arc<IngestStats>,
    log: Arc<Mutex<MerkleLog>>,
    health: Arc<Mutex<WriterHealth>>,
    lease: WriterLease,
    loaded: Loaded,
}

impl Ingestor {
    /// Starts the writer. The returned handle finishes after the last
    /// `Ingestor` clone is dropped and everything queued has been written.
    /// Under a shared lease the writer reads the log's head once it holds
    /// the lease (and again each time it takes it back); as the sole
    /// process, now.
    pub async fn start(store: Store, lease: WriterLease) -> Result<(Self, JoinHandle<()>), StoreError> {
        let stats = Arc::new(IngestStats::default());
        let log = Arc::new(Mutex::new(MerkleLog::default()));
        let health = Arc::new(Mutex::new(WriterHealth::Healthy));
        let loaded = Loaded::default();
        loaded.set(None);
        let mut writer = Writer {
            store,
            stats: stats.clone(),
            next_log_index: 0,
            log: log.clone(),
            health: health.clone(),
            failed_bytes: 0,
            lease: lease.clone(),
            loaded: loaded.clone(),
            last_commit: (0, Duration::ZERO),
            known: KnownHeads::default(),
        };
        if let Some(tenure) = lease.writable() {
            writer.reload().await?;
            loaded.set(Some(tenure));
        }
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let handle = tokio::spawn(writer.run(rx));
        Ok((Self { tx, stats, log, health, lease, loaded }, handle))
    }

    /// Whether this process writes, or which one does.
    /// The writer lease's time to live, when processes share the store.
    pub fn lease_ttl(&self) -> Option<std::time::Duration> {
        self.lease.ttl()
    }

    pub fn role(&self) -> Role {
        self.lease.role()
    }

    /// Whether the writer takes work now, and why not.
    pub fn health(&self) -> WriterHealth {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The size and root of the Merkle log of durable steps.
    pub fn log_head(&self) -> (u64, Hash) {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        (log.size(), log.root())
    }

    /// The log's size (every step below it acknowledged as stored, its
    /// views written), when this process writes the log and has read its
    /// head under its current tenure: what may be read behind ingestion.
    pub fn acknowledged_size(&self) -> Option<u64> {
        self.log_view().sealable().map(|h| h.size)
    }

    /// A read-only view of the log head that does not keep the writer
    /// running (unlike an `Ingestor` clone, which holds its queue open).
    pub fn log_view(&self) -> LogView {
        LogView { log: self.log.clone(), lease: self.lease.clone(), loaded: self.loaded.clone() }
    }

    /// Submits steps of one project and waits until they are durable.
    /// Outcomes come back in the order of `steps`.
    pub async fn submit(&self, project: String, steps: Vec<EncodedStep>) -> Result<Vec<Outcome>, IngestError> {
        self.enqueue(project, steps).await?.outcomes().await
    }

    /// Hands steps of one project to the writer, waiting while its queue is
    /// full (a caller that gives up meanwhile withdraws them); what comes
    /// back is the commit's answer to wait for. Once queued, the steps are
    /// committed whether or not anyone waits.
    pub async fn enqueue(&self, project: String, steps: Vec<EncodedStep>) -> Result<Queued, IngestError> {
        let (reply, answer) = oneshot::channel();
        if steps.is_empty() {
            let _ = reply.send(Ok(Committed { outcomes: Vec::new(), received_us: now_us() }));
        } else {
            self.tx.send(Submission { project, steps, reply }).await.map_err(|_| IngestError::ShuttingDown)?;
        }
        Ok(Queued { answer })
    }

    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// The log positions of steps that commits which failed stored after
    /// all (see [`IngestStats`]), handed over once.
    pub fn take_stored_unacknowledged(&self) -> Vec<std::ops::Range<u64>> {
        std::mem::take(&mut *self.stats.stored_unacknowledged.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Hands positions taken back, for a later take (their taker failed).
    pub fn put_back_stored_unacknowledged(&self, ranges: Vec<std::ops::Range<u64>>) {
        self.stats.stored_unacknowledged.lock().unwrap_or_else(|p| p.into_inner()).extend(ranges);
    }

    pub fn queued(&self) -> usize {
        QUEUE_DEPTH - self.tx.capacity()
    }
}

/// Steps in the writer's queue: its answer, once they are committed.
pub struct Queued {
    answer: oneshot::Receiver<Result<Committed, Refusal>>,
}

impl Queued {
    /// Waits until the steps are durable (or refused).
    pub async fn outcomes(self) -> Result<Vec<Outcome>, IngestError> {
        Ok(self.committed().await?.0)
    }

    /// Waits until the steps are durable (or refused); with the time the
    /// accepted ones were stored at (their `received_at`, in µs).
    pub async fn committed(self) -> Result<(Vec<Outcome>, i64), IngestError> {
        match self.answer.await {
            Ok(Ok(Committed { outcomes, received_us })) => Ok((outcomes, received_us)),
            Ok(Err(Refusal::Failed(e))) => Err(IngestError::Store(StoreError::Engine(e.to_string()))),
            Ok(Err(Refusal::Recovering(why))) => Err(IngestError::Recovering(why)),
            Ok(Err(Refusal::NotWriter(writer))) => Err(IngestError::NotWriter { writer }),
            Err(_) => Err(IngestError::ShuttingDown),
        }
    }
}

struct Writer {
    store: Store,
    stats: Arc<IngestStats>,
    next_log_index: u64,
    /// The Merkle log of durable steps: leaves in log_index order.
    log: Arc<Mutex<MerkleLog>>,
    /// Degraded from a failed commit until `recover` has re-read the
    /// durable state: memory may disagree with disk meanwhile, so nothing
    /// is committed before.
    health: Arc<Mutex<WriterHealth>>,
    /// The size of the write that failed: recovery proves storage takes a
    /// write that big again (a small one may fit where it did not).
    failed_bytes: usize,
    lease: WriterLease,
    loaded: Loaded,
    /// How many requests the last commit held, and how long it took: what
    /// the next small group waits for (see `Writer::gather`).
    last_commit: (usize, Duration),
    /// The chain heads of the sessions this writer's commits extended.
    known: KnownHeads,
}

/// The messages `steps` (each with its project) refer to, as rows of the
/// messages table.
fn message_rows<'a>(steps: impl Iterator<Item = (&'a str, &'a EncodedStep)>) -> Vec<MessageRow<'a>> {
    steps.flat_map(|(project, s)| s.contents.iter().map(move |(hash, body)| MessageRow { project, session: &s.session_id, hash, body })).collect()
}

/// (project, session) → where its chain stands, as stored.
type Heads = HashMap<(String, String), ChainHead>;

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Submission>) {
        loop {
            if self.is_degraded() && !self.recover(&mut rx).await {
                break;
            }
            // Whether requests were waiting while the last commit ran.
            let (first, queued) = match rx.try_recv() {
                Ok(first) => (Some(first), true),
                Err(_) => (rx.recv().await, false),
            };
            let Some(first) = first else { break };
            let mut rows = first.steps.len();
            let mut group = vec![first];
            // Everything already waiting joins this commit.
            while rows < MAX_GROUP_ROWS {
                match rx.try_recv() {
                    Ok(s) => {
                        rows += s.steps.len();
                        group.push(s);
                    }
                    Err(_) => break,
                }
            }
            self.gather(&mut rx, &mut group, queued).await;
            let (requests, started) = (group.len(), std::time::Instant::now());
            match self.tenure().await {
                Ok(tenure) => {
                    self.commit(group, tenure).await;
                    self.last_commit = (requests, started.elapsed());
                }
                Err(refusal) => {
                    for sub in group {
                        let _ = sub.reply.send(Err(refusal.clone()));
                    }
                }
            }
        }
        tracing::info!("ingest writer drained and stopped");
    }

    /// Lets a group wait a little for the requests the last commit
    /// answered: their clients are likely sending the next ones, and a
    /// commit's fixed costs (each insert's parts, whatever they hold) are
    /// most of a small commit's time. Without this, 8 clients sending
    /// 40-step conversations settled into commits of 1 request and 7 in
    /// turn, each costing about as much; waiting only for a group as big
    /// as the last, into two halves of 4 (`FLIGHTLOG_BENCH_LOG=
    /// flightlog_ingest=debug flightlog-bench conversations`). So a group
    /// that was already waiting (`queued`) expects the last commit's
    /// requests besides its own; one that came to an idle writer, the last
    /// commit's. It waits until it has them, or for a quarter of the last
    /// commit's time, at most [`MAX_LINGER`], and only while it holds
    /// fewer than [`LINGER_BELOW_ROWS`] steps. A lone client, whose request
    /// always finds the writer idle and whose last commit was its own
    /// request, does not wait (but once, right after others stopped).
    async fn gather(&self, rx: &mut mpsc::Receiver<Submission>, group: &mut Vec<Submission>, queued: bool) {
        let (answered, took) = self.last_commit;
        let mut rows: usize = group.iter().map(|s| s.steps.len()).sum();
        let expected = if queued { group.len() + answered } else { answered };
        let deadline = tokio::time::Instant::now() + (took / 4).min(MAX_LINGER);
        while group.len() < expected && rows < LINGER_BELOW_ROWS {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(s)) => {
                    rows += s.steps.len();
                    group.push(s);
                }
                // The time is up, or the queue closed (the next look at it
                // ends the writer).
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// The lease tenure to commit under, the log's head read under it:
    /// a process that has just taken the lease over reads where the
    /// previous writer left the log (completing its last commit's log
    /// entries, as after a crash) before it hands out a position.
    ///
    /// Read here, at the first commit, not as soon as the lease is taken:
    /// a former writer frozen mid-commit finishes that commit when it
    /// wakes, and a head read while it slept would number the same
    /// positions again (tried in stop 41: `tests/replicas.rs`'s frozen
    /// writer then failed verification with 25 repeated positions). Not a
    /// fence, only more time: see docs/scale-out.md, "What is not covered".
    async fn tenure(&mut self) -> Result<u64, Refusal> {
        let Some(tenure) = self.lease.writable() else {
            let writer = match self.lease.role() {
                Role::Standby { writer } => writer,
                Role::Writer { .. } => None,
            };
            return Err(Refusal::NotWriter(writer));
        };
        if self.loaded.get() != Some(tenure) {
            self.loaded.set(None);
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "could not read the log's head after taking the writer lease");
                return Err(Refusal::Failed(Arc::new(e)));
            }
            tracing::info!(tenure, log_size = self.next_log_index, "this process writes the log now");
            self.loaded.set(Some(tenure));
        }
        Ok(tenure)
    }

    async fn commit(&mut self, group: Vec<Submission>, tenure: u64) {
        let started = std::time::Instant::now();
        // Long messages the steps refer to are stored once per session,
        // before the steps (Store::lock_messages: nothing drops a message
        // from here until the steps are stored; a clone of the store, so
        // the guard does not borrow `self`). Which of them are stored
        // already is read beside the duplicate check.
        let group_messages = message_rows(group.iter().flat_map(|sub| sub.steps.iter().map(move |s| (sub.project.as_str(), s))));
        let store = self.store.clone();
        let messages_lock = match group_messages.is_empty() {
            true => None,
            false => Some(store.lock_messages().await),
        };
        let locked_in = started.elapsed();
        let held = async {
            let held = match group_messages.is_empty() {
                true => Ok(HeldMessages::default()),
                false => store.held_messages(&group_messages).await,
            };
            (held, started.elapsed())
        };
        let removals = self.store.steps_removals();
        let check = async { (self.decide(&group, removals).await, started.elapsed()) };
        let ((decided, checked_in), (held, held_in)) = tokio::join!(check, held);
        let ((decided, heads), held) = match (decided, held) {
            (Ok(d), Ok(h)) => (d, h),
            (Err(e), _) | (_, Err(e)) => {
                drop(messages_lock);
                return self.fail(group, e, 0).await;
            }
        };
        // Deciding read the store; the lease may have run out meanwhile.
        if self.lease.writable() != Some(tenure) {
            drop(messages_lock);
            for sub in group {
                let _ = sub.reply.send(Err(Refusal::NotWriter(None)));
            }
            return;
        }
        let accepted: Vec<&EncodedStep> = group
            .iter()
            .zip(&decided)
            .flat_map(|(sub, outcomes)| sub.steps.iter().zip(outcomes).filter(|(_, o)| **o == Outcome::Accepted))
            .map(|(step, _)| step)
            .collect();
        let accepted_projects: Vec<&str> = group
            .iter()
            .zip(&decided)
            .flat_map(|(sub, outcomes)| outcomes.iter().filter(|o| **o == Outcome::Accepted).map(|_| sub.project.as_str()))
            .collect();
        let decided_in = started.elapsed();
        let received_at = now_us();
        if !accepted.is_empty() {
            let (placed, new_heads) = self.place(&accepted_projects, &accepted, &heads);
            let rows: Vec<(&EncodedStep, LogPosition)> = accepted.iter().copied().zip(placed).collect();
            let bytes = || rows.iter().map(|(s, _)| s.encoded_len()).sum();
            // Only the accepted steps' messages: a retry of an erased step
            // must not store its messages again.
            let messages = message_rows(accepted_projects.iter().copied().zip(accepted.iter().copied()));
            if !messages.is_empty()
                && let Err(e) = self.store.insert_messages(&messages, &held).await
            {
                drop(messages_lock);
                let bytes = bytes();
                return self.fail(group, e, bytes).await;
            }
            if let Err(e) = self.store.insert_steps(&rows, received_at).await {
                drop(messages_lock);
                let bytes = bytes();
                return self.fail(group, e, bytes).await;
            }
            drop(messages_lock);
            let entries: Vec<(&str, &EncodedStep, u64)> =
                accepted_projects.iter().zip(&rows).map(|(p, (s, pos))| (*p, *s, pos.log_index)).collect();
            // The steps' insert may have been slow, or this process frozen
            // (SIGSTOP) after it: past the lease, a standby may have taken
            // over and completed the log from these very steps. Their
            // entries are then its to write; writing them as well put each
            // position in the log twice. Failed like any write: whoever
            // writes next completes the log from the stored steps.
            if self.lease.writable() != Some(tenure) {
                let e = StoreError::Engine("the writer lease ran out between a commit's steps and its log entries".into());
                return self.fail(group, e, 0).await;
            }
            if let Err(e) = self.store.insert_log_entries(&entries).await {
                let bytes = entries.len() * 96;
                return self.fail(group, e, bytes).await;
            }
            // Durable: now, and only now, the log and the chains move on.
            self.known.learn(new_heads, self.store.steps_removals());
            {
                let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
                for s in &accepted {
                    log.push(&s.step_hash);
                }
            }
            self.next_log_index += accepted.len() as u64;
            self.stats.next_log_index.store(self.next_log_index, Ordering::Relaxed);
        }
        self.stats.group_commits.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            requests = group.len(),
            accepted = accepted.len(),
            decide_ms = decided_in.as_secs_f64() * 1e3,
            // The two reads run at once, from when the lock was taken.
            locked_ms = locked_in.as_secs_f64() * 1e3,
            check_ms = (checked_in - locked_in).as_secs_f64() * 1e3,
            held_ms = (held_in - locked_in).as_secs_f64() * 1e3,
            insert_ms = (started.elapsed() - decided_in).as_secs_f64() * 1e3,
            "group commit"
        );
        for (sub, outcomes) in group.into_iter().zip(decided) {
            for o in &outcomes {
                let counter = match o {
                    Outcome::Accepted => &self.stats.accepted,
                    Outcome::Duplicate => &self.stats.duplicates,
                    Outcome::Conflict => &self.stats.conflicts,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            // A client that gave up waiting is not an error.
            let _ = sub.reply.send(Ok(Committed { outcomes, received_us: received_at }));
        }
    }

    /// Gives each accepted step (in order) its link in its session's chain
    /// and its log index.
    fn place(&self, projects: &[&str], accepted: &[&EncodedStep], stored: &Heads) -> (Vec<LogPosition>, Heads) {
        let mut heads: Heads = HashMap::new();
        let placed = accepted
            .iter()
            .zip(projects)
            .enumerate()
            .map(|(i, (step, project))| {
                let key = (project.to_string(), step.session_id.clone());
                let (seq, previous) = match heads.get(&key).or_else(|| stored.get(&key)) {
                    Some(h) => (h.seq + 1, h.head),
                    None => (0, chain_seed(project, &step.session_id)),
                };
                let chain_hash = chain_next(&previous, &step.step_hash);
                heads.insert(key, ChainHead { seq, head: chain_hash });
                LogPosition { session_seq: seq, chain_hash, log_index: self.next_log_index + i as u64 }
            })
            .collect();
        (placed, heads)
    }

    /// Reads where the log and its size stand from the store: at start-up,
    /// and after a failed commit (which may have stored part of what it
    /// tried), so that memory never disagrees with disk.
    async fn reload(&mut self) -> Result<(), StoreError> {
        let _turn = self.loaded.turn.clone().lock_owned().await;
        self.known.forget(self.store.steps_removals());
        self.store.append_missing_log_entries().await?;
        // The load notes its root at this size (merkle_log.rs).
        let checkpoint_size = self.store.latest_checkpoint().await?.map(|c| c.tree_size);
        let mut loading = Loading::new(checkpoint_size, &self.log.lock().unwrap_or_else(|p| p.into_inner()));
        self.store.for_each_log_hash(None, LOG_PAGE, |index, step_hash| loading.push(index, &step_hash)).await?;
        self.next_log_index = self.store.next_log_index().await?;
        self.stats.next_log_index.store(self.next_log_index, Ordering::Relaxed);
        *self.log.lock().unwrap_or_else(|p| p.into_inner()) = loading.done();
        Ok(())
    }

    /// Decides every step of the group against what is stored and against
    /// the steps before it in the same group; also returns where the
    /// touched sessions' chains stand: known from this writer's commits,
    /// or read with what is stored (known_heads.rs). `removals`: the
    /// store's count of step removals, read before.
    async fn decide(&mut self, group: &[Submission], removals: u64) -> Result<(Vec<Vec<Outcome>>, Heads), StoreError> {
        let mut stored: HashMap<(String, String, u64), [u8; 32]> = HashMap::new();
        let mut heads: Heads = HashMap::new();
        let mut projects: Vec<&str> = group.iter().map(|s| s.project.as_str()).collect();
        projects.sort_unstable();
        projects.dedup();
        for project in projects {
            let mut sessions: Vec<&str> = Vec::new();
            let mut steps: Vec<u64> = Vec::new();
            for st in group.iter().filter(|s| s.project == project).flat_map(|s| &s.steps) {
                sessions.push(&st.session_id);
                steps.push(st.step);
            }
            sessions.sort_unstable();
            sessions.dedup();
            steps.sort_unstable();
            steps.dedup();
            let (mut chained, mut unknown) = (Vec::new(), Vec::new());
            for session in sessions {
                match self.known.get(project, session, removals) {
                    Some(head) => {
                        heads.insert((project.to_string(), session.to_string()), head);
                        chained.push(session);
                    }
                    None => unknown.push(session),
                }
            }
            let (states, existing) = tokio::try_join!(
                self.store.session_states(project, &unknown, &steps),
                self.store.existing_steps(project, &chained, &steps)
            )?;
            for (session, state) in states {
                heads.insert((project.to_string(), session.clone()), state.head);
                for (step, hash) in state.existing {
                    stored.insert((project.to_string(), session.clone(), step), hash);
                }
            }
            for (session, numbers) in existing {
                for (step, hash) in numbers {
                    stored.insert((project.to_string(), session.clone(), step), hash);
                }
            }
        }
        let outcomes = group
            .iter()
            .map(|sub| {
                sub.steps
                    .iter()
                    .map(|st| {
                        let key = (sub.project.clone(), st.session_id.clone(), st.step);
                        match stored.get(&key) {
                            Some(hash) if *hash == st.step_hash => Outcome::Duplicate,
                            Some(_) => Outcome::Conflict,
                            None => {
                                stored.insert(key, st.step_hash);
                                Outcome::Accepted
                            }
                        }
                    })
                    .collect()
            })
            .collect();
        Ok((outcomes, heads))
    }

    /// Nothing in a failed group is acknowledged. The insert may still have
    /// reached disk (say, the steps part committed and the summary view
    /// failed); a retry then finds those steps as duplicates. The writer's
    /// view of the log and chains is re-read from disk.
    /// `attempted_bytes`: what the failed write tried to store (0 when it
    /// failed before writing), for the recovery probe.
    async fn fail(&mut self, group: Vec<Submission>, e: StoreError, attempted_bytes: usize) {
        tracing::error!(error = %e, submissions = group.len(), "group commit failed; nothing in it was acknowledged");
        self.known.forget(self.store.steps_removals());
        self.stats.failed_commits.fetch_add(1, Ordering::Relaxed);
        self.set_health(WriterHealth::Degraded { reason: format!("a write failed: {e}") });
        self.failed_bytes = attempted_bytes;
        let refusal = Refusal::Failed(Arc::new(e));
        for sub in group {
            let _ = sub.reply.send(Err(refusal.clone()));
        }
    }

    /// After a failed commit: re-reads the durable state (completing the
    /// log of record with whatever part of the failed commit did reach
    /// disk), retrying with backoff. Meanwhile every submission is refused
    /// at once, without touching storage, so no log position can be handed
    /// out twice and nothing outside the log is acknowledged. Returns false
    /// when the queue closed (shutdown) before storage came back.
    async fn recover(&mut self, rx: &mut mpsc::Receiver<Submission>) -> bool {
        let mut delays = RECOVERY_RETRY.build();
        loop {
            // Recovery writes (a probe, the log's missing tail): only the
            // lease holder may. Whoever holds it next reads the head again.
            if self.lease.writable().is_none() {
                self.loaded.set(None);
                self.set_health(WriterHealth::Healthy);
                return true;
            }
            let acknowledged = self.next_log_index;
            match self.reload_after_failure().await {
                Ok(()) => {
                    tracing::info!(log_size = self.next_log_index, "storage writes again; the writer resumes");
                    // Past what was acknowledged: what the failed commits
                    // stored after all, their log completed by the reload.
                    if self.next_log_index > acknowledged {
                        let stored = acknowledged..self.next_log_index;
                        tracing::info!(?stored, "steps of failed commits were stored; the guard takes them in");
                        self.stats.stored_unacknowledged.lock().unwrap_or_else(|p| p.into_inner()).push(stored);
                    }
                    self.set_health(WriterHealth::Healthy);
                    return true;
                }
                Err(e) => {
                    let reason = format!("storage does not take writes again yet after a failed write: {e}");
                    tracing::warn!(%reason, "writer degraded; retrying");
                    self.set_health(WriterHealth::Degraded { reason: reason.clone() });
                    let until = tokio::time::Instant::now() + delays.next().expect("retries forever");
                    loop {
                        match tokio::time::timeout_at(until, rx.recv()).await {
                            Ok(Some(sub)) => {
                                let _ = sub.reply.send(Err(Refusal::Recovering(reason.clone())));
                            }
                            Ok(None) => return false,
                            Err(_elapsed) => break,
                        }
                    }
                }
            }
        }
    }

    /// First one probe row as big as the failed write, written durably:
    /// reads succeed on a full disk, so only a real write says that storage
    /// takes work again, and while it does not, each retry costs one failed
    /// insert rather than the repair's scans. Then what the failed commit
    /// may have left on disk is completed: steps without their log entries
    /// (which the log of record takes in, at the positions they were
    /// given), steps without their summary rows (rebuilt); and the log head
    /// is read again.
    async fn reload_after_failure(&mut self) -> Result<(), StoreError> {
        self.store.probe_write(now_us(), self.failed_bytes.min(MAX_PROBE_BYTES)).await?;
        self.store.repair_derived_tables().await?;
        self.reload().await
    }

    fn is_degraded(&self) -> bool {
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) != WriterHealth::Healthy
    }

    fn set_health(&self, health: WriterHealth) {
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = health;
    }
}
