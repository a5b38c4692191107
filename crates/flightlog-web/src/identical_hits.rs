//! Identical search results, shown once: an agent that sent the same
//! email five times made five identical decisions, and a reader asking
//! "has this happened before?" wants one line saying ×5, not five lines.
//!
//! Two hits are identical when what was embedded for them is: the same
//! text (the reasoning, the tool with its parameters and the error, as
//! `flightlog_model::decision` builds it, shown as the snippet), the same
//! tool and the same outcome. Identical texts get identical vectors, so
//! the copies have the same score and sat side by side in the list
//! anyway; a group takes the place of its best-ranked copy.
//!
//! Pure: the page hands in the hits in the order of the search.

use flightlog_app::search::SimilarHit;
use std::collections::HashMap;

/// One result line: a hit and the identical hits after it.
#[derive(Debug)]
pub struct Group<T> {
    /// The best-ranked copy.
    pub first: T,
    /// The other copies, in rank order.
    pub copies: Vec<T>,
}

impl<T> Group<T> {
    /// How many identical hits the line stands for.
    pub fn times(&self) -> usize {
        1 + self.copies.len()
    }
}

/// What makes two hits the same decision.
fn identity(h: &SimilarHit) -> (&str, &str, bool, &str) {
    (&h.tool, &h.status, h.failed, &h.snippet)
}

/// Groups identical hits, each group where its first copy ranked.
pub fn group<T>(hits: Vec<T>, hit: impl Fn(&T) -> &SimilarHit) -> Vec<Group<T>> {
    let mut groups: Vec<Group<T>> = Vec::new();
    let mut index: HashMap<(String, String, bool, String), usize> = HashMap::new();
    for h in hits {
        let (tool, status, failed, snippet) = identity(hit(&h));
        let key = (tool.to_string(), status.to_string(), failed, snippet.to_string());
        match index.get(&key) {
            Some(&i) => groups[i].copies.push(h),
            None => {
                index.insert(key, groups.len());
                groups.push(Group { first: h, copies: Vec::new() });
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(session: &str, step: u64, tool: &str, snippet: &str, failed: bool) -> SimilarHit {
        SimilarHit {
            score: 0.9,
            session_id: session.into(),
            step,
            timestamp: String::new(),
            agent: "support".into(),
            tool: tool.into(),
            status: if failed { "error".into() } else { "ok".into() },
            model: String::new(),
            failed,
            snippet: snippet.into(),
        }
    }

    fn shown(groups: &[Group<SimilarHit>]) -> Vec<(String, usize)> {
        groups.iter().map(|g| (format!("{}#{}", g.first.session_id, g.first.step), g.times())).collect()
    }

    #[test]
    fn five_copies_of_one_decision_are_one_line_where_the_first_ranked() {
        let mail = "Email the customer.\nTool: send_email(to=a@b.c)";
        let mut hits = vec![hit("s0", 1, "lookup", "Look up the order.", false)];
        hits.extend((0..5).map(|i| hit(&format!("s{i}"), 2, "send_email", mail, false)));
        hits.push(hit("s9", 3, "refund", "Refund it.", false));
        let groups = group(hits, |h| h);
        assert_eq!(shown(&groups), [("s0#1".into(), 1), ("s0#2".into(), 5), ("s9#3".into(), 1)]);
        let copies: Vec<&str> = groups[1].copies.iter().map(|h| h.session_id.as_str()).collect();
        assert_eq!(copies, ["s1", "s2", "s3", "s4"], "in rank order");
    }

    #[test]
    fn another_tool_or_outcome_or_text_is_another_decision() {
        let hits = vec![
            hit("a", 1, "send_email", "Email them.", false),
            hit("b", 1, "send_sms", "Email them.", false),
            hit("c", 1, "send_email", "Email them.", true),
            hit("d", 1, "send_email", "Email them!", false),
            hit("e", 1, "send_email", "Email them.", false),
        ];
        assert_eq!(shown(&group(hits, |h| h)), [("a#1".into(), 2), ("b#1".into(), 1), ("c#1".into(), 1), ("d#1".into(), 1)]);
    }
}
