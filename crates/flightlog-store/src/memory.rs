//! The memory one read may use, enforced by ClickHouse itself on either
//! backend: a read that would need more is stopped by the engine with
//! MEMORY_LIMIT_EXCEEDED (answered as [`StoreError::OverMemoryBudget`])
//! instead of the process being killed, and big GROUP BYs and sorts spill
//! to disk before they get there.
//!
//! Only reads (SELECT) are limited: an insert is bounded by its batch, and
//! a maintenance statement (a rebuild of a derived table, a migration, a
//! mutation) must finish, or the store is left half-built.

use crate::StoreError;

/// Bytes per read; 0 is no budget (the server's own settings apply). With
/// the embedded engine every read connection may run one statement at
/// once, so the process's query memory is at most `readers × bytes` on top
/// of the engine's own baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    pub bytes: u64,
}

/// ClickHouse's error for a statement over `max_memory_usage`. The same
/// code also means the whole server or user is short of memory ("total",
/// "for user"): that is load, not the question, and stays an engine error.
const MEMORY_LIMIT_EXCEEDED: &str = "MEMORY_LIMIT_EXCEEDED";
const FOR_ONE_QUERY: [&str; 2] = ["Query memory limit exceeded", "Memory limit (for query) exceeded"];

impl MemoryBudget {
    /// 512 MiB: three readers at their limit and the engine's baseline
    /// stay under 2 GiB.
    pub const DEFAULT: MemoryBudget = MemoryBudget { bytes: 512 << 20 };
    pub const OFF: MemoryBudget = MemoryBudget { bytes: 0 };

    pub fn is_off(&self) -> bool {
        self.bytes == 0
    }

    /// The engine settings that enforce the budget, the same for both
    /// backends: the hard limit, and spilling at half of it so that a
    /// GROUP BY or ORDER BY over many keys slows down rather than fails.
    /// None when off: a managed server's profile may forbid changing them.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        if self.is_off() {
            return Vec::new();
        }
        let spill = (self.bytes / 2).to_string();
        vec![
            ("max_memory_usage", self.bytes.to_string()),
            ("max_bytes_before_external_group_by", spill.clone()),
            ("max_bytes_before_external_sort", spill),
        ]
    }

    /// The error for an engine's failure of a read run within this budget:
    /// over it, or the engine's own message.
    pub fn classify(&self, message: String) -> StoreError {
        let over = !self.is_off() && message.contains(MEMORY_LIMIT_EXCEEDED) && FOR_ONE_QUERY.iter().any(|m| message.contains(m));
        if over {
            StoreError::OverMemoryBudget { budget: *self, detail: message }
        } else {
            StoreError::Engine(message)
        }
    }
}

/// Whether a statement is a read (SELECT, or WITH … SELECT), the statements
/// the budget limits; leading `--` comments are skipped.
pub fn is_read(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    while let Some(comment) = rest.strip_prefix("--") {
        rest = comment.split_once('\n').map_or("", |(_, after)| after).trim_start();
    }
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    word.eq_ignore_ascii_case("select") || word.eq_ignore_ascii_case("with")
}

impl Default for MemoryBudget {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl std::fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_off() {
            return write!(f, "off");
        }
        let mib = self.bytes as f64 / (1u64 << 20) as f64;
        if mib >= 1024.0 {
            write!(f, "{:.1} GiB", mib / 1024.0)
        } else {
            write!(f, "{mib:.0} MiB")
        }
    }
}

/// A size as people write it: `512MiB`, `2GiB`, `1.5G`, `800M`, or bytes;
/// `off` for none.
impl std::str::FromStr for MemoryBudget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("off") {
            return Ok(Self::OFF);
        }
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a size (like 512MiB or 2GiB)"))?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            other => return Err(format!("unknown unit {other:?} in {text:?} (use B, KiB, MiB or GiB)")),
        };
        let bytes = (number * scale as f64) as u64;
        // Below a few MiB the engine cannot read a single block.
        if bytes < 8 << 20 {
            return Err(format!("{text:?} is below the smallest budget, 8MiB"));
        }
        Ok(MemoryBudget { bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_written() {
        assert_eq!("512MiB".parse::<MemoryBudget>().unwrap().bytes, 512 << 20);
        assert_eq!("2GiB".parse::<MemoryBudget>().unwrap().bytes, 2 << 30);
        assert_eq!("1.5G".parse::<MemoryBudget>().unwrap().bytes, 3 << 29);
        assert_eq!("16777216".parse::<MemoryBudget>().unwrap().bytes, 16 << 20);
        assert!("1MiB".parse::<MemoryBudget>().unwrap_err().contains("smallest"));
        assert!("12 parsecs".parse::<MemoryBudget>().unwrap_err().contains("unit"));
        assert!("lots".parse::<MemoryBudget>().unwrap_err().contains("not a size"));
        assert!("off".parse::<MemoryBudget>().unwrap().is_off());
        for budget in [MemoryBudget::DEFAULT, MemoryBudget::OFF, MemoryBudget { bytes: 3 << 30 }] {
            assert_eq!(budget.to_string().parse::<MemoryBudget>().unwrap(), budget, "{budget}");
        }
    }

    #[test]
    fn only_reads_are_limited() {
        assert!(is_read("SELECT 1"));
        assert!(is_read("-- Which sessions…\n-- more\n  with x AS (SELECT 1) SELECT * FROM x"));
        assert!(!is_read("INSERT INTO session_summaries SELECT * FROM steps"));
        assert!(!is_read("-- a rebuild\nTRUNCATE TABLE session_summaries"));
        assert!(!is_read("ALTER TABLE steps DELETE WHERE 1"));
        assert!(!is_read("CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory"));
    }

    #[test]
    fn only_the_memory_limit_error_is_over_budget() {
        let budget = MemoryBudget::DEFAULT;
        let over = "Code: 241. DB::Exception: Query memory limit exceeded: would use 52.17 MiB, maximum: 48.00 MiB. (MEMORY_LIMIT_EXCEEDED)";
        assert!(matches!(budget.classify(over.into()), StoreError::OverMemoryBudget { .. }));
        let older = "Code: 241. DB::Exception: Memory limit (for query) exceeded: would use 9.00 MiB. (MEMORY_LIMIT_EXCEEDED)";
        assert!(matches!(budget.classify(older.into()), StoreError::OverMemoryBudget { .. }));
        // The server short of memory as a whole: load, not the question.
        let total = "Code: 241. DB::Exception: Memory limit (total) exceeded: would use 3.5 GiB. (MEMORY_LIMIT_EXCEEDED)";
        assert!(matches!(budget.classify(total.into()), StoreError::Engine(_)));
        assert!(matches!(MemoryBudget::OFF.classify(over.into()), StoreError::Engine(_)));
        let other = "Code: 60. DB::Exception: Unknown table expression identifier 'nope'. (UNKNOWN_TABLE)";
        assert!(matches!(budget.classify(other.into()), StoreError::Engine(_)));
    }

    #[test]
    fn spilling_starts_at_half_the_limit() {
        assert!(MemoryBudget::OFF.settings().is_empty());
        let s = MemoryBudget { bytes: 100 << 20 }.settings();
        assert_eq!(s[0], ("max_memory_usage", (100u64 << 20).to_string()));
        assert_eq!(s[1].1, (50u64 << 20).to_string());
        assert_eq!(s[2].1, (50u64 << 20).to_string());
    }
}
