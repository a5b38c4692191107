//! Which steps of a session's timeline belong to a loop or a burst the
//! detectors found, so the page can highlight them.
//!
//! A loop is one session's: its steps are those from the incident's first
//! step to its last. A burst may span sessions (one agent calling a search
//! API from several at once): when its first or last step is in another
//! session, this session's part of it is told by time instead, the steps
//! between the burst's first and last call. Either way a burst is about
//! one tool, so only that tool's calls are marked.
//!
//! Pure: the page hands in the session's incidents and each step.

use flightlog_app::incidents::IncidentView;
use flightlog_model::detect::IncidentKind;
use flightlog_model::time::parse_timestamp;

/// The kinds whose steps are highlighted (a repeated side effect is shown
/// by the repeat marks, a runaway would be every step).
const HIGHLIGHTED: [IncidentKind; 2] = [IncidentKind::Loop, IncidentKind::Burst];

/// Where an incident lies in one session.
#[derive(Clone, Debug, PartialEq)]
enum Extent {
    /// Steps [first, last].
    Steps(u64, u64),
    /// Timestamps [from, to], µs.
    Time(i64, i64),
}

/// One highlighted incident of the session.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub kind: IncidentKind,
    extent: Extent,
    /// Only calls of this tool are in it ("" any).
    tool: String,
    /// What the highlighted step says: "loop, steps 2–7".
    pub label: String,
}

impl Span {
    /// The CSS class of a step in it.
    pub fn class(&self) -> &'static str {
        match self.kind {
            IncidentKind::Burst => "in-burst",
            _ => "in-loop",
        }
    }

    fn holds(&self, step: u64, at_us: Option<i64>, tool: &str) -> bool {
        let inside = match self.extent {
            Extent::Steps(first, last) => (first..=last).contains(&step),
            Extent::Time(from, to) => at_us.is_some_and(|t| (from..=to).contains(&t)),
        };
        inside && (self.tool.is_empty() || self.tool == tool)
    }
}

/// The session's loops and bursts, as spans of its steps.
pub fn spans(session_id: &str, incidents: &[IncidentView]) -> Vec<Span> {
    incidents
        .iter()
        .filter(|i| HIGHLIGHTED.contains(&i.kind))
        .filter_map(|i| {
            let extent = if i.first.session_id == session_id && i.last.session_id == session_id {
                Extent::Steps(i.first.step, i.last.step)
            } else {
                Extent::Time(parse_timestamp(&i.first.timestamp).ok()?, parse_timestamp(&i.last.timestamp).ok()?)
            };
            let label = match (i.kind, &extent) {
                (IncidentKind::Burst, _) if !i.tool.is_empty() => format!("burst of {} calls ({} in all)", i.tool, i.count),
                (IncidentKind::Burst, _) => format!("burst of calls ({} in all)", i.count),
                (_, Extent::Steps(first, last)) => format!("loop, steps {first}–{last}"),
                (_, Extent::Time(..)) => "loop".to_string(),
            };
            Some(Span { kind: i.kind, extent, tool: i.tool.clone(), label })
        })
        .collect()
}

/// The spans a step is in: its number, its timestamp (µs) and its tool.
pub fn marks_of<'a>(spans: &'a [Span], step: u64, at_us: Option<i64>, tool: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.holds(step, at_us, tool)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlog_app::incidents::{IncidentState, IncidentStep};

    fn at(session: &str, step: u64, timestamp: &str) -> IncidentStep {
        IncidentStep { session_id: session.into(), step, timestamp: timestamp.into() }
    }

    fn incident(kind: IncidentKind, tool: &str, first: IncidentStep, last: IncidentStep) -> IncidentView {
        IncidentView {
            id: "inc_1".into(),
            kind,
            title: kind.title(),
            state: IncidentState::Open,
            sessions: vec![first.session_id.clone()],
            agent: "a".into(),
            user_id: String::new(),
            tool: tool.into(),
            first,
            last,
            count: 6,
            message: String::new(),
            updated: String::new(),
        }
    }

    const T: i64 = 1_768_473_000_000_000; // 2026-01-15T10:30:00Z

    #[test]
    fn a_loop_marks_its_steps_of_the_session_whatever_the_tool() {
        let found = spans("s1", &[incident(IncidentKind::Loop, "", at("s1", 2, "2026-01-15T10:30:00Z"), at("s1", 7, "2026-01-15T10:30:05Z"))]);
        let marked: Vec<u64> = (0..10).filter(|n| !marks_of(&found, *n, None, if n % 2 == 0 { "get_a" } else { "get_b" }).is_empty()).collect();
        assert_eq!(marked, [2, 3, 4, 5, 6, 7]);
        assert_eq!(found[0].label, "loop, steps 2–7");
        assert_eq!(found[0].class(), "in-loop");
    }

    #[test]
    fn a_burst_from_other_sessions_marks_this_sessions_calls_of_its_tool_in_its_time() {
        let burst = incident(IncidentKind::Burst, "search_web", at("s0", 4, "2026-01-15T10:30:00Z"), at("s2", 9, "2026-01-15T10:31:00Z"));
        let found = spans("s1", &[burst]);
        assert_eq!(found[0].label, "burst of search_web calls (6 in all)");
        assert_eq!(marks_of(&found, 3, Some(T + 30_000_000), "search_web").len(), 1);
        assert!(marks_of(&found, 3, Some(T + 30_000_000), "send_email").is_empty(), "another tool");
        assert!(marks_of(&found, 3, Some(T + 61_000_000), "search_web").is_empty(), "after the burst");
        assert!(marks_of(&found, 3, None, "search_web").is_empty(), "no timestamp, no mark");
    }

    #[test]
    fn other_kinds_are_not_highlighted() {
        let repeat = incident(IncidentKind::RepeatedSideEffect, "send_email", at("s1", 0, "2026-01-15T10:30:00Z"), at("s1", 1, "2026-01-15T10:30:01Z"));
        assert!(spans("s1", &[repeat]).is_empty());
    }
}
