//! Cost budgets: a limit for every session, and limits per agent. A session
//! is over budget when its computed cost exceeds the smallest limit that
//! applies to it (the session budget, or that of any of its agents).

use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct Budgets {
    /// USD, for every session.
    pub per_session: Option<f64>,
    /// USD, for sessions of these agents.
    pub per_agent: HashMap<String, f64>,
}

/// An amount of USD as a person types it (a budget, a minimum cost): a
/// finite number >= 0. `NaN`, `inf` and `1e400` parse as floats but are
/// not amounts, and `1e-400` (read as 0) or `1.0000000000000000001` (as 1)
/// are not what was typed: refused, as the API refuses them.
pub fn parse_usd(s: &str) -> Option<f64> {
    let s = s.trim();
    let usd = s.parse::<f64>().ok().filter(|usd| usd.is_finite() && *usd >= 0.0)?;
    crate::decimal::double_holds(s.strip_prefix('+').unwrap_or(s), usd).then_some(usd)
}

impl Budgets {
    /// Parses `NAME=USD`, as given on the command line.
    pub fn parse_agent(s: &str) -> Result<(String, f64), String> {
        let (name, usd) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected AGENT=USD"))?;
        let usd = parse_usd(usd).ok_or_else(|| format!("{s:?}: expected AGENT=USD with an amount >= 0"))?;
        if name.trim().is_empty() {
            return Err(format!("{s:?}: expected AGENT=USD with an amount >= 0"));
        }
        Ok((name.trim().to_string(), usd))
    }

    /// Parses the session budget as given on the command line: an amount
    /// (`NaN`, `-1` or `1e400` would flag every session, or none).
    pub fn parse_session(s: &str) -> Result<f64, String> {
        parse_usd(s).ok_or_else(|| format!("{s:?}: expected an amount of USD >= 0"))
    }

    /// The budgets given: the one for every session, and those per agent,
    /// where an agent given twice keeps the smaller (the smallest budget
    /// that applies is the one that counts).
    pub fn new(per_session: Option<f64>, per_agent: impl IntoIterator<Item = (String, f64)>) -> Self {
        let mut budgets = Budgets { per_session, per_agent: HashMap::new() };
        for (agent, usd) in per_agent {
            let limit = budgets.per_agent.entry(agent).or_insert(usd);
            *limit = limit.min(usd);
        }
        budgets
    }

    pub fn is_empty(&self) -> bool {
        self.per_session.is_none() && self.per_agent.is_empty()
    }

    /// The budget that applies to a session of these agents, if any.
    pub fn limit_for<'a>(&self, agents: impl IntoIterator<Item = &'a str>) -> Option<f64> {
        agents.into_iter().filter_map(|a| self.per_agent.get(a).copied()).chain(self.per_session).reduce(f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_applicable_budget_wins() {
        let b = Budgets { per_session: Some(5.0), per_agent: HashMap::from([("bot".to_string(), 1.0), ("big".to_string(), 50.0)]) };
        assert_eq!(b.limit_for(["bot"]), Some(1.0));
        assert_eq!(b.limit_for(["big"]), Some(5.0), "the session budget still applies");
        assert_eq!(b.limit_for(["other"]), Some(5.0));
        assert_eq!(Budgets::default().limit_for(["bot"]), None);
        assert_eq!(Budgets::parse_agent("bot=2.5"), Ok(("bot".to_string(), 2.5)));
        assert!(Budgets::parse_agent("bot").is_err() && Budgets::parse_agent("bot=-1").is_err());
        assert!(Budgets::parse_agent("bot=NaN").is_err() && Budgets::parse_agent("bot=inf").is_err());
        assert_eq!(Budgets::parse_session("5"), Ok(5.0));
        assert!(["NaN", "-1", "1e400", "inf", ""].iter().all(|s| Budgets::parse_session(s).is_err()));
        let twice = Budgets::new(None, [("bot".to_string(), 0.5), ("bot".to_string(), 2.0), ("big".to_string(), 9.0)]);
        assert_eq!(twice.limit_for(["bot"]), Some(0.5), "an agent given twice keeps the smaller, in either order");
        let twice = Budgets::new(None, [("bot".to_string(), 2.0), ("bot".to_string(), 0.5)]);
        assert_eq!(twice.limit_for(["bot"]), Some(0.5));
        assert_eq!(parse_usd(" 0.5 "), Some(0.5));
        assert_eq!(parse_usd("1e400"), None);
        assert_eq!(parse_usd("1e-400"), None, "too small for a double: read as 0");
        assert_eq!(parse_usd("1.0000000000000000001"), None, "read as 1");
        assert_eq!((parse_usd("0"), parse_usd("0.0e-400"), parse_usd("5e-324"), parse_usd("+2.5")), (Some(0.0), Some(0.0), Some(5e-324), Some(2.5)));
    }
}
