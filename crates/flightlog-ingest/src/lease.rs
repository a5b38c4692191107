//! The writer lease: which process writes the log of record when several
//! Flightlog processes share one ClickHouse (docs/scale-out.md).
//!
//! One process at a time decides accepted / duplicate / conflict and hands
//! out log positions; that is what keeps a retry that reaches another
//! process harmless and the Merkle log one sequence. The lease is a series
//! of generations in ClickHouse (`writer_leases`): taking generation N+1
//! is a compare-and-set done by the engine (the first insert with the
//! generation's deduplication token wins, see the schema). The holder
//! renews by taking the next generation every fifth of the time to live,
//! so a standby that takes over races the holder for the same generation
//! and exactly one of them wins. A standby claims only after it has seen
//! the generation unchanged for the whole time to live, by its own clock;
//! the holder stops writing a margin before that could happen, counted
//! from when it *sent* its last winning claim. No clocks are compared
//! across machines, and no protocol is added to ClickHouse's own.

use flightlog_model::time::now_us;
use flightlog_store::{LeaseRow, Store, StoreError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Who this process is to the others, and the rules of its lease.
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    /// This process's stable name, kept in its data folder (which one
    /// process at a time may use): a restarted writer finds the lease held
    /// under it and takes it back sooner (see `Keeper::watch`).
    name: String,
    /// This run of it ([`LeaseOptions::new`]): a lease is held by a run, so
    /// that two processes under one name (a data folder copied while its
    /// process ran) never both hold it.
    holder: String,
    /// Where this process's API listens, for the others to forward
    /// ingestion to while it writes.
    pub address: String,
    /// How long a silent writer keeps the lease before a standby takes it.
    pub ttl: Duration,
}

impl LeaseOptions {
    /// The options of run `run` (random, new at each start) of the process
    /// named `name`: it holds the lease as `name#run`.
    pub fn new(name: &str, run: &str, address: String, ttl: Duration) -> Self {
        Self { name: name.to_string(), holder: format!("{name}#{run}"), address, ttl }
    }
}

/// What this process does with ingestion now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// It writes the log of record. `tenure` is the generation it took the
    /// lease at (it stays the same across renewals); `generation` the
    /// newest it holds.
    Writer { tenure: u64, generation: u64 },
    /// Another process writes; `writer` is its address when known.
    Standby { writer: Option<String> },
}

impl Role {
    pub fn is_writer(&self) -> bool {
        matches!(self, Self::Writer { .. })
    }
}

/// The lease as this process holds it. Cheap to clone.
#[derive(Clone)]
pub struct WriterLease {
    state: Arc<Mutex<State>>,
    shared: Option<LeaseOptions>,
}

struct State {
    role: Role,
    /// A writer may write until then (`None`: always, the sole process).
    valid_until: Option<Instant>,
}

impl WriterLease {
    /// The only process on its store (embedded mode): always the writer.
    pub fn sole() -> Self {
        let role = Role::Writer { tenure: 0, generation: 0 };
        Self { state: Arc::new(Mutex::new(State { role, valid_until: None })), shared: None }
    }

    /// A lease shared through `store` with other processes. The returned
    /// task keeps it (claims, renews, watches) until aborted.
    pub fn shared(store: Store, options: LeaseOptions) -> (Self, tokio::task::JoinHandle<()>) {
        let lease = Self {
            state: Arc::new(Mutex::new(State { role: Role::Standby { writer: None }, valid_until: None })),
            shared: Some(options),
        };
        let task = tokio::spawn(lease.clone().keep(store));
        (lease, task)
    }

    /// The lease's time to live, when it is shared with other processes.
    pub fn ttl(&self) -> Option<Duration> {
        self.shared.as_ref().map(|o| o.ttl)
    }

    pub fn role(&self) -> Role {
        self.lock().role.clone()
    }

    /// The tenure under which this process may write right now, if it may.
    pub fn writable(&self) -> Option<u64> {
        let state = self.lock();
        match state.role {
            Role::Writer { tenure, .. } if state.valid_until.is_none_or(|until| Instant::now() < until) => Some(tenure),
            _ => None,
        }
    }

    /// Gives the lease up on a clean stop, so a standby takes it at once:
    /// the next generation is taken with no holder.
    pub async fn release(&self, store: &Store) -> Result<(), StoreError> {
        let Role::Writer { generation, .. } = self.role() else { return Ok(()) };
        let Some(options) = &self.shared else { return Ok(()) };
        self.set(Role::Standby { writer: None }, None);
        // The keeper was just aborted, but a renewal it had already sent
        // can still win the generation claimed here: then this process
        // still holds the lease, one generation on, and gives that one up.
        let mut next = generation + 1;
        for _ in 0..3 {
            let won = store.claim_writer_lease(next, "", "", now_us(), 0).await?;
            if won.holder != options.holder {
                tracing::info!(generation = won.generation, "gave the writer lease up");
                return Ok(());
            }
            next = won.generation + 1;
        }
        Err(StoreError::Engine(format!("could not give the writer lease up: this process still holds generation {}", next - 1)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, role: Role, valid_until: Option<Instant>) {
        let mut state = self.lock();
        if state.role != role {
            tracing::info!(?role, "writer lease");
        }
        *state = State { role, valid_until };
    }

    async fn keep(self, store: Store) {
        let options = self.shared.clone().expect("a shared lease");
        let mut keeper = Keeper { lease: self, store, options, seen: None, twin: false };
        // The holder writes a row per renewal; standbys only read, so they
        // look more often and notice a lease given up sooner.
        let renew_every = keeper.options.ttl / 5;
        let watch_every = (keeper.options.ttl / 20).max(Duration::from_millis(100));
        loop {
            if let Err(e) = keeper.step().await {
                tracing::warn!(error = %e, "could not read or renew the writer lease; retrying");
            }
            let writing = matches!(keeper.lease.role(), Role::Writer { .. });
            tokio::time::sleep(if writing { renew_every } else { watch_every }).await;
        }
    }
}

struct Keeper {
    lease: WriterLease,
    store: Store,
    options: LeaseOptions,
    /// The newest generation a standby has seen, and since when (its own
    /// clock): unchanged for the time to live, the writer is gone.
    seen: Option<(u64, Instant)>,
    /// Another run under this process's name was seen renewing the lease:
    /// a copy of this data folder runs (see [`Keeper::watch`]).
    twin: bool,
}

/// The name of the process a lease's holder is a run of (see
/// [`LeaseOptions::new`]; a holder written before runs had ids is a name).
fn name_of(holder: &str) -> &str {
    holder.rsplit_once('#').map_or(holder, |(name, _)| name)
}

/// How long a holder may write after it sent its last winning claim: its
/// time to live less a margin of 30 %, so that it stops before a standby,
/// which waits the whole time to live, may take over.
fn writes_for(ttl: Duration) -> Duration {
    ttl * 7 / 10
}

impl Keeper {

    async fn step(&mut self) -> Result<(), StoreError> {
        match self.lease.role() {
            Role::Writer { tenure, generation } => self.renew(tenure, generation).await,
            Role::Standby { .. } => self.watch().await,
        }
    }

    /// Renewing is taking the next generation: a standby that decided the
    /// writer is gone claims that same generation, and one of them wins.
    async fn renew(&mut self, tenure: u64, generation: u64) -> Result<(), StoreError> {
        let sent = Instant::now();
        // A writer cut off from ClickHouse for longer than the lease finds
        // a newer generation here (and never claims one so old that its
        // deduplication token has left the engine's window).
        let mut generation = generation;
        if let Some(current) = self.store.writer_lease().await?
            && current.generation > generation
        {
            // This run's own claim, whose answer was lost: renewed from there.
            if current.holder != self.options.holder {
                tracing::warn!(generation = current.generation, holder = %current.holder, "another process took the writer lease");
                self.standby(&current);
                return Ok(());
            }
            generation = current.generation;
        }
        let won = self.claim(generation + 1).await?;
        if won.holder == self.options.holder {
            self.lease.set(Role::Writer { tenure, generation: won.generation }, Some(sent + writes_for(self.options.ttl)));
        } else {
            tracing::warn!(generation = won.generation, holder = %won.holder, "another process took the writer lease");
            self.standby(&won);
        }
        Ok(())
    }

    async fn watch(&mut self) -> Result<(), StoreError> {
        let Some(current) = self.store.writer_lease().await? else {
            // Never taken: every process starting now claims the same first
            // generation, and one wins.
            return self.take(1).await;
        };
        // Given up on a clean stop, or this run's own (a claim whose answer
        // was lost): taken at once.
        if current.holder.is_empty() || current.holder == self.options.holder {
            return self.take(current.generation + 1).await;
        }
        // The holder's time to live, when longer than this process's: a
        // standby with a shorter one took over from a holder still writing.
        let ttl = self.options.ttl.max(Duration::from_millis(current.ttl_ms));
        // Held under this process's name by another run: the one before a
        // restart (the data folder's lock says none runs on it now), unless
        // the folder was copied and the copy runs. Either way it writes for
        // no longer than `writes_for` its time to live after its last
        // claim, which was before this process saw it: the lease is taken
        // back then, without the margin a stranger waits for. One seen
        // renewing is a live copy, and is waited for as any writer is.
        let own_name = name_of(&current.holder) == self.options.name;
        let earlier_run = own_name && !self.twin;
        let wait = if earlier_run { writes_for(ttl) } else { ttl };
        match self.seen {
            Some((generation, since)) if generation == current.generation => {
                if since.elapsed() >= wait {
                    tracing::warn!(generation, holder = %current.holder, "the writer stopped renewing its lease; taking it over");
                    return self.take(current.generation + 1).await;
                }
            }
            Some(_) if earlier_run => {
                self.twin = true;
                tracing::error!(holder = %current.holder, "another process runs under this data folder's replica name (a copy of the folder?) \
                    and holds the writer lease: this one waits as any standby does. Give each process a folder of its own");
                self.seen = Some((current.generation, Instant::now()));
            }
            _ => self.seen = Some((current.generation, Instant::now())),
        }
        // An earlier run of this process is not where to send ingestion:
        // the writer is not known until it is taken back (start-up waits
        // for that rather than forward to a process that is gone).
        let writer = (!own_name || self.twin).then_some(current.address);
        self.lease.set(Role::Standby { writer }, None);
        Ok(())
    }

    async fn take(&mut self, generation: u64) -> Result<(), StoreError> {
        let sent = Instant::now();
        let won = self.claim(generation).await?;
        if won.holder == self.options.holder {
            let role = Role::Writer { tenure: won.generation, generation: won.generation };
            self.lease.set(role, Some(sent + writes_for(self.options.ttl)));
            self.seen = None;
        } else {
            self.standby(&won);
        }
        Ok(())
    }

    async fn claim(&self, generation: u64) -> Result<LeaseRow, StoreError> {
        let ttl_ms = u64::try_from(self.options.ttl.as_millis()).unwrap_or(u64::MAX);
        self.store.claim_writer_lease(generation, &self.options.holder, &self.options.address, now_us(), ttl_ms).await
    }

    fn standby(&mut self, current: &LeaseRow) {
        self.seen = Some((current.generation, Instant::now()));
        let writer = (!current.holder.is_empty()).then(|| current.address.clone());
        self.lease.set(Role::Standby { writer }, None);
    }
}
