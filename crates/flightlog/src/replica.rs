//! This process among the Flightlog processes that share one ClickHouse
//! server: its stable name, kept in its data folder, and the lock that lets
//! one process at a time use that folder. The writer lease relies on both:
//! a process that finds the lease held under its own name knows the
//! holder was itself before a restart (the lock says that one is gone), so
//! it takes the lease back at once instead of waiting for it to run out.

use anyhow::Context;
use rand::RngCore;
use std::fs::File;
use std::path::Path;

pub struct Replica {
    pub name: String,
    /// Held until the process exits (the kernel releases it on a crash).
    _lock: File,
}

impl Replica {
    pub fn claim(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("create {}", data_dir.display()))?;
        let lock_path = data_dir.join("replica.lock");
        let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).with_context(|| format!("open {}", lock_path.display()))?;
        lock.try_lock().map_err(|_| {
            anyhow::anyhow!("another `flightlog serve` is using {} (each process needs its own --data-dir)", data_dir.display())
        })?;
        let name_path = data_dir.join("replica-name");
        let name = match std::fs::read_to_string(&name_path) {
            Ok(name) if !name.trim().is_empty() => name.trim().to_string(),
            _ => {
                let mut bytes = [0u8; 8];
                rand::rng().fill_bytes(&mut bytes);
                let name = format!("{}-{}", crate::search::hostname(), hex::encode(bytes));
                std::fs::write(&name_path, format!("{name}\n")).with_context(|| format!("write {}", name_path.display()))?;
                name
            }
        };
        Ok(Self { name, _lock: lock })
    }
}
