//! The policies page (`/policies`, admin keys only): what the project
//! redacts before steps are stored, how long it keeps content and steps
//! (warning when under six months), its legal holds, and what retention
//! expired lately.
//!
//! Each part has its own form. One that is accepted redirects back to the
//! page (POST, redirect, GET), so a reload never sends it again; one that
//! is refused comes back with the field at fault named, what was sent kept
//! in the form, and the status of the refusal (400, or 404 for a hold that
//! is not there).

use crate::admin::Admin;
use crate::login::render;
use crate::show::{short_text_time, short_time};
use crate::{WebState, csrf, links};
use askama::Template;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use flightlog_app::redaction::{PolicySource, ProjectRedaction, ReplacementMode};
use flightlog_app::params::MAX_REASON_BYTES;
use flightlog_app::retention::HoldRequest;
use flightlog_app::{AppError, AppState};
use flightlog_model::retention::{HoldSubject, MAX_DAYS, Retention};
use flightlog_redact::policy::{MAX_CUSTOM_PATTERNS, MAX_PATHS, MAX_PATTERN_LEN};
use flightlog_redact::{BuiltinKind, CustomPattern};
use std::collections::BTreeSet;

/// The largest form the page sends: a full redaction policy (32 patterns
/// of 512 bytes, 2 × 64 paths) fits well within it; more is refused
/// before it is read.
const FORM_BYTES: usize = 128 * 1024;
/// Expiry records shown, newest first.
const EXPIRATIONS: u32 = 50;
/// The placements and releases of holds, and the erasures, the page lists
/// (the API has them all).
const HOLD_CHANGES: usize = 20;
/// How much of a refused value an error message repeats.
const ECHO_CHARS: usize = 40;

/// The page and its forms, with their own body limit.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/policies", get(page))
        .route("/policies/redaction", post(set_redaction))
        .route("/policies/retention", post(set_retention))
        .route("/policies/holds", post(place_hold))
        .route("/policies/holds/release", post(release_hold))
        .layer(DefaultBodyLimit::max(FORM_BYTES))
}

/// What the page confirms after a form was accepted (`?saved=`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Redaction,
    Retention,
    HoldPlaced,
    HoldReleased,
}

impl Saved {
    const ALL: [Saved; 4] = [Saved::Redaction, Saved::Retention, Saved::HoldPlaced, Saved::HoldReleased];

    fn name(self) -> &'static str {
        match self {
            Saved::Redaction => "redaction",
            Saved::Retention => "retention",
            Saved::HoldPlaced => "hold-placed",
            Saved::HoldReleased => "hold-released",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Saved::Redaction => "Redaction policy saved: it applies to steps that arrive from now on.",
            Saved::Retention => "Retention policy saved: the expiry job applies it from its next run.",
            Saved::HoldPlaced => "Legal hold placed: what it holds will not expire while it stands.",
            Saved::HoldReleased => "Legal hold released: retention applies again.",
        }
    }
}

pub struct KindBox {
    name: &'static str,
    checked: bool,
}

/// The redaction form's fields, as shown (the policy in force, or what was
/// sent when it was refused).
pub struct RedactionForm {
    kinds: Vec<KindBox>,
    pseudonym: bool,
    /// `name=regex` a line.
    custom: String,
    drop_paths: String,
    keep_paths: String,
    error: Option<String>,
}

impl RedactionForm {
    fn of(p: &ProjectRedaction) -> Self {
        RedactionForm {
            kinds: BuiltinKind::ALL.into_iter().map(|k| KindBox { name: k.name(), checked: p.kinds.contains(&k) }).collect(),
            pseudonym: p.replacement == ReplacementMode::Pseudonym,
            custom: p.custom.iter().map(|c| format!("{}={}", c.name, c.regex)).collect::<Vec<_>>().join("\n"),
            drop_paths: p.drop_paths.join("\n"),
            keep_paths: p.keep_paths.join("\n"),
            error: None,
        }
    }
}

#[derive(Default, serde::Deserialize)]
pub struct RetentionForm {
    #[serde(default)]
    content_days: String,
    #[serde(default)]
    steps_days: String,
    #[serde(default)]
    csrf: String,
    #[serde(skip)]
    error: Option<String>,
}

#[derive(Default, serde::Deserialize)]
pub struct HoldForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    csrf: String,
    #[serde(skip)]
    error: Option<String>,
}

pub struct HoldRow {
    subject: &'static str,
    id: String,
    /// The held session's page, or the held user's sessions.
    url: String,
    reason: String,
    since: String,
    by: String,
    signed: bool,
}

/// A placement or release of a hold, as the page lists it.
pub struct HoldChangeRow {
    subject: &'static str,
    id: String,
    action: &'static str,
    reason: String,
    when: String,
    by: String,
    signed: bool,
}

pub struct Expired {
    session_id: String,
    url: String,
    /// `content` (blanked) or `steps` (removed).
    kind: String,
    steps: usize,
    when: String,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct Policies {
    csrf: String,
    project: String,
    saved: Option<Saved>,
    /// Whose redaction policy is in force, and when and by whom it was set.
    own_redaction: bool,
    redaction_set: Option<(String, String)>,
    redaction: RedactionForm,
    retention_set: Option<(String, String)>,
    warnings: Vec<String>,
    retention: RetentionForm,
    holds: Vec<HoldRow>,
    /// The newest placements and releases.
    hold_changes: Vec<HoldChangeRow>,
    /// The newest erasures: who asked for what, when and why.
    erasures: Vec<flightlog_app::integrity::ErasureRecord>,
    hold: HoldForm,
    expirations: Vec<Expired>,
}

impl Policies {
    /// The limits the forms state, taken from the code that enforces them.
    fn max_days(&self) -> u32 {
        MAX_DAYS
    }

    fn max_hold_id(&self) -> usize {
        flightlog_model::Limits::default().max_id_bytes
    }

    fn max_hold_reason(&self) -> usize {
        MAX_REASON_BYTES
    }

    fn limits(&self) -> String {
        format!("at most {MAX_CUSTOM_PATTERNS} patterns of {MAX_PATTERN_LEN} bytes, {MAX_PATHS} paths of each kind")
    }
}

#[derive(Default, serde::Deserialize)]
pub struct Shown {
    #[serde(default)]
    saved: String,
}

pub async fn page(State(state): State<AppState>, admin: Admin, Query(shown): Query<Shown>) -> Response {
    match load(&state, admin).await {
        Ok(page) => render(Policies { saved: Saved::ALL.into_iter().find(|s| s.name() == shown.saved), ..page }),
        Err(e) => crate::trouble(e),
    }
}

/// Everything the page shows, as in force.
async fn load(state: &AppState, admin: Admin) -> Result<Policies, AppError> {
    let project = &admin.principal.project;
    let (redaction, retention, holds, changes, erasures, expired) = tokio::join!(
        state.redaction_policy(project),
        state.retention_policy(project),
        state.legal_holds(project),
        state.legal_hold_history(project, HOLD_CHANGES),
        state.erasure_records(project, HOLD_CHANGES as u32),
        state.expirations(project, EXPIRATIONS)
    );
    let (redaction, retention, holds, changes, erasures, expired) = (redaction?, retention?, holds?, changes?, erasures?, expired?);
    let set = |at: Option<String>, by: Option<String>| Some((short_text_time(&at?), by.unwrap_or_default()));
    Ok(Policies {
        csrf: admin.csrf,
        project: admin.principal.project.clone(),
        saved: None,
        own_redaction: redaction.source == PolicySource::Project,
        redaction_set: set(redaction.set_at, redaction.set_by),
        redaction: RedactionForm::of(&redaction.policy),
        retention_set: set(retention.set_at, retention.set_by),
        warnings: retention.warnings,
        retention: RetentionForm {
            content_days: retention.policy.content_days.map(|d| d.to_string()).unwrap_or_default(),
            steps_days: retention.policy.steps_days.map(|d| d.to_string()).unwrap_or_default(),
            ..Default::default()
        },
        holds: holds
            .into_iter()
            .map(|h| HoldRow {
                subject: h.subject.as_str(),
                url: match h.subject {
                    HoldSubject::Session => links::session(&h.id),
                    HoldSubject::User => format!("/sessions?user={}", links::encode(&h.id)),
                },
                id: h.id,
                reason: h.reason,
                since: short_text_time(&h.since),
                by: h.by,
                signed: h.signed,
            })
            .collect(),
        hold_changes: changes
            .into_iter()
            .map(|c| HoldChangeRow {
                subject: c.subject.as_str(),
                id: c.id,
                action: c.action.as_str(),
                reason: c.reason,
                when: short_text_time(&c.at),
                by: c.by,
                signed: c.signed,
            })
            .collect(),
        erasures: erasures.into_iter().map(|e| flightlog_app::integrity::ErasureRecord { at: short_text_time(&e.at), ..e }).collect(),
        hold: HoldForm { subject: HoldSubject::Session.as_str().into(), ..Default::default() },
        expirations: expired
            .into_iter()
            .map(|e| Expired {
                url: links::session(&e.session_id),
                session_id: e.session_id,
                kind: e.kind,
                steps: e.log_indexes.len(),
                when: short_time(e.expired_us),
            })
            .collect(),
    })
}

/// A form not sent from this session's own page is refused before anything is done.
fn forged(admin: &Admin, given: &str) -> Option<Response> {
    (!csrf::same(&admin.csrf, given))
        .then(|| csrf::forbidden("This form did not come from your session's policies page. Reload the page and send it again."))
}

/// Accepted: back to the page, saying so. Refused for the caller's input:
/// the page again, `show` putting the reason (and what was sent) in the
/// form at fault. Else 503.
async fn answer(state: &AppState, admin: Admin, done: Result<(), AppError>, saved: Saved, show: impl FnOnce(&mut Policies, String)) -> Response {
    let e = match done {
        Ok(()) => return Redirect::to(&format!("/policies?saved={}", saved.name())).into_response(),
        Err(e) => e,
    };
    let Some(status) = crate::refusal(&e) else { return crate::trouble(e) };
    let mut page = match load(state, admin).await {
        Ok(page) => page,
        Err(e) => return crate::trouble(e),
    };
    show(&mut page, e.public_message());
    (status, render(page)).into_response()
}

pub async fn set_retention(State(state): State<AppState>, admin: Admin, Form(f): Form<RetentionForm>) -> Response {
    if let Some(refused) = forged(&admin, &f.csrf) {
        return refused;
    }
    let asked = days("content_days", &f.content_days).and_then(|content_days| {
        Ok(Retention { content_days, steps_days: days("steps_days", &f.steps_days)? })
    });
    let done = match asked {
        Ok(policy) => state.set_retention_policy(&admin.principal.project, policy, &admin.principal.key_id).await.map(|_| ()),
        Err(e) => Err(e),
    };
    answer(&state, admin, done, Saved::Retention, |page, error| page.retention = RetentionForm { error: Some(error), ..f }).await
}

/// A number of days, or None (kept forever) when left empty.
fn days(field: &str, text: &str) -> Result<Option<u32>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        AppError::invalid(field, format!("must be a whole number of days from 1 to {MAX_DAYS}, or empty to keep forever; got {:?}", echo(text)))
    })
}

pub async fn set_redaction(State(state): State<AppState>, admin: Admin, Form(fields): Form<Vec<(String, String)>>) -> Response {
    let value = |name: &str| fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    if let Some(refused) = forged(&admin, value("csrf")) {
        return refused;
    }
    let checked: Vec<&str> = fields.iter().filter(|(k, _)| k == "kinds").map(|(_, v)| v.as_str()).collect();
    let done = match redaction_asked(&checked, value("replacement"), value("custom"), value("drop_paths"), value("keep_paths")) {
        Ok(policy) => state.set_redaction_policy(&admin.principal.project, policy, &admin.principal.key_id).await.map(|_| ()),
        Err(e) => Err(e),
    };
    let sent = RedactionForm {
        kinds: BuiltinKind::ALL.into_iter().map(|k| KindBox { name: k.name(), checked: checked.contains(&k.name()) }).collect(),
        pseudonym: value("replacement") != "mask",
        custom: value("custom").to_string(),
        drop_paths: value("drop_paths").to_string(),
        keep_paths: value("keep_paths").to_string(),
        error: None,
    };
    answer(&state, admin, done, Saved::Redaction, |page, error| page.redaction = RedactionForm { error: Some(error), ..sent }).await
}

/// The policy the redaction form asks for. The core checks the rest (the
/// patterns compile, the paths are paths, the counts) and names the field.
fn redaction_asked(kinds: &[&str], replacement: &str, custom: &str, drop_paths: &str, keep_paths: &str) -> Result<ProjectRedaction, AppError> {
    let kinds = kinds
        .iter()
        .map(|name| {
            BuiltinKind::ALL.into_iter().find(|k| k.name() == *name).ok_or_else(|| AppError::invalid("kinds", format!("unknown kind {:?}", echo(name))))
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    let replacement = match replacement {
        "pseudonym" => ReplacementMode::Pseudonym,
        "mask" => ReplacementMode::Mask,
        other => return Err(AppError::invalid("replacement", format!("must be pseudonym or mask, got {:?}", echo(other)))),
    };
    let custom = lines(custom)
        .map(|(n, line)| match line.split_once('=') {
            Some((name, regex)) => Ok(CustomPattern { name: name.trim().to_string(), regex: regex.trim().to_string() }),
            None => Err(AppError::invalid("custom", format!("line {n} has no `=`: write one pattern a line, as name=regex"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let paths = |text: &str| lines(text).map(|(_, l)| l.to_string()).collect();
    Ok(ProjectRedaction { kinds, custom, drop_paths: paths(drop_paths), keep_paths: paths(keep_paths), replacement })
}

/// The non-blank lines of a textarea, trimmed, numbered from 1.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty()).map(|(i, l)| (i + 1, l))
}

pub async fn place_hold(State(state): State<AppState>, admin: Admin, Form(f): Form<HoldForm>) -> Response {
    if let Some(refused) = forged(&admin, &f.csrf) {
        return refused;
    }
    let done = match subject(&f.subject) {
        // A pasted id often brings a space along, but an id may also start
        // or end with one: trimmed, the hold would fall on another id and
        // leave the one meant erasable. So neither is guessed.
        Ok(_) if !f.id.trim().is_empty() && f.id.trim() != f.id => Err(AppError::invalid(
            "id",
            format!(
                "{:?} has spaces around it; ids are held exactly as written. Remove them, or, for an id that has them, place the hold with the API (POST /v1/legal-holds) or `flightlog hold place`",
                echo(&f.id)
            ),
        )),
        Ok(subject) => {
            // Blank is not given (the app says it is required).
            let id = if f.id.trim().is_empty() { String::new() } else { f.id.clone() };
            let req = HoldRequest { subject, id, reason: f.reason.trim().to_string() };
            state.place_legal_hold(&admin.principal.project, req, &admin.principal.key_id).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    answer(&state, admin, done, Saved::HoldPlaced, |page, error| page.hold = HoldForm { error: Some(error), ..f }).await
}

pub async fn release_hold(State(state): State<AppState>, admin: Admin, Form(f): Form<HoldForm>) -> Response {
    if let Some(refused) = forged(&admin, &f.csrf) {
        return refused;
    }
    // The id as the table shows it, untrimmed: it must match the hold's.
    let done = match subject(&f.subject) {
        Ok(subject) => state.release_legal_hold(&admin.principal.project, subject, &f.id, f.reason.trim(), &admin.principal.key_id).await,
        Err(e) => Err(e),
    };
    answer(&state, admin, done, Saved::HoldReleased, |page, error| page.hold.error = Some(error)).await
}

fn subject(text: &str) -> Result<HoldSubject, AppError> {
    HoldSubject::parse(text).ok_or_else(|| AppError::invalid("subject", format!("must be session or user, got {:?}", echo(text))))
}

/// The start of a refused value, for its error message.
fn echo(text: &str) -> String {
    text.chars().take(ECHO_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redaction_form_reads_as_a_policy() {
        let p = redaction_asked(&["email", "card"], "mask", "order=ORD-[0-9]{6}\r\n\n ref = R=[0-9]+ \n", "/a/b\n\n/c", "").unwrap();
        assert_eq!(p.kinds, [BuiltinKind::Email, BuiltinKind::Card].into_iter().collect());
        assert_eq!(p.replacement, ReplacementMode::Mask);
        let custom: Vec<(&str, &str)> = p.custom.iter().map(|c| (c.name.as_str(), c.regex.as_str())).collect();
        assert_eq!(custom, [("order", "ORD-[0-9]{6}"), ("ref", "R=[0-9]+")]);
        assert_eq!(p.drop_paths, ["/a/b", "/c"]);
        assert!(p.keep_paths.is_empty());
        // The form shows it back as it was written.
        let shown = RedactionForm::of(&p);
        assert_eq!(shown.custom, "order=ORD-[0-9]{6}\nref=R=[0-9]+");
        assert!(!shown.pseudonym);
    }

    #[test]
    fn a_wrong_redaction_form_names_its_field() {
        let field = |r: Result<ProjectRedaction, AppError>| match r {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(field(redaction_asked(&["email", "shoe_size"], "mask", "", "", "")), "kinds");
        assert_eq!(field(redaction_asked(&[], "rot13", "", "", "")), "replacement");
        let e = redaction_asked(&[], "mask", "ok=a\nno equals sign", "", "").unwrap_err();
        assert_eq!(e.to_string(), "custom: line 2 has no `=`: write one pattern a line, as name=regex");
    }

    #[test]
    fn days_are_whole_numbers_or_empty() {
        assert_eq!(days("content_days", " 30 ").unwrap(), Some(30));
        assert_eq!(days("content_days", "").unwrap(), None);
        let e = days("steps_days", "a year").unwrap_err();
        assert!(e.to_string().starts_with("steps_days: must be a whole number"), "{e}");
        assert!(days("steps_days", "-1").is_err());
    }
}
