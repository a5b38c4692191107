//! The session waterfall as a picture: geometry only (numbers, and text
//! that the template escapes). Steps are bars on a time axis, one lane per
//! tool, coloured by outcome, repeated actions outlined; a long range is
//! columns of time slices to zoom into. Cumulative tokens run beneath.

use crate::charts::{self, Label, Mark};
use crate::links;
use crate::show::short_time;
use flightlog_app::waterfall::{Waterfall, WaterfallMarks};
use flightlog_model::anomaly::REPEATED_ACTION_TIMES;
use flightlog_store::waterfall::{WaterfallSlice, WaterfallStep};

const WIDTH: f64 = 960.0;
/// Left margin for the lane names.
const LABELS: f64 = 130.0;
const LANE: f64 = 16.0;
/// Tools beyond this many share the last lane.
const MAX_LANES: usize = 12;
const COLUMNS_HEIGHT: f64 = 120.0;
const TOKENS_HEIGHT: f64 = 48.0;
const GAP: f64 = 22.0;

/// What the template draws, and the same numbers as a table.
pub struct WaterfallView {
    pub width: f64,
    pub height: f64,
    pub plot_x: f64,
    pub marks: Vec<Mark>,
    pub lanes: Vec<Label>,
    pub ticks: Vec<Label>,
    pub axis_y: f64,
    /// The cumulative tokens line, "x,y x,y …" (numbers only).
    pub tokens_points: String,
    pub tokens_top: f64,
    pub tokens_label: String,
    pub title: String,
    pub caption: String,
    pub sliced: bool,
    pub zoom_out: Option<String>,
    pub table_head: [&'static str; 5],
    pub table: Vec<[String; 5]>,
}

struct Axis {
    from_us: i64,
    span_us: f64,
}

impl Axis {
    fn x(&self, us: i64) -> f64 {
        LABELS + ((us - self.from_us) as f64 / self.span_us).clamp(0.0, 1.0) * (WIDTH - LABELS)
    }

    fn width(&self, us: f64) -> f64 {
        (us / self.span_us * (WIDTH - LABELS)).max(2.0)
    }
}

pub fn view(session_id: &str, w: &Waterfall) -> WaterfallView {
    let axis = Axis { from_us: w.from_us, span_us: (w.to_us - w.from_us).max(1) as f64 };
    let (marks, lanes, plot_height, table, sliced, ends) = match &w.marks {
        WaterfallMarks::Steps(steps) => bars(session_id, &axis, steps),
        WaterfallMarks::Slices { width_us, slices } => columns(session_id, &axis, w.from_us, *width_us, slices),
    };
    let axis_y = GAP + plot_height + 4.0;
    let tokens_top = axis_y + GAP;
    let total_tokens = w.tokens_before + ends.iter().map(|(_, t)| t).sum::<u64>();
    let mut running = w.tokens_before;
    let y_of = |tokens: u64| tokens_top + TOKENS_HEIGHT - tokens as f64 / total_tokens.max(1) as f64 * TOKENS_HEIGHT;
    let mut points = vec![format!("{:.1},{:.1}", LABELS, y_of(running))];
    for (x, tokens) in &ends {
        running += tokens;
        points.push(format!("{x:.1},{:.1}", y_of(running)));
    }
    let ticks = (0..=4)
        .map(|i| {
            let us = w.from_us + ((w.to_us - w.from_us) as f64 * i as f64 / 4.0) as i64;
            let text = format!("+{}", seconds((us - w.session_from_us) as f64 / 1e6));
            Label { x: axis.x(us), y: axis_y + 14.0, text, anchor: charts::anchor(i, 5) }
        })
        .collect();
    let failed: u64 = match &w.marks {
        WaterfallMarks::Steps(steps) => steps.iter().filter(|s| s.failed).count() as u64,
        WaterfallMarks::Slices { slices, .. } => slices.iter().map(|s| s.failed).sum(),
    };
    let caption = format!(
        "{} of {} steps, {} failed, from {} over {}{}; {} tokens in all by the end of the range.",
        w.steps_in_range,
        w.session_steps,
        failed,
        short_time(w.from_us),
        seconds((w.to_us - w.from_us) as f64 / 1e6),
        if sliced { ", in time slices: pick one to zoom in" } else { "" },
        total_tokens
    );
    let (table_head, table) = table;
    WaterfallView {
        width: WIDTH,
        height: tokens_top + TOKENS_HEIGHT + 6.0,
        plot_x: LABELS,
        marks,
        lanes,
        ticks,
        axis_y,
        tokens_points: points.join(" "),
        tokens_top,
        tokens_label: format!("tokens, cumulative (to {total_tokens})"),
        title: format!("Waterfall of session {session_id}"),
        caption,
        sliced,
        zoom_out: w.zoomed().then(|| links::session(session_id)),
        table_head,
        table,
    }
}

type Drawn = (Vec<Mark>, Vec<Label>, f64, ([&'static str; 5], Vec<[String; 5]>), bool, Vec<(f64, u64)>);

/// One bar per step, in the lane of its tool.
fn bars(session_id: &str, axis: &Axis, steps: &[WaterfallStep]) -> Drawn {
    let mut lane_names: Vec<String> = Vec::new();
    let mut marks = Vec::with_capacity(steps.len());
    let mut table = Vec::with_capacity(steps.len());
    let mut ends = Vec::with_capacity(steps.len());
    for s in steps {
        let name = if s.tool.is_empty() { "(no tool)".to_string() } else { s.tool.clone() };
        let lane = match lane_names.iter().position(|n| *n == name) {
            Some(i) => i,
            None if lane_names.len() < MAX_LANES - 1 => {
                lane_names.push(name.clone());
                lane_names.len() - 1
            }
            None => {
                if lane_names.len() == MAX_LANES - 1 {
                    lane_names.push("other tools".into());
                }
                MAX_LANES - 1
            }
        };
        let repeated = s.same_action >= REPEATED_ACTION_TIMES;
        let outcome = if s.failed { "failed" } else { "ok" };
        let x = axis.x(s.start_us);
        let w = axis.width(s.duration_ms as f64 * 1000.0);
        let status = if s.status.is_empty() { outcome.to_string() } else { s.status.clone() };
        let mut title = format!("step {} · {name} · {status} · {} ms · {} tokens", s.step, s.duration_ms, s.tokens);
        if repeated {
            title.push_str(&format!(" · the same action {}× in this session", s.same_action));
        }
        marks.push(Mark {
            x,
            y: GAP + lane as f64 * LANE + 2.0,
            w,
            h: LANE - 4.0,
            class: if repeated { format!("{outcome} repeated") } else { outcome.to_string() },
            href: links::step_card(session_id, s.step),
            title,
            step: s.step.to_string(),
        });
        ends.push((x + w, s.tokens));
        table.push([s.step.to_string(), short_time(s.start_us), format!("{} ms", s.duration_ms), name, status]);
    }
    let lanes =
        lane_names.into_iter().enumerate().map(|(i, text)| Label { x: LABELS - 6.0, y: GAP + i as f64 * LANE + LANE - 4.0, text, anchor: "end" }).collect::<Vec<_>>();
    let height = (lanes.len().max(1) as f64) * LANE;
    (marks, lanes, height, (["step", "started", "took", "tool", "status"], table), false, ends)
}

/// One column per time slice: its steps (failed ones on top, in red),
/// each a link that zooms into the slice.
fn columns(session_id: &str, axis: &Axis, from_us: i64, width_us: i64, slices: &[WaterfallSlice]) -> Drawn {
    let most = slices.iter().map(|s| s.steps).max().unwrap_or(1).max(1) as f64;
    let mut marks = Vec::with_capacity(slices.len() * 2);
    let mut table = Vec::with_capacity(slices.len());
    let mut ends = Vec::with_capacity(slices.len());
    for s in slices {
        let start = from_us + s.slice * width_us;
        let x = axis.x(start);
        let w = (axis.width(width_us as f64) - 1.0).max(1.0);
        let href = links::session_range(session_id, start, start + width_us);
        let title = format!(
            "{} steps ({} to {}), {} failed, {} tokens, from {}: zoom in",
            s.steps,
            s.first_step,
            s.last_step,
            s.failed,
            s.tokens,
            short_time(start)
        );
        let ok_h = (s.steps - s.failed) as f64 / most * COLUMNS_HEIGHT;
        let failed_h = s.failed as f64 / most * COLUMNS_HEIGHT;
        let bottom = GAP + COLUMNS_HEIGHT;
        marks.push(Mark { x, y: bottom - ok_h, w, h: ok_h, class: "slice-ok".into(), href: href.clone(), title: title.clone(), step: String::new() });
        if s.failed > 0 {
            marks.push(Mark { x, y: bottom - ok_h - failed_h, w, h: failed_h, class: "slice-failed".into(), href, title, step: String::new() });
        }
        ends.push((x + w, s.tokens));
        table.push([short_time(start), format!("{} to {}", s.first_step, s.last_step), s.steps.to_string(), s.failed.to_string(), s.tokens.to_string()]);
    }
    (marks, Vec::new(), COLUMNS_HEIGHT, (["from", "steps", "count", "failed", "tokens"], table), true, ends)
}

/// "0.8 s", "12 s", "3.5 min", "2.1 h".
fn seconds(s: f64) -> String {
    match s {
        s if s < 10.0 => format!("{s:.1} s"),
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: u64, start_us: i64, duration_ms: u64, tool: &str, failed: bool, same_action: u64) -> WaterfallStep {
        WaterfallStep { step, start_us, duration_ms, tool: tool.into(), status: String::new(), failed, tokens: 10, same_action }
    }

    fn waterfall(marks: WaterfallMarks, from_us: i64, to_us: i64) -> Waterfall {
        Waterfall { from_us, to_us, session_from_us: 0, session_to_us: 10_000_000, steps_in_range: 3, session_steps: 3, tokens_before: 0, marks }
    }

    #[test]
    fn steps_are_bars_in_their_tools_lanes_placed_by_time() {
        let steps = vec![step(0, 0, 1000, "search", false, 1), step(1, 5_000_000, 2000, "send_email", true, 1), step(2, 9_000_000, 0, "search", false, 3)];
        let v = view("s/1", &waterfall(WaterfallMarks::Steps(steps), 0, 10_000_000));
        assert_eq!(v.lanes.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["search", "send_email"]);
        assert_eq!(v.marks.len(), 3);
        assert_eq!(v.marks[0].x, LABELS);
        assert_eq!(v.marks[1].x, LABELS + (WIDTH - LABELS) / 2.0, "half way through the range");
        assert_eq!(v.marks[0].y, v.marks[2].y, "one lane per tool");
        assert_eq!(v.marks[1].class, "failed");
        assert_eq!(v.marks[2].class, "ok repeated");
        assert_eq!(v.marks[2].w, 2.0, "an instant step is still visible");
        assert_eq!(v.marks[1].href, "/sessions/s%2F1?after=0#step-1");
        assert!(v.zoom_out.is_none());
        assert_eq!(v.table.len(), 3);
    }

    #[test]
    fn slices_are_columns_that_zoom_in_with_failures_on_top() {
        let slices = vec![
            WaterfallSlice { slice: 0, steps: 100, failed: 0, tokens: 5, first_step: 0, last_step: 99 },
            WaterfallSlice { slice: 3, steps: 50, failed: 10, tokens: 5, first_step: 100, last_step: 149 },
        ];
        let v = view("s", &waterfall(WaterfallMarks::Slices { width_us: 1_000_000, slices }, 2_000_000, 6_000_000));
        assert!(v.sliced);
        assert_eq!(v.marks.len(), 3, "an ok column each, and one failed part");
        assert_eq!(v.marks[0].h, COLUMNS_HEIGHT, "the fullest slice is full height");
        assert_eq!(v.marks[2].class, "slice-failed");
        assert_eq!(v.marks[1].href, "/sessions/s?from=5000000&to=6000000");
        assert_eq!(v.zoom_out.as_deref(), Some("/sessions/s"), "a zoomed range links back to the whole session");
    }
}
