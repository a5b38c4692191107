//! The alert rules page (`/incidents/alerts`, admin keys only): where the
//! project's incidents are sent (webhooks, as JSON or a Slack message,
//! signed with each rule's secret), which kinds, and how often a growing
//! incident is sent again.
//!
//! One form adds a rule, or replaces the rule of the same name; each
//! listed rule has its own remove button. A secret is never shown, not
//! even back in a refused form: the page only says a rule has one, and a
//! replaced rule left without a new secret keeps its old one (the core's
//! rule). An accepted form redirects back to the page (POST, redirect,
//! GET); a refused one comes back with the field at fault named.

use crate::admin::Admin;
use crate::login::render;
use crate::{WebState, csrf, links};
use askama::Template;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use flightlog_app::alerts::{AlertFormat, AlertRule, AlertRuleView, AlertRules, AlertRulesView, MAX_RULES};
use flightlog_app::{AppError, AppState};
use flightlog_model::detect::IncidentKind;

/// The largest form the page sends (a 2 KB address, a secret, the kinds);
/// more is refused before it is read.
const FORM_BYTES: usize = 16 * 1024;
/// How much of a refused value an error message repeats.
const ECHO_CHARS: usize = 40;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/incidents/alerts", get(page).post(save_rule))
        .route("/incidents/alerts/remove", post(remove_rule))
        .layer(DefaultBodyLimit::max(FORM_BYTES))
}

/// What the page confirms after a form was accepted (`?saved=`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Rule,
    Removed,
}

impl Saved {
    const ALL: [Saved; 2] = [Saved::Rule, Saved::Removed];

    fn name(self) -> &'static str {
        match self {
            Saved::Rule => "rule",
            Saved::Removed => "removed",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Saved::Rule => "Rule saved: incidents that open or grow from now on are sent by it.",
            Saved::Removed => "Rule removed: nothing more is sent by it.",
        }
    }
}

pub struct KindBox {
    name: &'static str,
    title: &'static str,
    checked: bool,
}

/// The rule form's fields, as shown: empty, a rule to edit, or what was
/// sent when it was refused. Never its secret.
pub struct RuleForm {
    name: String,
    url: String,
    kinds: Vec<KindBox>,
    slack: bool,
    update_every_seconds: String,
    /// Whether the rule of that name has a secret already (it may be left empty).
    has_secret: bool,
    /// The field at fault and why.
    error: Option<(String, String)>,
}

impl RuleForm {
    fn empty() -> Self {
        RuleForm::of(&AlertRuleView {
            name: String::new(),
            url: String::new(),
            has_secret: false,
            kinds: Vec::new(),
            format: AlertFormat::Json,
            update_every_seconds: 60,
        })
    }

    fn of(r: &AlertRuleView) -> Self {
        RuleForm {
            name: r.name.clone(),
            url: r.url.clone(),
            kinds: kind_boxes(|k| r.kinds.contains(&k)),
            slack: r.format == AlertFormat::Slack,
            update_every_seconds: r.update_every_seconds.to_string(),
            has_secret: r.has_secret,
            error: None,
        }
    }

    /// Whether `field` is the one at fault (for its `aria-invalid`).
    fn bad(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|(f, _)| f == field)
    }
}

fn kind_boxes(checked: impl Fn(IncidentKind) -> bool) -> Vec<KindBox> {
    IncidentKind::ALL.into_iter().map(|k| KindBox { name: k.as_str(), title: k.title(), checked: checked(k) }).collect()
}

pub struct RuleRow {
    name: String,
    url: String,
    /// The kinds' titles, or "every kind".
    kinds: String,
    format: &'static str,
    update_every_seconds: u32,
    has_secret: bool,
    edit_url: String,
}

impl RuleRow {
    fn of(r: &AlertRuleView) -> Self {
        RuleRow {
            name: r.name.clone(),
            url: r.url.clone(),
            kinds: if r.kinds.is_empty() { "every kind".into() } else { r.kinds.iter().map(|k| k.title()).collect::<Vec<_>>().join(", ") },
            format: match r.format {
                AlertFormat::Json => "JSON",
                AlertFormat::Slack => "Slack",
            },
            update_every_seconds: r.update_every_seconds,
            has_secret: r.has_secret,
            edit_url: format!("/incidents/alerts?edit={}#rule-form", links::encode(&r.name)),
        }
    }
}

#[derive(Template)]
#[template(path = "alert_rules.html")]
struct AlertRulesPage {
    csrf: String,
    /// The header's admin links, for admin keys only (readers got a 403).
    admin: bool,
    project: String,
    saved: Option<Saved>,
    rules: Vec<RuleRow>,
    form: RuleForm,
    /// A refused removal.
    remove_error: Option<String>,
}

impl AlertRulesPage {
    fn max_rules(&self) -> usize {
        MAX_RULES
    }
}

#[derive(Default, serde::Deserialize)]
pub struct Shown {
    #[serde(default)]
    saved: String,
    /// The rule whose values fill the form.
    #[serde(default)]
    edit: String,
}

pub async fn page(State(state): State<AppState>, admin: Admin, Query(shown): Query<Shown>) -> Response {
    let view = match state.alert_rules(&admin.principal.project).await {
        Ok(v) => v,
        Err(e) => return crate::trouble(e),
    };
    let form = view.rules.iter().find(|r| r.name == shown.edit).map_or_else(RuleForm::empty, RuleForm::of);
    let mut page = shown_page(admin, &view, form);
    page.saved = Saved::ALL.into_iter().find(|s| s.name() == shown.saved);
    render(page)
}

fn shown_page(admin: Admin, view: &AlertRulesView, form: RuleForm) -> AlertRulesPage {
    AlertRulesPage {
        csrf: admin.csrf,
        admin: true,
        project: admin.principal.project,
        saved: None,
        rules: view.rules.iter().map(RuleRow::of).collect(),
        form,
        remove_error: None,
    }
}

/// A form not sent from this session's own page is refused before anything is done.
fn forged(admin: &Admin, given: &str) -> Option<Response> {
    (!csrf::same(&admin.csrf, given))
        .then(|| csrf::forbidden("This form did not come from your session's alert rules page. Reload the page and send it again."))
}

pub async fn save_rule(State(state): State<AppState>, admin: Admin, Form(fields): Form<Vec<(String, String)>>) -> Response {
    let value = |name: &str| fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    if let Some(refused) = forged(&admin, value("csrf")) {
        return refused;
    }
    let kinds: Vec<&str> = fields.iter().filter(|(k, _)| k == "kinds").map(|(_, v)| v.as_str()).collect();
    let project = admin.principal.project.clone();
    let asked = rule_asked(value("name"), value("url"), value("secret"), &kinds, value("format"), value("update_every_seconds"));
    let done = match asked {
        Ok(rule) => match state.alert_rules(&project).await {
            Ok(view) => {
                let (rules, at) = with_rule(&view, rule);
                state.set_alert_rules(&project, rules, &admin.principal.key_id).await.map(|_| ()).map_err(|e| in_form(e, at))
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let e = match done {
        Ok(()) => return Redirect::to(&format!("/incidents/alerts?saved={}", Saved::Rule.name())).into_response(),
        Err(e) => e,
    };
    let Some(status) = crate::refusal(&e) else { return crate::trouble(e) };
    let view = match state.alert_rules(&project).await {
        Ok(v) => v,
        Err(e) => return crate::trouble(e),
    };
    let name = value("name").trim();
    let sent = RuleForm {
        name: name.to_string(),
        url: value("url").trim().to_string(),
        kinds: kind_boxes(|k| kinds.contains(&k.as_str())),
        slack: value("format") == "slack",
        update_every_seconds: value("update_every_seconds").trim().to_string(),
        has_secret: view.rules.iter().any(|r| r.name == name && r.has_secret),
        error: Some(match e {
            AppError::Invalid { field, message } => (field, message),
            other => (String::new(), other.public_message()),
        }),
    };
    (status, render(shown_page(admin, &view, sent))).into_response()
}

#[derive(Default, serde::Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf: String,
}

pub async fn remove_rule(State(state): State<AppState>, admin: Admin, Form(f): Form<RemoveForm>) -> Response {
    if let Some(refused) = forged(&admin, &f.csrf) {
        return refused;
    }
    let project = admin.principal.project.clone();
    let view = match state.alert_rules(&project).await {
        Ok(v) => v,
        Err(e) => return crate::trouble(e),
    };
    let done = if view.rules.iter().any(|r| r.name == f.name) {
        let rest = AlertRules { rules: view.rules.iter().filter(|r| r.name != f.name).map(kept).collect() };
        state.set_alert_rules(&project, rest, &admin.principal.key_id).await.map(|_| ())
    } else {
        Err(AppError::NotFound(format!("no alert rule named {:?} in this project", echo(&f.name))))
    };
    let e = match done {
        Ok(()) => return Redirect::to(&format!("/incidents/alerts?saved={}", Saved::Removed.name())).into_response(),
        Err(e) => e,
    };
    let Some(status) = crate::refusal(&e) else { return crate::trouble(e) };
    let mut page = shown_page(admin, &view, RuleForm::empty());
    page.remove_error = Some(e.public_message());
    (status, render(page)).into_response()
}

/// The rule the form asks for. The core checks the rest (the name's
/// characters, the address, the secret's length, the interval's range)
/// and names the field.
fn rule_asked(name: &str, url: &str, secret: &str, kinds: &[&str], format: &str, every: &str) -> Result<AlertRule, AppError> {
    let kinds = kinds
        .iter()
        .map(|k| IncidentKind::parse(k).ok_or_else(|| AppError::invalid("kinds", format!("unknown kind {:?}", echo(k)))))
        .collect::<Result<Vec<_>, _>>()?;
    let format = match format {
        "" | "json" => AlertFormat::Json,
        "slack" => AlertFormat::Slack,
        other => return Err(AppError::invalid("format", format!("must be json or slack, got {:?}", echo(other)))),
    };
    let every = every.trim();
    let update_every_seconds = every.parse().map_err(|_| {
        AppError::invalid("update_every_seconds", format!("must be a whole number of seconds from 1 to 86400; got {:?}", echo(every)))
    })?;
    Ok(AlertRule {
        name: name.trim().to_string(),
        url: url.trim().to_string(),
        // Empty: keep the secret the rule of this name has (a new rule is refused without one).
        secret: Some(secret.to_string()).filter(|s| !s.is_empty()),
        kinds,
        format,
        update_every_seconds,
    })
}

/// A rule in force, to be set again as it is: without its secret, which
/// the core then keeps.
fn kept(r: &AlertRuleView) -> AlertRule {
    AlertRule {
        name: r.name.clone(),
        url: r.url.clone(),
        secret: None,
        kinds: r.kinds.clone(),
        format: r.format,
        update_every_seconds: r.update_every_seconds,
    }
}

/// The rules in force with `rule` in place of the one of its name (or
/// added last), and where it is in them.
fn with_rule(view: &AlertRulesView, rule: AlertRule) -> (AlertRules, usize) {
    let mut rules: Vec<AlertRule> = view.rules.iter().map(kept).collect();
    let at = match rules.iter().position(|r| r.name == rule.name) {
        Some(i) => {
            rules[i] = rule;
            i
        }
        None => {
            rules.push(rule);
            rules.len() - 1
        }
    };
    (AlertRules { rules }, at)
}

/// The core names a field of the whole list (`rules[2].secret`); the form
/// holds one rule, so a fault of the rule at `at` is named as its field
/// (`secret`). A fault of another rule keeps its full name.
fn in_form(e: AppError, at: usize) -> AppError {
    match e {
        AppError::Invalid { field, message } => {
            let field = field.strip_prefix(&format!("rules[{at}].")).map(str::to_string).unwrap_or(field);
            AppError::Invalid { field, message }
        }
        other => other,
    }
}

/// The start of a refused value, for its error message.
fn echo(text: &str) -> String {
    text.chars().take(ECHO_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(names: &[&str]) -> AlertRulesView {
        AlertRulesView {
            rules: names
                .iter()
                .map(|n| AlertRuleView {
                    name: n.to_string(),
                    url: format!("https://hooks.example/{n}"),
                    has_secret: true,
                    kinds: vec![IncidentKind::Loop],
                    format: AlertFormat::Json,
                    update_every_seconds: 60,
                })
                .collect(),
        }
    }

    #[test]
    fn the_form_reads_as_a_rule_and_an_empty_secret_keeps_the_old_one() {
        let r = rule_asked(" pager ", " https://hooks.example/p ", "", &["loop", "burst"], "slack", " 120 ").unwrap();
        assert_eq!((r.name.as_str(), r.url.as_str()), ("pager", "https://hooks.example/p"));
        assert_eq!(r.secret, None);
        assert_eq!(r.kinds, [IncidentKind::Loop, IncidentKind::Burst]);
        assert_eq!((r.format, r.update_every_seconds), (AlertFormat::Slack, 120));
        assert_eq!(rule_asked("a", "u", "0123456789abcdef", &[], "json", "60").unwrap().secret.as_deref(), Some("0123456789abcdef"));
    }

    #[test]
    fn a_wrong_form_names_its_field() {
        let field = |r: Result<AlertRule, AppError>| match r {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(field(rule_asked("a", "u", "", &["meltdown"], "json", "60")), "kinds");
        assert_eq!(field(rule_asked("a", "u", "", &[], "xml", "60")), "format");
        assert_eq!(field(rule_asked("a", "u", "", &[], "json", "a minute")), "update_every_seconds");
    }

    #[test]
    fn a_rule_replaces_the_one_of_its_name_or_is_added_and_others_keep_their_secrets() {
        let new = rule_asked("b", "https://x.example", "", &[], "json", "60").unwrap();
        let (rules, at) = with_rule(&view(&["a", "b", "c"]), new.clone());
        assert_eq!(at, 1);
        assert_eq!(rules.rules[1], new);
        assert!(rules.rules.iter().all(|r| r.secret.is_none()), "the core keeps the stored secrets");
        let (rules, at) = with_rule(&view(&["a"]), rule_asked("z", "https://x.example", "", &[], "json", "60").unwrap());
        assert_eq!((at, rules.rules.len()), (1, 2));
    }

    #[test]
    fn the_edited_rules_faults_are_named_as_the_forms_fields() {
        let named = |e: AppError| e.to_string();
        assert_eq!(named(in_form(AppError::invalid("rules[2].secret", "is 5 bytes"), 2)), "secret: is 5 bytes");
        assert_eq!(named(in_form(AppError::invalid("rules[0].url", "bad"), 2)), "rules[0].url: bad", "another rule's fault");
        assert_eq!(named(in_form(AppError::invalid("rules", "too many"), 2)), "rules: too many");
    }
}
