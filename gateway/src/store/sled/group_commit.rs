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
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::store::StoreError;

/// Most jobs in one group, so that a flush is never put off for long.
const MAX_GROUP: usize = 4096;

/// What a job leaves to do once the group is durable: answer its caller.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write step, run on the writer thread with its context.
type Job<C> = Box<dyn FnOnce(&mut C) -> Completion + Send>;

/// The writer thread and the queue to it.
pub struct GroupCommit<C> {
    queue: Option<mpsc::Sender<Job<C>>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
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
    pub fn start(
        mut context: C,
        sync: impl Fn(&mut C) -> Result<(), String> + Send + 'static,
        reset: impl Fn(&mut C) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job<C>>();
        let stats = Arc::new(Stats::default());
        let counters = stats.clone();
        let thread = std::thread::Builder::new()
            .name("schakel-writer".into())
            .spawn(move || {
                let run = |job: Job<C>, context: &mut C| {
                    catch_unwind(AssertUnwindSafe(|| job(context))).ok()
                };
                while let Ok(first) = rx.recv() {
                    let applying = Instant::now();
                    let mut done: Vec<Completion> = run(first, &mut context).into_iter().collect();
                    let mut taken = 1;
                    while taken < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(job) => {
                                taken += 1;
                                done.extend(run(job, &mut context));
                            }
                            Err(_) => break,
                        }
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
                    let result = match catch_unwind(AssertUnwindSafe(|| sync(&mut context))) {
                        Ok(result) => result,
                        Err(_) => {
                            tracing::error!("the commit of a group panicked; its steps failed");
                            reset(&mut context);
                            Err("the commit of a group failed unexpectedly".into())
                        }
                    };
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
        })
    }

    /// The committer's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Runs `step` on the writer thread and answers its result once it is
    /// durable. A step that fails changes nothing and is answered at once
    /// after the group's flush, like the others.
    pub async fn run<T: Send + 'static>(
        &self,
        step: impl FnOnce(&mut C) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job<C> = Box::new(move |context| {
            let out = step(context);
            Box::new(move |durable: Result<(), String>| {
                let _ = tx.send(durable.map_err(StoreError::Engine).and(out));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_that_panics_fails_alone_and_the_writer_goes_on() {
        let commit = GroupCommit::start(0u32, |_| Ok(()), |_| {}).unwrap();
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
        )
        .unwrap();
        let step = |n: &mut u32| {
            *n += 2;
            Ok(())
        };
        assert!(matches!(commit.run(step).await, Err(StoreError::Engine(_))));
        let after = commit.run(|n: &mut u32| Ok(*n)).await.unwrap();
        assert_eq!(after, 0, "the context was reset");
    }
}
