//! Alerts: each project's rules send its incidents to webhooks.
//!
//! A delivery is a POST of the incident as JSON (or as a Slack message),
//! signed with HMAC-SHA256 over `"{timestamp}.{body}"` with the rule's
//! secret (`X-Flightlog-Signature: sha256=<hex>`, `X-Flightlog-Timestamp`),
//! and retried with backoff until the receiver answers 2xx.
//!
//! One incident is one alert: it is sent when it opens, then again only
//! when it has grown and at most every `update_every_seconds`, with the
//! same id (`X-Flightlog-Delivery: <incident>:<count>`, so a receiver can
//! drop a repeat). 500 identical emails make one alert and a few updates.
//!
//! Nothing is lost across a restart: the `incidents` table is the outbox.
//! A delivery is recorded (`alert_deliveries`) only once the receiver took
//! it; at start-up the deliverer reads both and sends what is due. A crash
//! between a receiver's 2xx and the record repeats that one delivery.
//!
//! The deliverer runs where the log is written (the writer lease's
//! holder), like the detectors that find the incidents.

use flightlog_model::time::MICROS_PER_SECOND;
use crate::incidents::IncidentView;
use crate::alert_receivers::{self, Receivers};
use crate::{AppError, AppState};
use backon::BackoffBuilder;
use flightlog_model::detect::IncidentKind;
use flightlog_model::time::now_us;
use flightlog_store::{DeliveryRow, IncidentRow, PolicyKind};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::mpsc;

/// Rules per project at most.
pub const MAX_RULES: usize = 20;
const MAX_URL_BYTES: usize = 2_048;
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 16..=256;
/// How far back the outbox looks at start-up.
const OUTBOX_DAYS: i64 = 7;
/// Rules and detector thresholds are re-read this often (and at once when
/// this process changes a project's rules).
const REFRESH: Duration = Duration::from_secs(10);
/// The outbox is re-read this often (what the writer hands over directly
/// is sent at once; this catches the rest).
const RESCAN: Duration = Duration::from_secs(30);
/// A receiver gets this long to answer.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an orderly stop waits for the deliverer to finish the
/// deliveries under way: one send's timeout (they run at once), and their
/// records.
pub const ALERTS_STOP_WITHIN: Duration = SEND_TIMEOUT.saturating_add(Duration::from_secs(5));
/// Deliveries in flight at once at most.
const PARALLEL: usize = 16;
/// Deliveries of one project under way at once, at most.
const PARALLEL_PER_PROJECT: usize = 4;
/// A failed delivery is retried 1 s later, then doubling up to 5 minutes,
/// for as long as it takes.
const RETRY: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_min_delay(Duration::from_secs(1))
    .with_max_delay(Duration::from_secs(300))
    .without_max_times();

/// What a webhook receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertFormat {
    /// `{"event", "delivery_id", "incident": {…}}`.
    #[default]
    Json,
    /// A Slack incoming-webhook message: `{"text": …}`.
    Slack,
}

/// One rule, as set (`PUT /v1/alerts/rules`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// 1 to 64 of a-z, 0-9, `-` and `_`; unique in the project.
    pub name: String,
    /// http(s) address the incidents are POSTed to.
    pub url: String,
    /// The HMAC-SHA256 key (16 to 256 bytes). Never answered back; omit it
    /// to keep the secret of the rule of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The kinds sent; empty or omitted: every kind.
    #[serde(default)]
    pub kinds: Vec<IncidentKind>,
    #[serde(default)]
    pub format: AlertFormat,
    /// A growing incident is sent again at most this often (default 60).
    #[serde(default = "default_update_every")]
    pub update_every_seconds: u32,
}

fn default_update_every() -> u32 {
    60
}

/// A project's rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRules {
    pub rules: Vec<AlertRule>,
}

/// The rules as stored: with when each rule (by name) was first set. A
/// rule sends incidents that changed since then, and editing it (a fixed
/// address) keeps that time, so what was waiting for it is still sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct StoredRules {
    rules: Vec<AlertRule>,
    #[serde(default)]
    since: std::collections::BTreeMap<String, i64>,
}

impl StoredRules {
    /// The rules that send this incident: they take its kind, and it
    /// changed since they were first set.
    fn sending(&self, row: &IncidentRow) -> impl Iterator<Item = &AlertRule> {
        let kind = IncidentKind::parse(&row.kind);
        let updated = row.updated_us;
        self.rules.iter().filter(move |r| {
            kind.is_some_and(|k| r.kinds.is_empty() || r.kinds.contains(&k))
                && updated >= self.since.get(&r.name).copied().unwrap_or(0)
        })
    }
}

/// What stands for a password in an address as answered.
const HIDDEN_PASSWORD: &str = "hidden";

/// A rule's address as answered: its credentials (`https://user:pw@…`, or
/// a token as the user alone) are a secret like the rule's own, and are not
/// answered back: the user name stays only beside a password.
fn shown_url(url: &str) -> String {
    let Ok(mut shown) = reqwest::Url::parse(url) else { return url.to_string() };
    let hidden = match shown.password() {
        Some(_) => shown.set_password(Some(HIDDEN_PASSWORD)),
        None if !shown.username().is_empty() => shown.set_username(HIDDEN_PASSWORD),
        None => return url.to_string(),
    };
    match hidden {
        Ok(()) => shown.to_string(),
        Err(()) => url.to_string(),
    }
}

/// A rule as answered: its secret is only said to be there.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertRuleView {
    pub name: String,
    pub url: String,
    pub has_secret: bool,
    pub kinds: Vec<IncidentKind>,
    pub format: AlertFormat,
    pub update_every_seconds: u32,
}

/// A project's rules as answered.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertRulesView {
    pub rules: Vec<AlertRuleView>,
}

impl AlertRules {
    fn view(&self) -> AlertRulesView {
        AlertRulesView {
            rules: self
                .rules
                .iter()
                .map(|r| AlertRuleView {
                    name: r.name.clone(),
                    url: shown_url(&r.url),
                    has_secret: r.secret.is_some(),
                    kinds: r.kinds.clone(),
                    format: r.format,
                    update_every_seconds: r.update_every_seconds,
                })
                .collect(),
        }
    }

    /// Checks the rules, naming the field at fault; a rule without a
    /// secret takes the secret of `old`'s rule of the same name.
    fn checked(mut self, old: &AlertRules, receivers: Receivers) -> Result<Self, AppError> {
        if self.rules.len() > MAX_RULES {
            return Err(AppError::invalid("rules", format!("{} rules; at most {MAX_RULES}", self.rules.len())));
        }
        let mut names = std::collections::HashSet::new();
        for (i, r) in self.rules.iter_mut().enumerate() {
            let field = |f: &str| format!("rules[{i}].{f}");
            if r.name.is_empty() || r.name.len() > 64 || !r.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
                return Err(AppError::invalid(&field("name"), "must be 1 to 64 of a-z, 0-9, - and _"));
            }
            if !names.insert(r.name.clone()) {
                return Err(AppError::invalid(&field("name"), format!("{:?} is used by an earlier rule", r.name)));
            }
            // The address as answered, sent back unchanged: the stored one,
            // with its password.
            if let Some(o) = old.rules.iter().find(|o| o.name == r.name && o.url != r.url && shown_url(&o.url) == r.url) {
                r.url = o.url.clone();
            }
            let url = reqwest::Url::parse(&r.url).map_err(|e| AppError::invalid(&field("url"), format!("is not an address: {e}")))?;
            // The hidden password of an answer, sent back for no stored rule
            // of that name and address: it would be stored as the password.
            if url.password() == Some(HIDDEN_PASSWORD) {
                return Err(AppError::invalid(&field("url"), "holds the hidden password of an answer: give the real one (or send the rule back under its name and address)"));
            }
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || r.url.len() > MAX_URL_BYTES {
                return Err(AppError::invalid(&field("url"), format!("must be an http or https address of at most {MAX_URL_BYTES} bytes")));
            }
            // A rule kept as it was (set before receivers were checked) does
            // not block changes to the others: its deliveries are refused,
            // with the reason, until it changes.
            let unchanged = old.rules.iter().any(|o| o.name == r.name && o.url == r.url);
            if let Some(why) = alert_receivers::refusal(&url, receivers).filter(|_| !unchanged) {
                return Err(AppError::invalid(&field("url"), why));
            }
            if r.secret.is_none() {
                r.secret = old.rules.iter().find(|o| o.name == r.name).and_then(|o| o.secret.clone());
            }
            match &r.secret {
                None => return Err(AppError::invalid(&field("secret"), "is required for a new rule (16 to 256 bytes)")),
                Some(s) if !SECRET_BYTES.contains(&s.len()) => {
                    return Err(AppError::invalid(&field("secret"), format!("is {} bytes; it must be 16 to 256", s.len())));
                }
                Some(_) => {}
            }
            if r.update_every_seconds == 0 || r.update_every_seconds > 86_400 {
                return Err(AppError::invalid(&field("update_every_seconds"), "must be between 1 and 86400"));
            }
        }
        Ok(self)
    }
}

/// The signature header's value for `body` sent at `timestamp` (Unix
/// seconds): `sha256=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body a rule sends for an incident.
fn payload(rule: &AlertRule, incident: &IncidentView, first: bool, link: &str) -> Vec<u8> {
    let event = if first { "incident.opened" } else { "incident.updated" };
    let value = match rule.format {
        AlertFormat::Json => serde_json::json!({
            "event": event,
            "delivery_id": format!("{}:{}", incident.id, incident.count),
            "incident": incident,
            "link": link,
        }),
        AlertFormat::Slack => serde_json::json!({
            "text": format!(
                "{} *{}* ({}×): {}\n<{}|{}>",
                if first { ":rotating_light:" } else { ":arrow_up:" },
                incident.title,
                incident.count,
                slack_escape(&incident.message),
                link,
                incident.id
            ),
        }),
    };
    serde_json::to_vec(&value).expect("JSON serialises")
}

/// Slack's control characters in agent-chosen text (a tool named
/// `<!channel>` must not page everyone).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

type RuleKey = (String, String, String);

/// The deliverer's memory: rules, what was delivered, what is pending.
#[derive(Default)]
struct Outbox {
    /// project → its rules.
    rules: HashMap<String, StoredRules>,
    /// (project, rule, incident) → (count delivered, when).
    delivered: HashMap<RuleKey, (u64, i64)>,
    /// (project, incident) → its newest state.
    incidents: HashMap<(String, String), IncidentRow>,
    /// (project, rule, incident) → (backoff, next attempt).
    retrying: HashMap<RuleKey, (backon::ExponentialBackoff, i64)>,
    /// The outbox has been read up to here.
    scanned_us: i64,
}

/// One delivery to make.
struct Due {
    key: RuleKey,
    rule: AlertRule,
    row: IncidentRow,
    first: bool,
}

impl Outbox {
    /// The deliveries due now, at most `max`, but those `sending` now, and
    /// at most [`PARALLEL_PER_PROJECT`] of a project under way: one
    /// project's hanging receivers cannot take every slot.
    fn due(&self, now: i64, max: usize, sending: &HashSet<RuleKey>) -> Vec<Due> {
        let mut out = Vec::new();
        if max == 0 {
            return out;
        }
        let mut under_way: HashMap<&str, usize> = HashMap::new();
        for (project, _, _) in sending {
            *under_way.entry(project.as_str()).or_default() += 1;
        }
        for ((project, id), row) in &self.incidents {
            let Some(stored) = self.rules.get(project) else { continue };
            for rule in stored.sending(row) {
                if under_way.get(project.as_str()).is_some_and(|n| *n >= PARALLEL_PER_PROJECT) {
                    break;
                }
                let key = (project.clone(), rule.name.clone(), id.clone());
                if sending.contains(&key) {
                    continue;
                }
                let last = self.delivered.get(&key);
                if last.is_some_and(|(count, _)| *count >= row.count) {
                    continue;
                }
                if let Some((_, at)) = last
                    && now < at + i64::from(rule.update_every_seconds) * MICROS_PER_SECOND
                {
                    continue;
                }
                if self.retrying.get(&key).is_some_and(|(_, next)| now < *next) {
                    continue;
                }
                *under_way.entry(project.as_str()).or_default() += 1;
                out.push(Due { key, rule: rule.clone(), row: row.clone(), first: last.is_none() });
                if out.len() >= max {
                    return out;
                }
            }
        }
        out
    }

    /// Forgets incidents every matching rule has delivered in full.
    fn prune(&mut self) {
        let (rules, delivered) = (&self.rules, &self.delivered);
        self.incidents.retain(|(project, id), row| {
            let Some(stored) = rules.get(project) else { return false };
            stored
                .sending(row)
                .any(|r| delivered.get(&(project.clone(), r.name.clone(), id.clone())).is_none_or(|(count, _)| *count < row.count))
        });
    }
}

impl AppState {
    /// A project's alert rules (secrets not shown).
    pub async fn alert_rules(&self, project: &str) -> Result<AlertRulesView, AppError> {
        Ok(AlertRules { rules: self.stored_alert_rules(project).await?.rules }.view())
    }

    async fn stored_alert_rules(&self, project: &str) -> Result<StoredRules, AppError> {
        match self.policy_in_force(project, PolicyKind::Alerts).await? {
            Some(r) => serde_json::from_str(&r.body).map_err(|e| AppError::unavailable("the stored alert rules cannot be read", e)),
            None => Ok(StoredRules::default()),
        }
    }

    /// Puts a project's alert rules in force (incidents that change from
    /// now on are sent by them).
    pub async fn set_alert_rules(&self, project: &str, rules: AlertRules, by: &str) -> Result<AlertRulesView, AppError> {
        let old = self.stored_alert_rules(project).await?;
        let rules = rules.checked(&AlertRules { rules: old.rules.clone() }, self.alert_receivers)?;
        let now = now_us();
        let since = rules.rules.iter().map(|r| (r.name.clone(), old.since.get(&r.name).copied().unwrap_or(now))).collect();
        let stored = StoredRules { rules: rules.rules.clone(), since };
        let body = serde_json::to_string(&stored).expect("rules serialise");
        self.put_policy(project, PolicyKind::Alerts, body, by).await?;
        self.incidents.alert_rules_changed();
        tracing::info!(project, by, rules = rules.rules.len(), "alert rules set");
        Ok(rules.view())
    }

    /// Runs the deliverer until `stop` turns true (or the process ends):
    /// takes incidents as the writer makes them durable (`written`), and
    /// the outbox at start-up and every [`RESCAN`]. Deliveries run side by
    /// side, [`PARALLEL`] at most, each settled as it ends: a receiver
    /// that hangs until the timeout holds up no other (a round used to wait
    /// for its slowest). Those under way when `stop` turns are finished and
    /// recorded first, so an orderly stop never sends one again (see
    /// [`ALERTS_STOP_WITHIN`]).
    pub fn spawn_alerts(self, mut written: mpsc::UnboundedReceiver<IncidentRow>, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let client = alert_receivers::client(self.alert_receivers, SEND_TIMEOUT);
            let mut outbox = Outbox::default();
            let mut loaded = false;
            let mut tenure = None;
            let mut refreshed = tokio::time::Instant::now() - REFRESH;
            let mut rule_changes = self.incidents.alert_rule_changes();
            // The count of rule changes the last good re-read covers.
            let mut rules_read = 0;
            let mut rescanned = tokio::time::Instant::now() - RESCAN;
            let mut in_flight = futures_util::stream::FuturesUnordered::new();
            let mut sending: HashSet<RuleKey> = HashSet::new();
            loop {
                if *stop.borrow() {
                    break;
                }
                tokio::select! {
                    Some((due, result)) = in_flight.next(), if !in_flight.is_empty() => {
                        let (due, result): (Due, Result<u16, String>) = (due, result);
                        sending.remove(&due.key);
                        self.settle(&mut outbox, due, result).await;
                    }
                    // Its sender gone, the process is ending: stop too.
                    changed = stop.changed() => if changed.is_err() { break } else { continue },
                    row = written.recv() => match row {
                        Some(row) => {
                            outbox.incidents.insert((row.project.clone(), row.id.clone()), row);
                            while let Ok(row) = written.try_recv() {
                                outbox.incidents.insert((row.project.clone(), row.id.clone()), row);
                            }
                        }
                        None => break,
                    },
                    _ = rule_changes.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                let Some(now_tenure) = self.guard.tenure() else { continue };
                if tenure != Some(now_tenure) {
                    // A new writing tenure: another process may have sent
                    // alerts meanwhile, so what was delivered is read again.
                    tenure = Some(now_tenure);
                    outbox = Outbox::default();
                    loaded = false;
                    refreshed = tokio::time::Instant::now() - REFRESH;
                }
                let changes = *rule_changes.borrow_and_update();
                if changes != rules_read || refreshed.elapsed() >= REFRESH {
                    refreshed = tokio::time::Instant::now();
                    if let Err(e) = self.refresh_alerts(&mut outbox, &mut loaded).await {
                        // Not read: the next round (half a second on) tries again.
                        tracing::warn!(error = %e, "could not read the alert rules or the outbox; trying again shortly");
                        continue;
                    }
                    rules_read = changes;
                }
                if loaded && rescanned.elapsed() >= RESCAN {
                    rescanned = tokio::time::Instant::now();
                    if let Err(e) = self.rescan_outbox(&mut outbox).await {
                        tracing::warn!(error = %e, "could not read the alert outbox; trying again shortly");
                    }
                }
                // Told to stop while reading: no new round is started.
                if !loaded || *stop.borrow() {
                    continue;
                }
                for due in outbox.due(now_us(), PARALLEL.saturating_sub(in_flight.len()), &sending) {
                    sending.insert(due.key.clone());
                    in_flight.push(self.deliver(&client, due));
                }
                outbox.prune();
            }
            // However it stops: the deliveries under way are finished and
            // recorded, so none is sent again at the next start.
            while let Some((due, result)) = in_flight.next().await {
                self.settle(&mut outbox, due, result).await;
            }
        })
    }

    /// Records a delivery that ended: delivered (and kept), or to be tried
    /// again after a backoff.
    async fn settle(&self, outbox: &mut Outbox, due: Due, result: Result<u16, String>) {
        match result {
            Ok(status) => {
                let at = now_us();
                let row = DeliveryRow {
                    project: due.key.0.clone(),
                    rule: due.key.1.clone(),
                    incident_id: due.key.2.clone(),
                    count: due.row.count,
                    delivered_us: at,
                };
                if let Err(e) = self.store.record_delivery(&row, status).await {
                    tracing::warn!(error = %e, incident = %due.key.2, "delivered, but not recorded: a restart may send it again");
                }
                outbox.retrying.remove(&due.key);
                // A delivery begun before a new tenure re-read what was
                // delivered may end after it: the higher count stands.
                let delivered = outbox.delivered.entry(due.key).or_insert((0, 0));
                if due.row.count >= delivered.0 {
                    *delivered = (due.row.count, at);
                }
            }
            Err(why) => {
                let entry = outbox.retrying.entry(due.key.clone()).or_insert_with(|| (RETRY.build(), 0));
                let delay = entry.0.next().unwrap_or(Duration::from_secs(300));
                entry.1 = now_us() + delay.as_micros() as i64;
                tracing::warn!(rule = %due.key.1, incident = %due.key.2, %why, retry_in_s = delay.as_secs_f64(), "an alert was not delivered");
            }
        }
    }

    /// Re-reads every project's rules and detector thresholds; the first
    /// time, also what was delivered and the outbox.
    async fn refresh_alerts(&self, outbox: &mut Outbox, loaded: &mut bool) -> Result<(), AppError> {
        self.rebuild_memory_if_writer().await?;
        self.refresh_detection_policies().await?;
        let mut rules = HashMap::new();
        for row in self.policies_in_force(PolicyKind::Alerts).await? {
            match serde_json::from_str::<StoredRules>(&row.body) {
                Ok(r) => {
                    rules.insert(row.project, r);
                }
                Err(e) => tracing::warn!(project = %row.project, error = %e, "alert rules cannot be read; none apply"),
            }
        }
        outbox.rules = rules;
        if !*loaded {
            // Every delivery ever made (one row per rule and incident, small):
            // an incident the rebuild finds again, however old, is known.
            for d in self.store.deliveries_since(0).await? {
                outbox.delivered.insert((d.project, d.rule, d.incident_id), (d.count, d.delivered_us));
            }
            outbox.scanned_us = now_us() - OUTBOX_DAYS * 86_400 * MICROS_PER_SECOND;
            *loaded = true;
            self.rescan_outbox(outbox).await?;
        }
        Ok(())
    }

    /// Reads incidents changed since the last scan, a page at a time. The
    /// next scan starts a minute before the newest change seen: a state
    /// found earlier may be written a little later.
    async fn rescan_outbox(&self, outbox: &mut Outbox) -> Result<(), AppError> {
        const PAGE: u32 = 10_000;
        let mut from = outbox.scanned_us;
        let mut newest = from;
        loop {
            let rows = self.store.incidents_updated_since(from, PAGE).await?;
            let n = rows.len();
            for row in rows {
                newest = newest.max(row.updated_us);
                let key = (row.project.clone(), row.id.clone());
                if outbox.incidents.get(&key).is_none_or(|known| known.count < row.count) {
                    outbox.incidents.insert(key, row);
                }
            }
            if n < PAGE as usize || newest == from {
                break;
            }
            from = newest;
        }
        outbox.scanned_us = outbox.scanned_us.max(newest - 60 * MICROS_PER_SECOND);
        outbox.prune();
        Ok(())
    }

    /// Sends one alert; Ok(status) when the receiver took it.
    async fn deliver(&self, client: &reqwest::Client, due: Due) -> (Due, Result<u16, String>) {
        // The state as people left it now: a row the detectors just wrote
        // carries none, and one read earlier may be older than an
        // acknowledgment (an acknowledged incident was sent as open).
        let mut row = due.row.clone();
        match self.store.incident_state(&due.key.0, &due.key.2).await {
            Ok(state) => row.state = state,
            Err(e) => return (due, Err(format!("the incident's state cannot be read: {e}"))),
        }
        let Some(view) = IncidentView::of(row) else { return (due, Err("unknown kind".into())) };
        // A rule set before receivers were checked, or by a process that
        // allowed what this one does not.
        let refused = reqwest::Url::parse(&due.rule.url).ok().and_then(|url| alert_receivers::refusal(&url, self.alert_receivers));
        if let Some(why) = refused {
            return (due, Err(format!("the receiver's address {why}")));
        }
        // A receiver (Slack, a pager) is elsewhere: a path alone leads nowhere.
        let link = format!("{}{}", self.public_url.as_deref().unwrap_or("").trim_end_matches('/'), self.links.decision(&view.last.session_id, view.last.step));
        let body = payload(&due.rule, &view, due.first, &link);
        let ts = now_us() / MICROS_PER_SECOND;
        let secret = due.rule.secret.as_deref().unwrap_or_default();
        let sent = client
            .post(&due.rule.url)
            .header("content-type", "application/json")
            .header("x-flightlog-timestamp", ts.to_string())
            .header("x-flightlog-signature", signature(secret, ts, &body))
            .header("x-flightlog-delivery", format!("{}:{}", view.id, view.count))
            .header("x-flightlog-event", if due.first { "incident.opened" } else { "incident.updated" })
            .body(body)
            .send()
            .await;
        let result = match sent {
            Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
            Ok(r) => Err(format!("the receiver answered {}", r.status())),
            // Without the address: a webhook URL can itself be a secret.
            Err(e) => Err(format!("could not reach the receiver: {}", e.without_url())),
        };
        (due, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, secret: Option<&str>) -> AlertRule {
        AlertRule {
            name: name.into(),
            url: "http://127.0.0.1:9/hook".into(),
            secret: secret.map(String::from),
            kinds: Vec::new(),
            format: AlertFormat::Json,
            update_every_seconds: 60,
        }
    }

    #[test]
    fn rules_are_checked_field_by_field_and_keep_their_secret() {
        let field_with = |rules: Vec<AlertRule>, receivers| match (AlertRules { rules }).checked(&AlertRules::default(), receivers) {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        // The rules here send to 127.0.0.1: allowed only by the operator.
        assert_eq!(field_with(vec![rule("a", Some("0123456789abcdef"))], Receivers::PublicOnly), "rules[0].url");
        let field = |rules| field_with(rules, Receivers::Any);
        assert_eq!(field(vec![rule("Bad Name", Some("0123456789abcdef"))]), "rules[0].name");
        assert_eq!(field(vec![rule("a", None)]), "rules[0].secret");
        assert_eq!(field(vec![rule("a", Some("short"))]), "rules[0].secret");
        let mut ftp = rule("a", Some("0123456789abcdef"));
        ftp.url = "ftp://x/".into();
        assert_eq!(field(vec![ftp]), "rules[0].url");
        assert_eq!(field(vec![rule("a", Some("0123456789abcdef")), rule("a", Some("0123456789abcdef"))]), "rules[1].name");
        let old = AlertRules { rules: vec![rule("a", Some("0123456789abcdef"))] };
        let kept = AlertRules { rules: vec![rule("a", None)] }.checked(&old, Receivers::Any).unwrap();
        assert_eq!(kept.rules[0].secret.as_deref(), Some("0123456789abcdef"));
        assert!(!serde_json::to_string(&kept.view()).unwrap().contains("0123456789abcdef"), "a secret is never answered");
    }

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Computed apart (Python: hmac.new(b"Jefe", b"0.what do ya want for nothing?", sha256)).
        let sig = signature("Jefe", 0, b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc");
        assert_eq!(slack_escape("<!channel> & <x|y>"), "&lt;!channel&gt; &amp; &lt;x|y&gt;");
    }

    #[test]
    fn a_growing_incident_is_due_again_only_after_its_interval() {
        let mut o = Outbox::default();
        let mut r = rule("a", Some("0123456789abcdef"));
        r.update_every_seconds = 10;
        o.rules.insert("p".into(), StoredRules { rules: vec![r], since: [("a".to_string(), 1)].into() });
        let row = IncidentRow { project: "p".into(), id: "inc_1".into(), kind: "loop".into(), count: 3, updated_us: 5, ..Default::default() };
        o.incidents.insert(("p".into(), "inc_1".into()), row.clone());
        let t = 1_000 * MICROS_PER_SECOND;
        assert_eq!(o.due(t, 10, &HashSet::new()).len(), 1);
        let mut old = o.incidents[&("p".to_string(), "inc_1".to_string())].clone();
        old.updated_us = 0;
        let mut o2 = Outbox { rules: o.rules.clone(), ..Outbox::default() };
        o2.incidents.insert(("p".into(), "inc_1".into()), old);
        assert!(o2.due(t, 10, &HashSet::new()).is_empty(), "changed before the rule was first set");
        o.delivered.insert(("p".into(), "a".into(), "inc_1".into()), (3, t));
        assert!(o.due(t, 10, &HashSet::new()).is_empty(), "delivered at this count");
        o.incidents.insert(("p".into(), "inc_1".into()), IncidentRow { count: 9, ..row });
        assert!(o.due(t + 5 * MICROS_PER_SECOND, 10, &HashSet::new()).is_empty(), "grown, but within its interval");
        let again = o.due(t + 11 * MICROS_PER_SECOND, 10, &HashSet::new());
        assert_eq!(again.len(), 1);
        assert!(!again[0].first);
        let under_way = HashSet::from([again[0].key.clone()]);
        assert!(o.due(t + 11 * MICROS_PER_SECOND, 10, &under_way).is_empty(), "one being sent is not sent again meanwhile");
        let busy: HashSet<RuleKey> = (0..PARALLEL_PER_PROJECT).map(|i| ("p".to_string(), "a".to_string(), format!("inc_x{i}"))).collect();
        assert!(o.due(t + 11 * MICROS_PER_SECOND, 10, &busy).is_empty(), "a project with its share under way waits");
        let elsewhere: HashSet<RuleKey> = busy.into_iter().map(|(_, r, i)| ("q".to_string(), r, i)).collect();
        assert_eq!(o.due(t + 11 * MICROS_PER_SECOND, 10, &elsewhere).len(), 1, "another project's do not count");
        o.prune();
        assert_eq!(o.incidents.len(), 1, "still to send");
        o.delivered.insert(("p".into(), "a".into(), "inc_1".into()), (9, t));
        o.prune();
        assert!(o.incidents.is_empty());
    }
}
