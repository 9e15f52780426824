//! Group commit: many writers share one flush-and-fsync.
//!
//! Every write step is a job for one writer thread. The thread takes every
//! job waiting at that moment, runs them one after the other, makes the
//! store durable once (the sled store applies the group's writes as one
//! batch, then flushes and fsyncs its data file), and only then answers them
//! all. Jobs that arrive during a flush wait in the queue,
//! so under load the groups grow by themselves and hundreds of steps share
//! one fsync. Applying on the same thread that flushes matters for sled: its
//! writers block on a flush in progress, so applying from many threads would
//! serialise the steps behind every flush instead of overlapping them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::metrics::METRICS;
use crate::store::{StoreError, fault_message};

/// Most jobs in one group, so that a flush is never put off for long.
const MAX_GROUP: usize = 4096;

/// What a job leaves to do once the group is durable: answer its caller.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write step, run on the writer thread with its context; or, given the
/// reason the store cannot write, not run and answered with it.
type Job<C> = Box<dyn FnOnce(&mut C, Option<&str>) -> Completion + Send>;

/// The writer thread and the queue to it.
pub struct GroupCommit<C> {
    queue: Option<mpsc::Sender<Job<C>>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
    fault: Arc<Mutex<Option<String>>>,
    /// A retry after a fault is queued and not yet run: no second one is
    /// queued behind it (a writer stuck on a full disk would pile them up).
    retrying: Arc<std::sync::atomic::AtomicBool>,
}

/// Counters of the committer, for metrics and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// Steps committed.
    pub requests: AtomicU64,
    /// Flushes done (each makes a whole group durable).
    pub flushes: AtomicU64,
    /// Time spent flushing and syncing, in nanoseconds.
    pub flush_nanos: AtomicU64,
    /// Time spent applying steps (between taking a group's first job and
    /// starting its flush), in nanoseconds: what bounds throughput once
    /// flushes are shared.
    pub apply_nanos: AtomicU64,
}

impl<C: Send + 'static> GroupCommit<C> {
    /// Starts the writer thread with its context; `sync` makes everything
    /// applied so far durable.
    ///
    /// A step or a sync that panics is caught: its callers get an error and
    /// the thread goes on, so that one bad record cannot stop every write of
    /// the gateway. After a sync panicked, `reset` brings the context back in
    /// line with what is durable (the panic may have come half-way).
    ///
    /// A sync that fails (a full disk), or a step that fails on the disk,
    /// puts the store at fault: every later group first calls `probe`
    /// (which writes something small and makes it durable), and while that
    /// fails its steps are not run but answered [`StoreError::Unavailable`],
    /// so nothing changes in memory that the disk did not take. A probe that
    /// succeeds ends the fault.
    pub fn start(
        mut context: C,
        sync: impl Fn(&mut C) -> Result<(), String> + Send + 'static,
        reset: impl Fn(&mut C) + Send + 'static,
        probe: impl Fn(&mut C) -> Result<(), String> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job<C>>();
        let stats = Arc::new(Stats::default());
        let counters = stats.clone();
        let fault: Arc<Mutex<Option<String>>> = Arc::default();
        let at_fault = fault.clone();
        let thread = std::thread::Builder::new()
            .name("schakel-writer".into())
            .spawn(move || {
                let run = |job: Job<C>, context: &mut C| {
                    catch_unwind(AssertUnwindSafe(|| job(context, None))).ok()
                };
                // A sync that fails on the disk puts the store at fault; one
                // that panics fails its group only (the context is reset).
                let sync_caught = |context: &mut C| match catch_unwind(AssertUnwindSafe(|| sync(context))) {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => {
                        let message = fault_message(&e);
                        tracing::error!(error = %e, "{message}");
                        *lock(&at_fault) = Some(message.clone());
                        Err(message)
                    }
                    Err(_) => {
                        tracing::error!("the commit of a group panicked; its steps failed");
                        reset(context);
                        Err("the commit of a group failed unexpectedly; the gateway's log has the details".into())
                    }
                };
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    let faulty = lock(&at_fault).clone();
                    if let Some(reason) = faulty {
                        let probed = catch_unwind(AssertUnwindSafe(|| probe(&mut context)));
                        if matches!(probed, Ok(Ok(()))) {
                            tracing::warn!("the store writes again; the fault is over");
                            *lock(&at_fault) = None;
                        } else {
                            for job in group {
                                job(&mut context, Some(&reason))(Ok(()));
                            }
                            continue;
                        }
                    }
                    let applying = Instant::now();
                    let taken = group.len();
                    let mut done: Vec<Completion> = Vec::with_capacity(taken);
                    for job in group {
                        done.extend(run(job, &mut context));
                    }
                    if done.len() < taken {
                        tracing::error!(
                            failed = taken - done.len(),
                            "a write step panicked; its callers got an error and changed nothing"
                        );
                    }
                    let started = Instant::now();
                    counters
                        .apply_nanos
                        .fetch_add((started - applying).as_nanos() as u64, Ordering::Relaxed);
                    let result = sync_caught(&mut context);
                    METRICS.fsync_seconds.observe(started.elapsed().as_secs_f64());
                    METRICS.group_commit_size.observe(taken as f64);
                    counters.flushes.fetch_add(1, Ordering::Relaxed);
                    counters
                        .requests
                        .fetch_add(done.len() as u64, Ordering::Relaxed);
                    counters
                        .flush_nanos
                        .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    for answer in done {
                        answer(result.clone());
                    }
                }
            })?;
        Ok(Self {
            queue: Some(tx),
            thread: Some(thread),
            stats,
            fault,
            retrying: Arc::default(),
        })
    }

    /// After a fault, asks the writer to probe the disk again (once at a
    /// time): a probe that succeeds ends the fault. Answers at once if a
    /// retry is already waiting.
    pub async fn retry(&self) -> Result<(), StoreError> {
        if self.retrying.swap(true, Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                self.fault()
                    .unwrap_or_else(|| "a retry is under way".into()),
            ));
        }
        let retrying = self.retrying.clone();
        self.queue(
            |_: &mut C| Ok(()),
            move || retrying.store(false, Ordering::SeqCst),
        )
        .await
    }

    /// Why the store cannot write now, if a commit failed and no sync has
    /// succeeded since.
    pub fn fault(&self) -> Option<String> {
        lock(&self.fault).clone()
    }

    /// The committer's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Runs `step` on the writer thread and answers its result once it is
    /// durable. A step that fails changes nothing and is answered at once
    /// after the group's flush, like the others. While the store is at
    /// fault the step is refused at once, without waiting for a writer that
    /// a full disk may hold up.
    pub async fn run<T: Send + 'static>(
        &self,
        step: impl FnOnce(&mut C) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if let Some(reason) = self.fault() {
            return Err(StoreError::Unavailable(reason));
        }
        self.queue(step, || {}).await
    }

    /// Queues `step`; `taken` runs when the writer takes it, run or not.
    async fn queue<T: Send + 'static>(
        &self,
        step: impl FnOnce(&mut C) -> Result<T, StoreError> + Send + 'static,
        taken: impl FnOnce() + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let at_fault = self.fault.clone();
        let job: Job<C> = Box::new(move |context, fault| {
            taken();
            if let Some(reason) = fault {
                let refused = Err(StoreError::Unavailable(reason.to_owned()));
                return Box::new(move |_| {
                    let _ = tx.send(refused);
                });
            }
            let out = step(context);
            if let Err(StoreError::Io(e)) = &out {
                let message = fault_message(&e.to_string());
                tracing::error!("{message}");
                *lock(&at_fault) = Some(message);
            }
            Box::new(move |durable: Result<(), String>| {
                let _ = tx.send(durable.map_err(StoreError::Unavailable).and(out));
            })
        });
        let stopped = || StoreError::Engine("the writer thread has stopped".into());
        self.queue
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| {
            StoreError::Engine(
                "the write step failed unexpectedly; the gateway's log has the details".into(),
            )
        })?
    }
}

impl<C> Drop for GroupCommit<C> {
    fn drop(&mut self) {
        // Closing the queue ends the thread after its last flush; joining it
        // releases what it holds (the database) before the store is gone.
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_that_panics_fails_alone_and_the_writer_goes_on() {
        let commit = GroupCommit::start(0u32, |_| Ok(()), |_| {}, |_| Ok(())).unwrap();
        let bad = commit
            .run(|_: &mut u32| -> Result<(), StoreError> { panic!("a bad record") })
            .await;
        assert!(matches!(bad, Err(StoreError::Engine(_))));
        let good = commit
            .run(|n: &mut u32| {
                *n += 1;
                Ok(*n)
            })
            .await
            .unwrap();
        assert_eq!(good, 1);
        assert_eq!(commit.stats().requests.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_commit_that_panics_fails_its_group_and_resets_the_context() {
        // The context counts steps applied but not yet durable; a sync that
        // panics leaves them unknown, and the reset starts over.
        let commit = GroupCommit::start(
            0u32,
            |pending: &mut u32| {
                assert!(*pending < 2, "a damaged commit");
                *pending = 0;
                Ok(())
            },
            |pending: &mut u32| *pending = 0,
            |_| Ok(()),
        )
        .unwrap();
        let step = |n: &mut u32| {
            *n += 2;
            Ok(())
        };
        assert!(matches!(
            commit.run(step).await,
            Err(StoreError::Unavailable(_))
        ));
        let after = commit.run(|n: &mut u32| Ok(*n)).await.unwrap();
        assert_eq!(after, 0, "the context was reset");
    }

    #[tokio::test]
    async fn after_a_failed_sync_writes_are_refused_unrun_until_a_sync_succeeds() {
        use std::sync::atomic::AtomicU32;
        // The disk is full for three writes to it.
        let full = Arc::new(AtomicU32::new(3));
        let write = move |_: &mut u32| -> Result<(), String> {
            if full.load(Ordering::SeqCst) > 0 {
                full.fetch_sub(1, Ordering::SeqCst);
                return Err("No space left on device".into());
            }
            Ok(())
        };
        let commit = GroupCommit::start(0u32, write.clone(), |_| {}, write).unwrap();
        let add = |n: &mut u32| {
            *n += 1;
            Ok(*n)
        };
        // The first group is run and fails at its sync.
        let e = commit.run(add).await.unwrap_err().to_string();
        assert!(
            e.contains("No space left on device") && e.contains("free disk space"),
            "{e}"
        );
        assert!(commit.fault().is_some());
        // The next ones are refused at once, and retries probe the disk.
        assert!(matches!(
            commit.run(add).await,
            Err(StoreError::Unavailable(_))
        ));
        for _ in 0..2 {
            assert!(matches!(
                commit.retry().await,
                Err(StoreError::Unavailable(_))
            ));
            assert!(matches!(
                commit.run(add).await,
                Err(StoreError::Unavailable(_))
            ));
        }
        // Space again: the probe succeeds, and steps run again.
        commit.retry().await.unwrap();
        assert!(commit.fault().is_none());
        assert_eq!(commit.run(add).await.unwrap(), 2);
    }
}
