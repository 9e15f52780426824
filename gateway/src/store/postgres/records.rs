//! The PostgreSQL store's write steps for what is not a message's life: the
//! directory, registering a consent, notices, and the audit chain's own
//! upkeep (entries that go with no change, checkpoints, retention).

use tokio_postgres::types::Json;

use super::PostgresStore;
use super::tx::{MessageRow, about_keys, child_key, json, sealed, sql_limit};
use super::writer::Tx;
use crate::model::{Checkpoint, ConsentRecord, Draft, Entry, Kind, Oin, Participant, Scheduled};
use crate::store::lifecycle;
use crate::store::{NewMessage, ParticipantEdit, StoreError, illegal};

/// Child references erased in one step.
#[derive(Default)]
struct Erased {
    count: usize,
    last: u64,
}

impl Erased {
    /// Erases the child reference of entry `seq`, if it holds one and can
    /// lose it alone (an entry of the first format cannot).
    async fn entry(&mut self, tx: &Tx, seq: u64) -> Result<(), StoreError> {
        let Some(row) = tx
            .db
            .opt("SELECT entry FROM audit WHERE seq = $1", &[&(seq as i64)])
            .await?
        else {
            // Removed whole already (a retention of entries).
            return Ok(());
        };
        let mut entry: Entry = sealed(&row, 0, &format!("audit entry {seq}"), &tx.sealing)?;
        // Its index keys, while its term's key still makes them.
        let index = child_key(&entry, &tx.sealing);
        if entry.child_ref.is_some() && entry.erase_child_ref() {
            if let Some(index) = index {
                tx.db
                    .execute(
                        "DELETE FROM audit_about WHERE about = $1 AND seq = $2",
                        &[&index, &(seq as i64)],
                    )
                    .await?;
            }
            tx.db
                .execute(
                    "UPDATE audit SET entry = $2 WHERE seq = $1",
                    &[&(seq as i64), &Json(&tx.sealing.to_value(&entry)?)],
                )
                .await?;
            self.count += 1;
            self.last = self.last.max(seq);
        }
        Ok(())
    }
}

impl PostgresStore {
    pub(super) async fn insert_participant_step(
        &self,
        p: &Participant,
        audit: Draft,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let p = p.clone();
        step!(self, now_ms, move |tx| {
            let added = tx
                .db
                .execute(
                    "INSERT INTO participants (oin, record) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&p.oin.as_str(), &Json(&p)],
                )
                .await?;
            if added == 0 {
                return Ok(false);
            }
            tx.audit(audit).await?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn update_participant_step(
        &self,
        oin: &Oin,
        edit: ParticipantEdit,
        now_ms: i64,
    ) -> Result<Option<Participant>, StoreError> {
        let oin = oin.clone();
        step!(self, now_ms, move |tx| {
            let Some(row) = tx
                .db
                .opt(
                    "SELECT record FROM participants WHERE oin = $1 FOR UPDATE",
                    &[&oin.as_str()],
                )
                .await?
            else {
                return Ok(None);
            };
            let mut p: Participant = json(&row, 0, oin.as_str())?;
            let audit = edit(&mut p);
            tx.db
                .execute(
                    "UPDATE participants SET record = $2 WHERE oin = $1",
                    &[&oin.as_str(), &Json(&p)],
                )
                .await?;
            tx.audit(audit).await?;
            Ok(Some(p))
        })
        .await
    }

    pub(super) async fn grant_consent_step(
        &self,
        consent: &ConsentRecord,
        audit: Draft,
        notices: Vec<Scheduled>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let consent = consent.clone();
        step!(self, now_ms, move |tx| {
            for n in &notices {
                tx.schedule_notice(n).await?;
            }
            tx.db
                .execute(
                    "INSERT INTO consents (id, registrant, ends_at_ms, record) VALUES ($1, $2, $3, $4)",
                    &[
                        &consent.id.as_str(),
                        &consent.registered_by.as_str(),
                        &consent.ends_at_ms(),
                        &Json(&tx.sealing.to_value(&consent)?),
                    ],
                )
                .await?;
            tx.audit(audit).await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn append_audit_step(
        &self,
        drafts: Vec<Draft>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        step!(self, now_ms, move |tx| {
            for d in drafts {
                tx.audit(d).await?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn post_notice_step(
        &self,
        due: Vec<(i64, String)>,
        notice: Option<(NewMessage, Draft)>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        step!(self, now_ms, move |tx| {
            let mut taken = 0;
            for (at_ms, id) in &due {
                taken += tx
                    .db
                    .execute(
                        "DELETE FROM notices WHERE due_ms = $1 AND id = $2",
                        &[at_ms, id],
                    )
                    .await?;
            }
            if taken == 0 {
                return Ok(false);
            }
            if let Some((
                NewMessage {
                    record,
                    sealed_payload,
                    ..
                },
                audit,
            )) = notice
            {
                let mut m = MessageRow {
                    record,
                    cols: Default::default(),
                    stored: false,
                };
                let change = lifecycle::accept(&mut m.record, tx.next_audit_seq(), audit)
                    .map_err(|e| illegal(&m.record, e))?;
                tx.apply(&mut m, change).await?;
                tx.db
                    .execute(
                        "INSERT INTO payloads (message_id, sealed) VALUES ($1, $2)",
                        &[&m.record.id.as_str(), &sealed_payload],
                    )
                    .await?;
            }
            Ok(true)
        })
        .await
    }

    pub(super) async fn checkpoint_step(
        &self,
        now_ms: i64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let signer = self.inner.signer.clone();
        step!(self, now_ms, move |tx| {
            let newest: i64 = tx
                .db
                .one("SELECT coalesce(max(seq), 0) FROM checkpoints", &[])
                .await?
                .get(0);
            if tx.head.seq == 0 || tx.head.seq <= newest as u64 {
                return Ok(None);
            }
            let checkpoint = Checkpoint::sign(tx.head.seq, tx.head.hash, now_ms, signer.as_ref());
            tx.db
                .execute(
                    "INSERT INTO checkpoints (seq, checkpoint) VALUES ($1, $2)",
                    &[&(checkpoint.seq as i64), &Json(&checkpoint)],
                )
                .await?;
            Ok(Some(checkpoint))
        })
        .await
    }

    pub(super) async fn erase_child_refs_step(
        &self,
        before_ms: i64,
        max: usize,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let max = sql_limit(max);
        step!(self, now_ms, move |tx| {
            let mut erased = Erased::default();
            // Entries about a signal, whose retention starts at its lapse,
            // by their schedule.
            let due: Vec<i64> = tx
                .db
                .query(
                    "DELETE FROM audit_erase WHERE (retention_from_ms, seq) IN (
                         SELECT retention_from_ms, seq FROM audit_erase
                         WHERE retention_from_ms < $1
                         ORDER BY retention_from_ms, seq LIMIT $2)
                     RETURNING seq",
                    &[&before_ms, &max],
                )
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect();
            for seq in due {
                erased.entry(tx, seq as u64).await?;
            }
            // Every other entry in the order it was made, after a cursor:
            // its retention starts when it was made.
            let row = tx
                .db
                .one("SELECT erased_through, start_seq FROM audit_head", &[])
                .await?;
            let (mut cursor, start): (i64, i64) = (row.get(0), row.get(1));
            let from = cursor.max(start - 1) + 1;
            let page = tx
                .db
                .query(
                    "SELECT entry FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    &[&from, &max],
                )
                .await?;
            for row in &page {
                let entry: Entry = sealed(row, 0, "audit entry", &tx.sealing)?;
                if entry.time_ms >= before_ms {
                    break;
                }
                if entry.kind != Some(Kind::Signalering) {
                    erased.entry(tx, entry.seq).await?;
                }
                cursor = entry.seq as i64;
            }
            tx.db
                .execute("UPDATE audit_head SET erased_through = $1", &[&cursor])
                .await?;
            // Index rows of days whose keys are gone find nothing: removed.
            let below = [b"h".as_slice(), &tx.sealing.forgotten_below()].concat();
            tx.db
                .execute(
                    "DELETE FROM audit_about WHERE about >= '\\x68'::bytea AND about < $1",
                    &[&below],
                )
                .await?;
            if erased.count > 0 {
                tx.audit(Draft::child_refs_erased(erased.count, erased.last))
                    .await?;
            }
            Ok(erased.count)
        })
        .await
    }

    pub(super) async fn prune_audit_step(
        &self,
        before_ms: i64,
        up_to_format: u32,
        max: usize,
    ) -> Result<usize, StoreError> {
        step!(self, before_ms, move |tx| {
            let start: i64 = tx
                .db
                .one("SELECT start_seq FROM audit_head", &[])
                .await?
                .get(0);
            let oldest = tx
                .db
                .query(
                    "SELECT entry FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    &[&start, &sql_limit(max)],
                )
                .await?;
            let mut removed = 0;
            let mut through = None;
            for row in &oldest {
                let entry: Entry = sealed(row, 0, "audit entry", &tx.sealing)?;
                // Never the newest entry: it anchors the chain that follows.
                if entry.time_ms >= before_ms
                    || entry.seq >= tx.head.seq
                    || entry.format > up_to_format
                {
                    break;
                }
                let seq = entry.seq as i64;
                let about = about_keys(&entry, &tx.sealing);
                tx.db
                    .execute(
                        "DELETE FROM audit_about WHERE about = ANY($1) AND seq = $2",
                        &[&about, &seq],
                    )
                    .await?;
                tx.db
                    .execute("DELETE FROM checkpoints WHERE seq = $1", &[&seq])
                    .await?;
                tx.db
                    .execute("DELETE FROM audit WHERE seq = $1", &[&seq])
                    .await?;
                through = Some(seq);
                removed += 1;
            }
            if let Some(through) = through {
                tx.db
                    .execute("UPDATE audit_head SET start_seq = $1", &[&(through + 1)])
                    .await?;
            }
            Ok(removed)
        })
        .await
    }
}
