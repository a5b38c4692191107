//! Server-rendered SVG charts, as geometry: positions and sizes are
//! numbers computed here, every text is a field the templates print (and so
//! escape). No script, no external asset; each chart's template gives it a
//! title, a description and a table of the same numbers.

/// A rectangle that links somewhere: a bar, a slice, a day.
pub struct Mark {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    /// The CSS classes that colour it (`ok`, `failed`, `repeated`, …).
    pub class: String,
    pub href: String,
    /// Its numbers in words: the tooltip, and what a screen reader says.
    pub title: String,
    /// The step a waterfall bar is, for tests and scripts; else empty.
    pub step: String,
}

pub struct Label {
    pub x: f64,
    pub y: f64,
    pub text: String,
    /// `start`, `middle` or `end`: labels at the edges stay inside.
    pub anchor: &'static str,
}

/// The anchor of the `i`th of `n` labels along an axis.
pub fn anchor(i: usize, n: usize) -> &'static str {
    match i {
        0 if n > 1 => "start",
        i if i + 1 == n && n > 1 => "end",
        _ => "middle",
    }
}

/// One value per day (or any category), as columns with a link each.
pub struct Columns {
    pub name: String,
    pub width: f64,
    pub height: f64,
    pub marks: Vec<Mark>,
    pub labels: Vec<Label>,
    /// The largest value, as shown at the top of the scale.
    pub top: String,
    pub total: String,
    pub table: Vec<(String, String)>,
}

pub const COLUMNS_WIDTH: f64 = 320.0;
const COLUMNS_PLOT: f64 = 110.0;

/// A small chart: `points` are (label, value, shown value, link), oldest
/// first; `class` colours the columns. The first, middle and last labels
/// go under the axis.
pub fn columns(name: &str, class: &str, points: &[(String, f64, String, String)], total: String) -> Columns {
    let most = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let n = points.len().max(1) as f64;
    let slot = COLUMNS_WIDTH / n;
    let marks = points
        .iter()
        .enumerate()
        .map(|(i, (label, value, shown, href))| {
            let h = if most > 0.0 { value / most * COLUMNS_PLOT } else { 0.0 };
            Mark {
                x: i as f64 * slot + slot * 0.1,
                y: COLUMNS_PLOT - h + 4.0,
                w: (slot * 0.8).max(1.0),
                h: h.max(if *value > 0.0 { 1.0 } else { 0.0 }),
                class: class.to_string(),
                href: href.clone(),
                title: format!("{label}: {shown} {name}"),
                step: String::new(),
            }
        })
        .collect();
    let shown: Vec<usize> = match points.len() {
        0 => Vec::new(),
        1 => vec![0],
        len => vec![0, len / 2, len - 1],
    };
    let labels = shown
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let anchor = anchor(k, shown.len());
            let x = match anchor {
                "start" => i as f64 * slot,
                "end" => (i + 1) as f64 * slot,
                _ => i as f64 * slot + slot / 2.0,
            };
            Label { x, y: COLUMNS_PLOT + 18.0, text: points[i].0.clone(), anchor }
        })
        .collect();
    Columns {
        name: name.to_string(),
        width: COLUMNS_WIDTH,
        height: COLUMNS_PLOT + 24.0,
        marks,
        labels,
        top: points.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|p| p.2.clone()).unwrap_or_default(),
        total,
        table: points.iter().map(|p| (p.0.clone(), p.2.clone())).collect(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_scale_to_the_largest_and_keep_their_links() {
        let points = vec![
            ("d1".to_string(), 2.0, "2".to_string(), "/a".to_string()),
            ("d2".to_string(), 0.0, "0".to_string(), "/b".to_string()),
            ("d3".to_string(), 4.0, "4".to_string(), "/c".to_string()),
        ];
        let c = super::columns("steps", "ok", &points, "6".into());
        assert_eq!(c.marks.len(), 3);
        assert_eq!(c.marks[2].h, super::COLUMNS_PLOT, "the largest fills the plot");
        assert_eq!(c.marks[0].h, super::COLUMNS_PLOT / 2.0);
        assert_eq!(c.marks[1].h, 0.0, "an empty day is an empty column");
        assert_eq!(c.marks[1].href, "/b");
        assert_eq!(c.marks[0].title, "d1: 2 steps");
        assert_eq!(c.top, "4");
        assert_eq!(c.labels.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["d1", "d2", "d3"]);
    }
}
