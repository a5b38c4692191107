//! `flightlog serve`: opens the store, starts the writer, serves HTTP, and
//! on SIGINT/SIGTERM stops accepting, finishes in-flight requests, and lets
//! the writer drain its queue before exiting.
//!
//! Connections are served by hyper directly (not `axum::serve`) because
//! that is where the header read timeout lives: a client that opens a
//! connection and never finishes its request headers is dropped.

use axum::Router;
use axum::extract::ConnectInfo;
use axum::middleware::from_fn_with_state;
use flightlog_api::auth_failures::{self, AuthFailures, FailureLimits};
use flightlog_api::body_timeout::{self, BodyTimeout};
use flightlog_api::router;
use flightlog_app::AppState;
use flightlog_app::keys::KeyRing;
use flightlog_ingest::{Ingestor, LeaseOptions, Role, WriterLease};
use crate::replica::Replica;
use crate::signing_key;
use flightlog_model::Limits;
use flightlog_integrity::checkpoint::Checkpointer;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Folder for all data (created when missing).
    #[arg(long, env = "FLIGHTLOG_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "FLIGHTLOG_LISTEN", default_value = "127.0.0.1:4318")]
    listen: SocketAddr,
    #[command(flatten)]
    store: crate::store::StoreArgs,
    /// Load demo sessions into project `default` when it has none yet.
    #[arg(long)]
    demo: bool,
    /// File holding the Ed25519 key that signs checkpoints (64 hex
    /// characters: the seed), generated there when no such file exists.
    /// Processes sharing a store share it. Default:
    /// DATA_DIR/integrity/signing.key.
    #[arg(long, env = "FLIGHTLOG_SIGNING_KEY_FILE")]
    signing_key: Option<PathBuf>,
    /// Flag sessions whose computed cost exceeds this many USD.
    #[arg(long, env = "FLIGHTLOG_SESSION_BUDGET", value_parser = flightlog_model::budget::Budgets::parse_session)]
    session_budget: Option<f64>,
    /// Flag sessions of an agent over its budget: AGENT=USD (repeatable; an agent given twice keeps the smaller).
    #[arg(long = "agent-budget", value_parser = flightlog_model::budget::Budgets::parse_agent)]
    agent_budgets: Vec<(String, f64)>,
    /// The guard denies an agent's call to a tool past CALLS/SECONDS.
    #[arg(long, env = "FLIGHTLOG_GUARD_RATE_LIMIT", default_value = "20/60", value_parser = flightlog_model::guard::parse_rate)]
    guard_rate_limit: (u32, i64),
    /// How many days back the guard remembers side effects as done.
    #[arg(long, env = "FLIGHTLOG_GUARD_WINDOW_DAYS", default_value_t = 30)]
    guard_window_days: u32,
    /// The guard denies a session with this many steps (over budget).
    #[arg(long, env = "FLIGHTLOG_GUARD_SESSION_STEPS", default_value_t = flightlog_model::anomaly::RUNAWAY_STEPS)]
    guard_session_steps: u64,
    /// The guard denies a session that used this many tokens (over budget).
    #[arg(long, env = "FLIGHTLOG_GUARD_SESSION_TOKENS")]
    guard_session_tokens: Option<u64>,
    /// The detectors (repeated side effects, loops, bursts, runaways,
    /// cascading failures) run on every accepted step; off: no incidents
    /// are found (thresholds per project: PUT /v1/policies/detection).
    #[arg(long, env = "FLIGHTLOG_DETECTORS", default_value = "on", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    detectors: bool,
    /// Lets alert rules send to loopback, link-local and private addresses
    /// (receivers inside this machine or network). Off by default: a
    /// project's admin could otherwise make the server post to them.
    #[arg(long, env = "FLIGHTLOG_ALERT_PRIVATE_RECEIVERS")]
    alert_private_receivers: bool,
    /// The address people reach this instance's pages at (behind a proxy,
    /// e.g. https://flightlog.example.com): alerts then link to the
    /// decision page in full, not by its path alone.
    #[arg(long, env = "FLIGHTLOG_PUBLIC_URL")]
    public_url: Option<String>,
    /// Personal data and secrets (emails, phones, cards, IBANs, IPs, keys
    /// and tokens) in every step are replaced before it is stored or
    /// embedded: `pseudonym` ([EMAIL:7f3a2c], the same value the same token
    /// within a project), `mask` ([EMAIL]) or `off`.
    #[arg(long, env = "FLIGHTLOG_REDACTION", default_value = "pseudonym", value_parser = str::parse::<flightlog_app::redaction::RedactionMode>)]
    redaction: flightlog_app::redaction::RedactionMode,
    /// Seconds between runs of the retention job, which expires content
    /// and steps under each project's retention policy.
    #[arg(long, env = "FLIGHTLOG_EXPIRY_INTERVAL", default_value_t = 300)]
    expiry_interval: u64,
    /// Sessions one run of the retention job expires per project and kind,
    /// at most (it keeps each run short; the rest waits for the next).
    #[arg(long, env = "FLIGHTLOG_EXPIRY_BATCH", default_value_t = flightlog_app::retention::EXPIRY_BATCH)]
    expiry_batch: u32,
    /// Seconds between signed checkpoints of the log (also signed on shutdown).
    #[arg(long, env = "FLIGHTLOG_CHECKPOINT_INTERVAL", default_value_t = 60)]
    checkpoint_interval: u64,
    #[command(flatten)]
    search: crate::search::SearchArgs,
    #[command(flatten)]
    limits: ClientLimits,
    #[command(flatten)]
    replicas: ReplicaArgs,
    /// Address of the OTLP/gRPC listener (the OpenTelemetry default port).
    #[arg(long, env = "FLIGHTLOG_OTLP_GRPC_LISTEN", default_value = "127.0.0.1:4317")]
    otlp_grpc_listen: SocketAddr,
    /// Serve no OTLP/gRPC listener (OTLP/HTTP on the main address stays).
    #[arg(long, env = "FLIGHTLOG_NO_OTLP_GRPC")]
    no_otlp_grpc: bool,
}

/// Several processes on one ClickHouse server (docs/scale-out.md).
#[derive(clap::Args)]
struct ReplicaArgs {
    /// The URL at which the other Flightlog processes sharing this
    /// ClickHouse reach this one: they forward ingestion to whichever
    /// holds the writer lease. Default: http:// and the listening address.
    #[arg(long, env = "FLIGHTLOG_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// Seconds a writer that stopped renewing keeps the writer lease before
    /// another process takes it over (server mode), at least 2 (a renewal
    /// is an fsynced insert, which can take most of a second on a busy
    /// machine).
    #[arg(long, env = "FLIGHTLOG_WRITER_LEASE_TTL", default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..))]
    writer_lease_ttl: u64,
}

/// What one client may cost the server: failed sign-ins and slow sends.
#[derive(clap::Args)]
struct ClientLimits {
    /// Failed authentications (401) from one address per window, after
    /// which its failing requests get 429 (0: no limit).
    #[arg(long, env = "FLIGHTLOG_AUTH_FAILURES_PER_ADDRESS", default_value_t = 20)]
    auth_failures_per_address: u32,
    /// Failed authentications against one key prefix (`fl_<id>`) per
    /// window, after which that prefix gets 429 (0: no limit).
    #[arg(long, env = "FLIGHTLOG_AUTH_FAILURES_PER_KEY", default_value_t = 10)]
    auth_failures_per_key: u32,
    /// Proxies in front of this server, as addresses or CIDR ranges that
    /// hold proxies only (comma-separated: `10.0.0.1,10.8.0.0/28`): a request from one is
    /// counted, for the failed-authentication limit, by the client its
    /// `X-Forwarded-For` names. Unset: that header is ignored, as any
    /// client can send it.
    #[arg(long = "trusted-proxy", env = "FLIGHTLOG_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<flightlog_app::auth_failures::ProxyRange>,
    /// Seconds over which failed authentications are counted.
    #[arg(long, env = "FLIGHTLOG_AUTH_FAILURE_WINDOW", default_value_t = 60)]
    auth_failure_window: u64,
    /// Seconds a client has to send its request headers; also how long an
    /// idle keep-alive connection waits for its next request (0: no limit).
    #[arg(long, env = "FLIGHTLOG_HEADER_TIMEOUT", default_value_t = 30)]
    header_timeout: u64,
    /// Seconds a request body may go without a byte before the request is
    /// answered 408 and the connection closed (0: no limit).
    #[arg(long, env = "FLIGHTLOG_BODY_TIMEOUT", default_value_t = 30)]
    body_timeout: u64,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?}: expected on or off")),
    }
}

fn guard_config(args: &ServeArgs) -> flightlog_model::guard::GuardConfig {
    flightlog_model::guard::GuardConfig {
        rate_limit: args.guard_rate_limit.0,
        rate_per_us: args.guard_rate_limit.1,
        window_us: i64::from(args.guard_window_days.max(1)) * 86_400 * 1_000_000,
        max_session_steps: args.guard_session_steps,
        max_session_tokens: args.guard_session_tokens,
        ..Default::default()
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let replica = Replica::claim(&args.data_dir)?;
    let store = args.store.open_store(&args.data_dir).await?;
    tracing::info!(store = %store.backend().describe(), replica = %replica.name, "store ready");
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let grpc_listener = match args.no_otlp_grpc {
        true => None,
        false => Some(tokio::net::TcpListener::bind(args.otlp_grpc_listen).await.map_err(|e| {
            anyhow::anyhow!("OTLP/gRPC cannot listen on {}: {e} (choose another with --otlp-grpc-listen, or turn it off with --no-otlp-grpc)", args.otlp_grpc_listen)
        })?),
    };

    // Before the writer lease: a process refused for its key must not hold
    // it, leaving the others to forward to no one for its time to live.
    let (signer, key_file) = signing_key::load(args.signing_key.as_deref(), &args.data_dir)?;
    signing_key::check_against_store(&store, &key_file, &signer.public_key_hex()).await?;
    let keys = KeyRing::load(store.clone()).await?;
    let bootstrap = std::env::var("FLIGHTLOG_BOOTSTRAP_KEY").ok().filter(|k| !k.is_empty());
    if let Some(generated) = keys.bootstrap(bootstrap.as_deref()).await? {
        // Printed once, on first start only: it is stored hashed.
        println!("Generated an admin key for project `default` (shown once, keep it):\n  {generated}");
    }

    let (lease, lease_keeper) = writer_lease(&args, &replica, addr, &store).await;
    let (ingestor, writer) = Ingestor::start(store.clone(), lease.clone()).await?;
    let mark = args.data_dir.join("integrity/last-checkpoint");
    let checkpointer = Checkpointer::new(store.clone(), ingestor.log_view(), Arc::new(signer), Some(mark));
    let periodic = checkpointer.clone().spawn_periodic(Duration::from_secs(args.checkpoint_interval.max(1)));
    let limits = Arc::new(Limits::default());
    // With several processes, only the lease holder indexes.
    let gate: Option<flightlog_index::Gate> = lease_keeper.is_some().then(|| {
        let lease = lease.clone();
        Arc::new(move || lease.writable().is_some()) as flightlog_index::Gate
    });
    let (search, indexer) = crate::search::start(&args.search, &args.data_dir, store.clone(), gate.clone()).await;
    let keys = Arc::new(keys);
    let key_refresh = lease_keeper.is_some().then(|| refresh_keys(keys.clone()));

    let (incidents_written, to_alert) = tokio::sync::mpsc::unbounded_channel();
    let incidents = flightlog_app::incidents::Incidents::start(store.clone(), Default::default(), args.detectors, incidents_written);
    let state = AppState {
        store: store.clone(),
        ingestor,
        keys,
        limits,
        checkpointer: checkpointer.clone(),
        sealed: Arc::new(flightlog_integrity::sealed::SealCache::new(checkpointer.public_key_hex())),
        budgets: Arc::new(flightlog_model::budget::Budgets::new(args.session_budget, args.agent_budgets.iter().cloned())),
        search,
        links: Arc::new(flightlog_web::links::Links),
        redaction: Arc::new(flightlog_app::redaction::Redaction::new(args.redaction)),
        access: Arc::new(flightlog_app::access_log::AccessLog::start(store.clone())),
        guard: Arc::new(flightlog_app::guard::Guard::start(store.clone(), guard_config(&args), lease.clone(), incidents.clone())),
        incidents,
        alert_receivers: match args.alert_private_receivers {
            true => flightlog_app::alert_receivers::Receivers::Any,
            false => flightlog_app::alert_receivers::Receivers::PublicOnly,
        },
        public_url: args.public_url.clone(),
        holds_and_erasures: Default::default(),
        unverified: Default::default(),
    };
    state.rebuild_memory_if_writer().await?;
    if args.demo {
        if lease.writable().is_some() {
            state.load_demo("default").await?;
        } else {
            println!("--demo: another process writes the log; demo data is loaded by the one that starts first");
        }
    }
    let expiry = state.clone().spawn_expiry(Duration::from_secs(args.expiry_interval.max(1)), args.expiry_batch.max(1));
    // The listeners and the alert deliverer stop on the same signal (sent
    // once the signal handler below is in place).
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut alerts = state.clone().spawn_alerts(to_alert, stopping.clone());
    let behind = args.detectors.then(|| {
        // Near-duplicates and goal drift need the sentence model: a third
        // instance (the indexer's and the queries' are busy with theirs),
        // with one intra-op thread so that onnxruntime computes on the
        // detectors' low-priority thread (flightlog-app `background`).
        let embedder = state.search.unavailable().is_none().then(|| args.search.load_embedder_with(1)).and_then(|loaded| {
            loaded.inspect_err(|e| tracing::warn!(error = %e, "near-duplicate and goal drift detectors off")).ok()
        });
        state.clone().spawn_detectors_behind(embedder, gate)
    });
    tracing::info!(%addr, "flightlog listening");
    println!("Flightlog listening on http://{addr}");
    if !args.limits.trusted_proxies.is_empty() {
        let proxies: Vec<String> = args.limits.trusted_proxies.iter().map(ToString::to_string).collect();
        tracing::info!(proxies = %proxies.join(","), "X-Forwarded-For is read from requests these proxies send");
    }
    let failures = AuthFailures::new(FailureLimits {
        per_address: args.limits.auth_failures_per_address,
        per_prefix: args.limits.auth_failures_per_key,
        window: Duration::from_secs(args.limits.auth_failure_window.max(1)),
        trusted_proxies: args.limits.trusted_proxies.clone(),
        ..FailureLimits::default()
    });
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let grpc = grpc_listener.map(|l| {
        let grpc_addr = l.local_addr().ok();
        println!("OTLP/gRPC listening on {}", grpc_addr.map_or("?".into(), |a| a.to_string()));
        tokio::spawn(flightlog_grpc::serve(l, state.clone(), failures.clone(), stopped(stopping.clone())))
    });
    // One layer over both routers, so the web sign-in form is limited too.
    let mut app = router(state.clone())
        .merge(flightlog_mcp::router(state.clone()))
        .merge(flightlog_web::router(state))
        .layer(from_fn_with_state(failures, auth_failures::guard));
    if args.limits.body_timeout > 0 {
        app = app.layer(from_fn_with_state(BodyTimeout(Duration::from_secs(args.limits.body_timeout)), body_timeout::guard));
    }
    // Outermost, so that every answer carries the security headers, whoever
    // gave it: a page, the API, an unknown path, a refused body, a guard.
    let app = app.layer(axum::middleware::map_response(flightlog_web::headers::secure));
    let header_timeout = (args.limits.header_timeout > 0).then(|| Duration::from_secs(args.limits.header_timeout));
    serve(listener, app, header_timeout, stopped(stopping)).await;
    if let Some(grpc) = grpc
        && let Err(e) = grpc.await?
    {
        tracing::error!(error = %e, "the OTLP/gRPC listener failed");
    }

    // The retention job holds the state too (an Ingestor clone among it);
    // stopped anywhere, the next start finishes what it was doing.
    expiry.abort();
    let _ = expiry.await;
    // The deliverer, told to stop with the listeners, finishes and records
    // the deliveries under way: aborted between a receiver's 2xx and its
    // record, the next start would send one again.
    if tokio::time::timeout(flightlog_app::alerts::ALERTS_STOP_WITHIN, &mut alerts).await.is_err() {
        tracing::warn!("the alert deliverer did not stop in time; what it was sending may be sent again at the next start");
        alerts.abort();
        let _ = alerts.await;
    }
    // Its mark is saved only after what it found was handed over; what
    // was not yet written is found again from the window's start.
    if let Some(behind) = behind {
        behind.abort();
        let _ = behind.await;
    }
    // The router, and with it every Ingestor clone, is gone: the writer
    // commits what is still queued, then stops.
    tracing::info!("draining the ingest queue");
    writer.await?;
    periodic.abort();
    // The indexer's mark is only ever saved after its points are durable,
    // so stopping it anywhere loses nothing.
    if let Some(indexer) = indexer {
        indexer.abort();
    }
    // Seal what the drained writer stored, so a clean stop leaves nothing
    // unsealed. A refusal (a log rewritten below the last checkpoint) is
    // logged and the stop goes on: the writer's lease is still released.
    if let Err(e) = checkpointer.seal().await {
        tracing::error!(error = %e, "could not sign the last checkpoint at shutdown");
    }
    if let Some(keeper) = lease_keeper {
        keeper.abort();
        if let Some(task) = key_refresh {
            task.abort();
        }
        // A standby takes over now rather than after the lease runs out.
        lease.release(&store).await?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The writer lease: the sole writer on an embedded store; on a server,
/// shared with every process pointed at it. Waits (at most the lease's
/// time to live) until this process knows whether it writes or who does,
/// so its first ingest request is not refused for want of knowing.
async fn writer_lease(args: &ServeArgs, replica: &Replica, addr: SocketAddr, store: &flightlog_store::Store) -> (WriterLease, Option<tokio::task::JoinHandle<()>>) {
    if !args.store.is_server() {
        return (WriterLease::sole(), None);
    }
    let ttl = Duration::from_secs(args.replicas.writer_lease_ttl);
    // An address that names every interface (0.0.0.0, ::) reaches, from
    // another process, whatever listens on its own machine: forwarding
    // there would reach the wrong process, or none.
    if args.replicas.advertise_url.is_none() && addr.ip().is_unspecified() {
        tracing::warn!(%addr, "listening on every interface without --advertise-url: other processes on this store cannot reach this one \
            when it writes (they would forward ingestion to http://{addr}); give --advertise-url http://HOST:PORT");
    }
    let address = args.replicas.advertise_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let (lease, keeper) = WriterLease::shared(store.clone(), LeaseOptions::new(&replica.name, &replica.run, address, ttl));
    let deadline = tokio::time::Instant::now() + ttl;
    while tokio::time::Instant::now() < deadline && matches!(lease.role(), Role::Standby { writer: None }) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(role = ?lease.role(), "writer lease");
    (lease, Some(keeper))
}

/// Keys created or revoked through another process reach this one's
/// key ring within this long.
const KEY_REFRESH: Duration = Duration::from_secs(5);

fn refresh_keys(keys: Arc<KeyRing>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(KEY_REFRESH).await;
            if let Err(e) = keys.refresh().await {
                tracing::warn!(error = %e, "could not refresh the API keys; will retry");
            }
        }
    })
}

/// Serves `app` until `shutdown` resolves; then stops accepting, lets each
/// connection finish the request it is in, and returns when all are closed.
async fn serve(listener: tokio::net::TcpListener, app: Router, header_timeout: Option<Duration>, shutdown: impl Future<Output = ()>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            tower_service::Service::call(&mut app.clone(), request)
        });
        let connection = graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Timeouts and clients that hang up land here: not server errors.
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    // Each connection finishes the request it is in, then closes.
    graceful.shutdown().await;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
