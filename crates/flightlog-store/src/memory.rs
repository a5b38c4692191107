//! The memory one statement may use, enforced by ClickHouse itself on
//! either backend: a statement that would need more is stopped by the
//! engine with MEMORY_LIMIT_EXCEEDED (answered as
//! [`StoreError::OverMemoryBudget`]) instead of the process being killed,
//! and big GROUP BYs and sorts spill to disk before they get there.

use crate::StoreError;

/// Bytes per statement. With the embedded engine every read connection
/// may run one statement at once, so the process's query memory is at most
/// `readers × bytes` on top of the engine's own baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    pub bytes: u64,
}

/// ClickHouse's error code for a statement over `max_memory_usage`.
const MEMORY_LIMIT_EXCEEDED: &str = "MEMORY_LIMIT_EXCEEDED";
const MEMORY_LIMIT_EXCEEDED_CODE: &str = "Code: 241.";

impl MemoryBudget {
    /// 512 MiB: three readers at their limit and the engine's baseline
    /// stay under 2 GiB.
    pub const DEFAULT: MemoryBudget = MemoryBudget { bytes: 512 << 20 };

    /// The engine settings that enforce the budget, the same for both
    /// backends: the hard limit, and spilling at half of it so that a
    /// GROUP BY or ORDER BY over many keys slows down rather than fails.
    pub fn settings(&self) -> [(&'static str, String); 3] {
        let spill = (self.bytes / 2).to_string();
        [
            ("max_memory_usage", self.bytes.to_string()),
            ("max_bytes_before_external_group_by", spill.clone()),
            ("max_bytes_before_external_sort", spill),
        ]
    }

    /// The error for an engine's failure: over this budget, or the engine's
    /// own message.
    pub fn classify(&self, message: String) -> StoreError {
        if message.contains(MEMORY_LIMIT_EXCEEDED) || message.contains(MEMORY_LIMIT_EXCEEDED_CODE) {
            StoreError::OverMemoryBudget { budget: *self, detail: message }
        } else {
            StoreError::Engine(message)
        }
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl std::fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = self.bytes as f64 / (1u64 << 20) as f64;
        if mib >= 1024.0 {
            write!(f, "{:.1} GiB", mib / 1024.0)
        } else {
            write!(f, "{mib:.0} MiB")
        }
    }
}

/// A size as people write it: `512MiB`, `2GiB`, `1.5G`, `800M`, or bytes.
impl std::str::FromStr for MemoryBudget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
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
    }

    #[test]
    fn only_the_memory_limit_error_is_over_budget() {
        let budget = MemoryBudget::DEFAULT;
        let over = "Code: 241. DB::Exception: Memory limit (for query) exceeded: would use 9.00 MiB. (MEMORY_LIMIT_EXCEEDED)";
        assert!(matches!(budget.classify(over.into()), StoreError::OverMemoryBudget { .. }));
        let other = "Code: 60. DB::Exception: Unknown table expression identifier 'nope'. (UNKNOWN_TABLE)";
        assert!(matches!(budget.classify(other.into()), StoreError::Engine(_)));
    }

    #[test]
    fn spilling_starts_at_half_the_limit() {
        let s = MemoryBudget { bytes: 100 << 20 }.settings();
        assert_eq!(s[0], ("max_memory_usage", (100u64 << 20).to_string()));
        assert_eq!(s[1].1, (50u64 << 20).to_string());
        assert_eq!(s[2].1, (50u64 << 20).to_string());
    }
}
