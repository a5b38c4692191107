//! This process among the Flightlog processes that share one ClickHouse
//! server: its stable name, kept in its data folder, the lock that lets one
//! process at a time use that folder, and this run's own id. The writer
//! lease is held by a run: a process that finds it held by an earlier run
//! of its name takes it back once a renewal is overdue, sooner than a
//! stranger may; a copy of the folder (the same name, another run) that
//! sees the holder renew waits as any standby does.

use anyhow::Context;
use rand::RngCore;
use std::fs::File;
use std::path::Path;

pub struct Replica {
    pub name: String,
    /// This run of it: random, new at each start (the writer lease is
    /// held by a run, see flightlog-ingest's `LeaseOptions`).
    pub run: String,
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
        let mut run = [0u8; 8];
        rand::rng().fill_bytes(&mut run);
        let run = hex::encode(run);
        Ok(Self { name, run, _lock: lock })
    }
}
