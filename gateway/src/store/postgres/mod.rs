//! The PostgreSQL engine of [`Store`], for deployments where several
//! gateway instances share one database (see `docs/DECISIONS.md`,
//! "PostgreSQL").
//!
//! Records are the JSON the sled engine stores; the columns beside them
//! stand for sled's index keys. Every write step runs on the instance's
//! writer ([`writer`]), many steps to a transaction, each group first
//! locking the audit head row, so that the groups of all instances are
//! serialised and the one audit chain stays linear. Leases are columns,
//! claimed with `FOR UPDATE SKIP LOCKED`; a client reference is unique by
//! a constraint. Reads go over a connection of their own.
//!
//! | file | concern |
//! | --- | --- |
//! | [`connection`] | reaching the database: TLS through rustls, the server checked against the operator's CA |
//! | [`schema`] | the versioned migrations in `gateway/migrations/postgres`, applied at start under an advisory lock |
//! | [`session`] | a connection with its prepared statements |
//! | [`writer`] | group commit: the writer task, a transaction per group, a savepoint per step |
//! | `tx` | what a step does in the transaction: messages and their columns, audit entries, receipts |
//! | `transitions` | the write steps of a message's life (and a consent's revocation) |
//! | `records` | the write steps of the directory, consents, notices and the audit chain's upkeep |
//! | `reads` | the reads of the trait |
//! | `import` | a copy of another engine's store written into an empty database |
//! | `scratch` (tests, and the `scratch` feature) | a real, throwaway PostgreSQL server for the tests |

/// Runs `$body` as one write step of `$store` at `$now`, with `$tx` the
/// step's [`writer::Tx`]; answers once the step's group is committed.
macro_rules! step {
    ($store:expr, $now:expr, move |$tx:ident| $body:block) => {
        $store.inner.writer.run(
            $now,
            move |mut owned: $crate::store::postgres::writer::Tx| async move {
                let out: Result<_, $crate::store::StoreError> = async {
                    let $tx = &mut owned;
                    $body
                }
                .await;
                (owned, out)
            },
        )
    };
}

mod cases;
pub mod connection;
mod import;
mod reads;
mod records;
pub mod schema;
#[cfg(any(test, feature = "scratch"))]
pub mod scratch;
mod sealing_step;
pub mod session;
#[cfg(test)]
mod tests;
mod transitions;
mod tree;
mod tree_reads;
mod tx;
pub mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use schakel_proto::v1 as pb;

use self::connection::Target;
use self::session::Session;
use self::writer::Writer;
use crate::crypto::Signer;
use crate::model::{
    CaseId, CaseRecord, Checkpoint, ConsentId, ConsentRecord, Draft, Entry, KeyCheck, MessageId,
    MessageRecord, Oin, Outcome, Participant, Scheduled,
};
use crate::policy::case_parties::CaseRefused;
use crate::policy::quota::Quotas;
use crate::store::receipts::{self, Receipts};
use crate::store::sealing::Sealing;
use crate::store::{
    AcceptOutcome, AuditKey, CaseEdit, DueNotice, Finished, InboxFigures, Leased, NewMessage,
    ParticipantEdit, Revoked, Room, Store, StoreError, SweepReport, Take,
};

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    writer: Writer,
    /// The readers' connection, opened again when it was lost.
    reader: tokio::sync::Mutex<Option<Arc<Session>>>,
    /// The connection that holds (or tries for) the upkeep lock, and
    /// whether it holds it.
    upkeep: tokio::sync::Mutex<Option<(Session, bool)>>,
    /// Signs receipts where they leave the store, and checkpoints.
    signer: Arc<dyn Signer>,
    /// Seals the child in its records.
    sealing: Arc<Sealing>,
    /// The database's size as last read, for the synchronous
    /// [`Store::size_on_disk`].
    size: Arc<AtomicU64>,
    /// When the size was last read: [`Store::room`] reads it again when it
    /// is older than [`SIZE_FRESH`].
    size_read: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How old the database's size may be for the free-space reserve: a flood
/// of large payloads can pass the bound by at most what arrives in this
/// time.
const SIZE_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

impl PostgresStore {
    /// Connects to the database of `target`, brings its schema to this
    /// gateway's version, and starts the writer on the current runtime;
    /// `signer` signs receipts and checkpoints, `sealing` seals the child
    /// in its records.
    pub async fn open(
        target: Target,
        signer: Arc<dyn Signer>,
        sealing: Arc<Sealing>,
    ) -> Result<Self, StoreError> {
        let mut first = Session::open(&target).await?;
        let database = first.database();
        schema::migrate(first.client_mut(), &database, schema::MIGRATIONS).await?;
        let sealed = sealing_step::seal_plain_records(&first, &sealing).await?;
        if sealed > 0 {
            tracing::info!(
                sealed,
                "child references of the records of schema version 2 sealed under the keys of their terms, and the tables rewritten"
            );
        }
        if let Some(leaves) = tree::build(&first, &sealing).await? {
            tracing::info!(
                leaves,
                "the audit log made a Merkle tree over the entries kept (schema version 5)"
            );
        }
        let writer = Writer::start(
            target.clone(),
            Session::open(&target).await?,
            sealing.clone(),
            signer.clone(),
        );
        let store = Self {
            inner: Arc::new(Inner {
                target,
                writer,
                reader: tokio::sync::Mutex::new(Some(Arc::new(first))),
                upkeep: tokio::sync::Mutex::new(None),
                signer,
                sealing,
                size: Arc::default(),
                size_read: std::sync::Mutex::new(None),
            }),
        };
        store.refresh_size().await;
        Ok(store)
    }

    /// The readers' connection, opened again if it was lost.
    async fn reader(&self) -> Result<Arc<Session>, StoreError> {
        let mut reader = self.inner.reader.lock().await;
        if let Some(s) = reader.as_ref().filter(|s| !s.is_closed()) {
            return Ok(s.clone());
        }
        *reader = None;
        let s = Arc::new(Session::open(&self.inner.target).await?);
        *reader = Some(s.clone());
        Ok(s)
    }

    /// Reads the database's size again.
    async fn refresh_size(&self) {
        let size = async {
            let bytes: i64 = self
                .reader()
                .await?
                .one("SELECT pg_database_size(current_database())", &[])
                .await?
                .get(0);
            Ok::<_, StoreError>(bytes)
        }
        .await;
        match size {
            Ok(bytes) => {
                self.inner
                    .size
                    .store(bytes.max(0) as u64, Ordering::Relaxed);
                *self
                    .inner
                    .size_read
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(std::time::Instant::now());
            }
            Err(e) => tracing::warn!(error = %e, "could not read the database's size"),
        }
    }

    /// Reads the database's size again when the last reading is older than
    /// [`SIZE_FRESH`].
    async fn refresh_size_if_stale(&self) {
        let read = *self
            .inner
            .size_read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if read.is_none_or(|at| at.elapsed() > SIZE_FRESH) {
            self.refresh_size().await;
        }
    }

    /// `out` with its receipts proved and signed, on the caller's task.
    async fn signed<T: Receipts>(&self, out: T) -> T {
        receipts::seal(out, self.inner.signer.as_ref(), self).await
    }
}

/// The advisory lock of the deployment's upkeep ("SCHK" and 2), held by
/// one gateway's upkeep connection for as long as that connection lives.
const UPKEEP_LOCK: i64 = 0x5343_484b_0000_0002;

#[async_trait]
impl Store for PostgresStore {
    async fn participant(&self, oin: &Oin) -> Result<Option<Participant>, StoreError> {
        self.participant_read(oin).await
    }

    async fn participants(&self) -> Result<Vec<Participant>, StoreError> {
        self.participants_read().await
    }

    async fn insert_participant(
        &self,
        p: &Participant,
        audit: Draft,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.insert_participant_step(p, audit, now_ms).await
    }

    async fn update_participant(
        &self,
        oin: &Oin,
        edit: ParticipantEdit,
        now_ms: i64,
    ) -> Result<Option<Participant>, StoreError> {
        self.update_participant_step(oin, edit, now_ms).await
    }

    async fn accept(
        &self,
        message: NewMessage,
        audit: Draft,
        quotas: Quotas,
        now_ms: i64,
    ) -> Result<AcceptOutcome, StoreError> {
        self.signed(self.accept_step(message, audit, quotas, now_ms).await)
            .await
    }

    async fn audit_head(&self) -> Result<(u64, u64), StoreError> {
        self.audit_head_read().await
    }

    async fn checkpoint(&self, now_ms: i64) -> Result<Option<Checkpoint>, StoreError> {
        self.checkpoint_step(now_ms).await
    }

    async fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.audit_entries_read(from, limit).await
    }

    async fn audit_entries_about(
        &self,
        about: &AuditKey,
        after: u64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        self.audit_entries_about_read(about, after, limit, now_ms)
            .await
    }

    async fn audit_checkpoints(&self, from: u64, to: u64) -> Result<Vec<Checkpoint>, StoreError> {
        self.audit_checkpoints_read(from, to).await
    }

    async fn audit_start(&self) -> Result<u64, StoreError> {
        self.audit_start_read().await
    }

    async fn prune_audit(
        &self,
        before_ms: i64,
        up_to_format: u32,
        max: usize,
    ) -> Result<usize, StoreError> {
        self.prune_audit_step(before_ms, up_to_format, max).await
    }

    async fn erase_child_refs(
        &self,
        before_ms: i64,
        max: usize,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.erase_child_refs_step(before_ms, max, now_ms).await
    }

    async fn grant_consent(
        &self,
        consent: &ConsentRecord,
        audit: Draft,
        notices: Vec<Scheduled>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.grant_consent_step(consent, audit, notices, now_ms)
            .await
    }

    async fn consent(&self, consent_id: &ConsentId) -> Result<Option<ConsentRecord>, StoreError> {
        self.consent_read(consent_id).await
    }

    async fn case_record(&self, case: &CaseId) -> Result<Option<CaseRecord>, StoreError> {
        self.case_record_read(case).await
    }

    async fn edit_case(
        &self,
        case: &CaseId,
        edit: CaseEdit,
        now_ms: i64,
    ) -> Result<Result<CaseRecord, CaseRefused>, StoreError> {
        self.edit_case_step(case, edit, now_ms).await
    }

    async fn consents_of(&self, oin: &Oin) -> Result<Vec<ConsentRecord>, StoreError> {
        self.consents_of_read(oin).await
    }

    async fn revoke_consent(
        &self,
        consent_id: &ConsentId,
        by: &Oin,
        reason: &str,
        now_ms: i64,
    ) -> Result<Revoked, StoreError> {
        self.signed(
            self.revoke_consent_step(consent_id, by, reason, now_ms)
                .await,
        )
        .await
    }

    async fn due_notices(&self, now_ms: i64, max: usize) -> Result<Vec<DueNotice>, StoreError> {
        self.due_notices_read(now_ms, max).await
    }

    async fn post_notice(
        &self,
        due: Vec<(i64, String)>,
        notice: Option<(NewMessage, Draft)>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.post_notice_step(due, notice, now_ms).await
    }

    async fn append_audit(&self, drafts: Vec<Draft>, now_ms: i64) -> Result<(), StoreError> {
        self.append_audit_step(drafts, now_ms).await
    }

    async fn lease(
        &self,
        recipient: &Oin,
        take: Take,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<Leased>, StoreError> {
        self.lease_step(recipient, take, now_ms, lease_ms).await
    }

    async fn finish(
        &self,
        recipient: &Oin,
        message_id: &MessageId,
        outcome: Outcome,
        now_ms: i64,
        retention_ms: i64,
    ) -> Result<Finished, StoreError> {
        self.signed(
            self.finish_step(recipient, message_id, outcome, now_ms, retention_ms)
                .await,
        )
        .await
    }

    async fn sweep(&self, now_ms: i64, retention_ms: i64) -> Result<SweepReport, StoreError> {
        self.signed(self.sweep_step(now_ms, retention_ms).await)
            .await
    }

    async fn message(&self, message_id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        self.message_read(message_id).await
    }

    async fn message_receipts(
        &self,
        message_id: &MessageId,
    ) -> Result<Vec<pb::Receipt>, StoreError> {
        self.signed(self.message_receipts_read(message_id).await)
            .await
    }

    async fn case_messages(&self, case: &CaseId) -> Result<Vec<MessageRecord>, StoreError> {
        self.case_messages_read(case).await
    }

    async fn receipts_after(
        &self,
        sender: &Oin,
        after_cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::Receipt)>, StoreError> {
        self.signed(self.receipts_after_read(sender, after_cursor, limit).await)
            .await
    }

    async fn inbox_figures(&self) -> Result<Vec<InboxFigures>, StoreError> {
        // The figures are read for metrics, now and then: the size with them.
        self.refresh_size().await;
        self.inbox_figures_read().await
    }

    async fn sender_figures(&self) -> Result<Vec<(Oin, u64)>, StoreError> {
        self.sender_figures_read().await
    }

    async fn room(&self) -> Result<Room, StoreError> {
        self.refresh_size_if_stale().await;
        Ok(Room::Database {
            used: self.inner.size.load(Ordering::Relaxed),
        })
    }

    async fn inbox_counts(&self, recipient: &Oin) -> Result<(u64, u64), StoreError> {
        self.inbox_counts_read(recipient).await
    }

    async fn upkeep_turn(&self) -> Result<bool, StoreError> {
        let mut upkeep = self.inner.upkeep.lock().await;
        if let Some((session, true)) = upkeep.as_ref()
            && !session.is_closed()
        {
            return Ok(true);
        }
        if upkeep.as_ref().is_none_or(|(s, _)| s.is_closed()) {
            *upkeep = Some((Session::open(&self.inner.target).await?, false));
        }
        let Some((session, held)) = upkeep.as_mut() else {
            return Ok(false);
        };
        *held = session
            .one("SELECT pg_try_advisory_lock($1)", &[&UPKEEP_LOCK])
            .await?
            .get(0);
        if *held {
            tracing::info!(
                "this gateway does the deployment's upkeep (sweeps, notices, audit upkeep)"
            );
        }
        Ok(*held)
    }

    async fn key_check(&self, mine: KeyCheck) -> Result<KeyCheck, StoreError> {
        let db = self.reader().await?;
        db.execute(
            "INSERT INTO key_check (record) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&tokio_postgres::types::Json(&mine)],
        )
        .await?;
        // Recorded by a release before term keys: this gateway's chain is
        // the store's from now on (the first to get here records it).
        db.execute(
            "UPDATE key_check SET record = jsonb_set(record::jsonb, '{term_key_check}', to_jsonb($1::text))::json
             WHERE coalesce(record->>'term_key_check', '') = ''",
            &[&mine.term_key_check],
        )
        .await?;
        let row = db.one("SELECT record FROM key_check", &[]).await?;
        tx::json(&row, 0, "key_check")
    }

    async fn flush(&self) -> Result<(), StoreError> {
        // Every step is committed before it answers; an empty step tries
        // the database again after a fault.
        step!(self, 0, move |_tx| { Ok(()) }).await
    }

    fn fault(&self) -> Option<String> {
        self.inner.writer.fault()
    }

    fn sealing(&self) -> &Sealing {
        &self.inner.sealing
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.size.load(Ordering::Relaxed))
    }
}
