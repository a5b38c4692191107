//! One thread for CPU work that runs behind ingestion (the detectors'
//! sentence model), at a lower scheduling priority: when it and the
//! requests compete for the cores, the requests win and this work waits;
//! when the cores are idle it runs at full speed. Without it, goal drift
//! reading every step's reasoning took half of the 2 cores that the
//! ingest needed (README, issue 15).
//!
//! On Linux the nice value belongs to a thread, not to the process: only
//! this thread is lowered. onnxruntime computes on the calling thread when
//! its model is loaded with one intra-op thread, which is how the
//! detectors load theirs.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

/// Added to the process's nice value: at +10 a busy thread gets about a
/// tenth of the share of a normal one on the same core.
const NICER_BY: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

pub struct LowPriorityThread {
    jobs: mpsc::Sender<Job>,
}

impl LowPriorityThread {
    pub fn start(name: &str) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new().name(name.to_string()).spawn(move || {
            lower_my_priority();
            for job in queue {
                // A job that panics is its caller's error (its answer is
                // dropped); the thread stays for the next.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
        })?;
        Ok(Self { jobs })
    }

    /// Runs `work` on the thread; waits for its result without holding an
    /// async worker.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = answer.send(work());
            }))
            .map_err(|_| "the low-priority thread has stopped".to_string())?;
        answered.await.map_err(|_| "the low-priority work panicked".to_string())
    }
}

#[cfg(target_os = "linux")]
fn lower_my_priority() {
    // glibc's nice() changes the calling thread's nice value on Linux; -1
    // is also a valid new value, so errno tells a failure.
    // SAFETY: plain system calls on the calling thread.
    let failed = unsafe {
        *libc::__errno_location() = 0;
        libc::nice(NICER_BY) == -1 && *libc::__errno_location() != 0
    };
    if failed {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot lower the priority of work behind ingestion; it competes with requests as an equal");
    }
}

/// Elsewhere nice() may lower the whole process: left as it is.
#[cfg(not(target_os = "linux"))]
fn lower_my_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn my_nice() -> i32 {
        // SAFETY: reads the calling thread's nice value.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[tokio::test]
    async fn work_runs_on_a_thread_nicer_than_the_caller_and_survives_a_panic() {
        let thread = LowPriorityThread::start("test-low").unwrap();
        let mine = my_nice();
        let theirs = thread.run(my_nice).await.unwrap();
        assert_eq!(theirs, (mine + NICER_BY).min(19), "caller {mine}, thread {theirs}");
        assert_eq!(my_nice(), mine, "the caller keeps its own");
        let err = thread.run(|| -> u8 { panic!("boom") }).await.unwrap_err();
        assert!(err.contains("panicked"), "{err}");
        assert_eq!(thread.run(|| 7).await.unwrap(), 7, "still running after a panic");
    }
}
