//! Group commit over PostgreSQL: one writer task per gateway instance runs
//! every write step, and runs all the steps waiting at that moment in one
//! transaction, so that many sends share one commit (and one WAL flush).
//!
//! A group's transaction first locks the audit head row: that serialises
//! the groups of every instance over the database (every step appends to
//! the one audit chain), and as no group takes a row lock before it, two
//! groups never wait on each other in a circle. Each step runs under a
//! savepoint: a step that fails is rolled back alone and the group goes on,
//! as in the sled engine. The callers are answered once the commit is done.
//!
//! The writer's connection is opened again when it was lost (the database
//! restarted or failed over). While it cannot be, every step is refused
//! with [`StoreError::Unavailable`] and the store is at fault, which the
//! health service reports; the next step tries again.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::connection::Target;
use super::session::Session;
use schakel_proto::merkle::{Frontier, Hash};

use crate::crypto::{Digest, Signer};
use crate::metrics::METRICS;
use crate::store::StoreError;
use crate::store::sealing::Sealing;

/// Most steps in one group, so that a commit is never put off for long.
const MAX_GROUP: usize = 1024;

/// The head of the audit chain as a group's steps leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The newest entry's sequence number (0: none yet).
    pub seq: u64,
    /// The newest entry's hash.
    pub hash: Digest,
    /// The right edge of the audit log's tree.
    pub tree: Frontier,
    /// The sequence number of the tree's first leaf.
    pub tree_first: u64,
}

/// The tree nodes a group's steps completed, written at the group's end;
/// shared, so that a step that fails (or panics) takes back its own only.
pub type Nodes = Arc<Mutex<Vec<(u32, u64, Hash)>>>;

/// What a step works with: the writer's connection, inside the group's
/// transaction, and the chain's head.
pub struct Tx {
    /// The connection, in the group's transaction.
    pub db: Arc<Session>,
    /// The chain's head, as this and the earlier steps of the group left it.
    pub head: Head,
    /// The step's time (Unix ms).
    pub now_ms: i64,
    /// Seals the child in the records the step writes.
    pub sealing: Arc<Sealing>,
    /// The tree nodes the group's steps completed.
    pub nodes: Nodes,
}

/// What a step answers, its type erased on the way through the writer.
type Out = Result<Box<dyn Any + Send>, StoreError>;

/// A step waiting for the writer.
struct Job {
    now_ms: i64,
    step: Box<dyn FnOnce(Tx) -> BoxFuture<'static, (Tx, Out)> + Send>,
    answer: oneshot::Sender<Out>,
}

/// The writer task and the queue to it.
pub struct Writer {
    queue: mpsc::UnboundedSender<Job>,
    fault: Arc<Mutex<Option<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the callers of a step are told while the database cannot be
/// reached or a commit failed.
fn unreachable_message(e: &StoreError) -> String {
    format!(
        "the gateway could not write to its database ({e}); it refuses every write until it can again: check that PostgreSQL is up and reachable (the gateway's log has the details). Nothing answered ACCEPTED is lost"
    )
}

impl Writer {
    /// Starts the writer task on the current runtime, with `session` as its
    /// first connection to `target`; its steps seal with `sealing`, and
    /// `signer` signs the tree head of each group.
    pub fn start(
        target: Target,
        session: Session,
        sealing: Arc<Sealing>,
        signer: Arc<dyn Signer>,
    ) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let fault: Arc<Mutex<Option<String>>> = Arc::default();
        tokio::spawn(run(
            target,
            Some(Arc::new(session)),
            rx,
            fault.clone(),
            sealing,
            signer,
        ));
        Self { queue, fault }
    }

    /// Why the store cannot write now, if the last group could not reach
    /// the database.
    pub fn fault(&self) -> Option<String> {
        lock(&self.fault).clone()
    }

    /// Runs `step` at `now_ms` in the next group and answers its result
    /// once the group is committed.
    pub async fn run<T, F>(
        &self,
        now_ms: i64,
        step: impl FnOnce(Tx) -> F + Send + 'static,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = (Tx, Result<T, StoreError>)> + Send + 'static,
    {
        let (answer, rx) = oneshot::channel();
        let job = Job {
            now_ms,
            step: Box::new(move |tx| {
                step(tx)
                    .map(|(tx, out)| (tx, out.map(|t| Box::new(t) as Box<dyn Any + Send>)))
                    .boxed()
            }),
            answer,
        };
        let stopped = || StoreError::Engine("the database writer has stopped".into());
        self.queue.send(job).map_err(|_| stopped())?;
        let out = rx.await.map_err(|_| stopped())??;
        out.downcast::<T>()
            .map(|t| *t)
            .map_err(|_| StoreError::Engine("a write step answered the wrong type".into()))
    }
}

/// The writer task: takes every step waiting, runs them in one transaction,
/// commits, answers.
async fn run(
    target: Target,
    mut session: Option<Arc<Session>>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    fault: Arc<Mutex<Option<String>>>,
    sealing: Arc<Sealing>,
    signer: Arc<dyn Signer>,
) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let taken = group.len();
        let started = Instant::now();
        let (db, head) = match start(&mut session, &target).await {
            Ok(started) => started,
            Err(e) => {
                refuse(group, &fault, &e);
                continue;
            }
        };
        match commit_group(&db, head, group, &sealing, signer.as_ref()).await {
            Ok(()) => {
                if lock(&fault).take().is_some() {
                    tracing::warn!("the database takes writes again; the fault is over");
                }
            }
            Err((e, group)) => {
                if db.is_closed() {
                    session = None;
                }
                refuse(group, &fault, &e);
            }
        }
        METRICS
            .fsync_seconds
            .observe(started.elapsed().as_secs_f64());
        METRICS.group_commit_size.observe(taken as f64);
    }
}

/// The writer's connection, opened again if it was lost.
async fn connected(
    session: &mut Option<Arc<Session>>,
    target: &Target,
) -> Result<Arc<Session>, StoreError> {
    if let Some(s) = session.as_ref().filter(|s| !s.is_closed()) {
        return Ok(s.clone());
    }
    *session = None;
    let s = Arc::new(Session::open(target).await?);
    tracing::info!("the database writer connected");
    *session = Some(s.clone());
    Ok(s)
}

/// Starts a group's transaction on the writer's connection. A connection
/// found lost (the database restarted, or failed over to a standby) is
/// opened again once: no step has run yet, so nothing is lost by it.
async fn start(
    session: &mut Option<Arc<Session>>,
    target: &Target,
) -> Result<(Arc<Session>, Head), StoreError> {
    let db = connected(session, target).await?;
    match begin(&db).await {
        Ok(head) => Ok((db, head)),
        Err(e) if db.is_closed() => {
            tracing::warn!(error = %e, "the database connection was lost; connecting again");
            *session = None;
            let db = connected(session, target).await?;
            let head = begin(&db).await?;
            Ok((db, head))
        }
        Err(e) => Err(e),
    }
}

/// Answers every step of `group` that it was not run, and puts the store
/// at fault.
fn refuse(group: Vec<Job>, fault: &Mutex<Option<String>>, e: &StoreError) {
    let message = unreachable_message(e);
    tracing::error!("{message}");
    *lock(fault) = Some(message.clone());
    for job in group {
        let _ = job
            .answer
            .send(Err(StoreError::Unavailable(message.clone())));
    }
}

/// Runs `group` in the transaction `begin` started, and commits it; answers each step. On a
/// failure of the transaction itself, nothing of the group is kept and the
/// steps are handed back unanswered, with the error.
async fn commit_group(
    db: &Arc<Session>,
    head: Head,
    group: Vec<Job>,
    sealing: &Arc<Sealing>,
    signer: &dyn Signer,
) -> Result<(), (StoreError, Vec<Job>)> {
    let nodes = Nodes::default();
    let mut tx = Tx {
        db: db.clone(),
        head: head.clone(),
        now_ms: 0,
        sealing: sealing.clone(),
        nodes: nodes.clone(),
    };
    let mut group_ms = 0;
    let mut answers = Vec::with_capacity(group.len());
    let mut savepoint = false;
    let mut jobs = group.into_iter();
    while let Some(job) = jobs.next() {
        let mark = if savepoint {
            "RELEASE SAVEPOINT step; SAVEPOINT step"
        } else {
            "SAVEPOINT step"
        };
        if let Err(e) = db.batch(mark).await {
            return Err(abandon(db, e, answers, std::iter::once(job).chain(jobs)).await);
        }
        savepoint = true;
        let before = tx.head.clone();
        let nodes_before = lock(&nodes).len();
        tx.now_ms = job.now_ms;
        group_ms = group_ms.max(job.now_ms);
        let (after, out) = match std::panic::AssertUnwindSafe((job.step)(tx))
            .catch_unwind()
            .await
        {
            Ok(done) => done,
            Err(_) => {
                tracing::error!(
                    "a write step panicked; its caller got an error and changed nothing"
                );
                let lost = Tx {
                    db: db.clone(),
                    head: before.clone(),
                    now_ms: 0,
                    sealing: sealing.clone(),
                    nodes: nodes.clone(),
                };
                let failed = Err(StoreError::Engine(
                    "the write step failed unexpectedly; the gateway's log has the details".into(),
                ));
                (lost, failed)
            }
        };
        tx = after;
        if out.is_err() {
            tx.head = before;
            lock(&nodes).truncate(nodes_before);
            if let Err(e) = db.batch("ROLLBACK TO SAVEPOINT step").await {
                answers.push((job.answer, out));
                return Err(abandon(db, e, answers, jobs).await);
            }
        }
        answers.push((job.answer, out));
    }
    let done = async {
        if tx.head != head {
            // The group's nodes, its tree head and the row, sent together
            // (tokio-postgres pipelines them).
            let completed = std::mem::take(&mut *lock(&nodes));
            let grew = tx.head.tree.size() > head.tree.size();
            let edge = super::tree::edge_bytes(&tx.head.tree);
            let heads = async {
                match grew {
                    true => {
                        super::tree::write_head(
                            db,
                            &tx.head.tree,
                            tx.head.tree_first,
                            group_ms,
                            signer,
                        )
                        .await
                    }
                    false => Ok(()),
                }
            };
            let (seq, hash) = (tx.head.seq as i64, tx.head.hash.0.as_slice());
            let size = tx.head.tree.size() as i64;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                [&seq, &hash, &edge, &size];
            futures::try_join!(
                super::tree::write_nodes(db, &completed),
                heads,
                db.execute(
                    "UPDATE audit_head SET seq = $1, hash = $2, tree_edge = $3, tree_size = $4",
                    &params,
                ),
            )?;
        }
        db.batch("COMMIT").await
    }
    .await;
    match done {
        Ok(()) => {
            for (answer, out) in answers {
                let _ = answer.send(out);
            }
            Ok(())
        }
        Err(e) => Err(abandon(db, e, answers, std::iter::empty()).await),
    }
}

/// Starts a group's transaction and locks the audit head. On a failure
/// the transaction is rolled back, so that the next group starts afresh on
/// the same connection.
async fn begin(db: &Session) -> Result<Head, StoreError> {
    db.batch("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
    let head = lock_head(db).await;
    if head.is_err() {
        let _ = db.batch("ROLLBACK").await;
    }
    head
}

/// Locks the audit head row and reads it.
async fn lock_head(db: &Session) -> Result<Head, StoreError> {
    let row = db
        .one(
            "SELECT seq, hash, tree_first, tree_edge FROM audit_head FOR UPDATE",
            &[],
        )
        .await?;
    let seq: i64 = row.get(0);
    let hash: Vec<u8> = row.get(1);
    let hash = Digest(hash.try_into().map_err(|_| StoreError::Corrupt {
        key: "audit_head".into(),
        message: "the head hash is not 32 bytes".into(),
    })?);
    let tree_first: Option<i64> = row.get(2);
    let Some(tree_first) = tree_first.map(|f| f as u64) else {
        return Err(StoreError::Engine(
            "the audit log's tree is still to be built over the entries of an earlier release: restart the gateway, which builds it when it opens the store".into(),
        ));
    };
    let edge: Vec<u8> = row.get(3);
    let size = (seq as u64 + 1).saturating_sub(tree_first);
    Ok(Head {
        seq: seq as u64,
        hash,
        tree: super::tree::frontier_of(size, &edge)?,
        tree_first,
    })
}

/// Rolls back a group's transaction after `e`: the steps already run are
/// told so, the ones not run are handed back.
async fn abandon(
    db: &Session,
    e: StoreError,
    answers: Vec<(oneshot::Sender<Out>, Out)>,
    rest: impl Iterator<Item = Job>,
) -> (StoreError, Vec<Job>) {
    let _ = db.batch("ROLLBACK").await;
    let message = unreachable_message(&e);
    for (answer, _) in answers {
        let _ = answer.send(Err(StoreError::Unavailable(message.clone())));
    }
    (e, rest.collect())
}
