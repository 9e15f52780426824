//! The PostgreSQL store's write steps of a message's life (and a consent's
//! revocation): each asks the [`lifecycle`] what a transition does and
//! writes it with [`Tx::apply`], as the sled engine's do.

use schakel_proto::v1 as pb;
use tokio_postgres::types::Json;

use super::PostgresStore;
use super::tx::{MessageRow, consent_in, held_in, parsed, receipts_of, sealed, sql_limit};
use super::writer::Tx;
use crate::model::{Actor, ConsentId, Draft, MessageId, Oin, Outcome, State, wire};
use crate::policy::quota::Quotas;
use crate::store::lifecycle::{self, Finish, Illegal, Leasing, NotRevoked};
use crate::store::{
    AcceptOutcome, Finished, Leased, NewMessage, Revoked, StoreError, SweepReport, Take, Withdrawn,
    illegal, receipts,
};

/// How many items one sweep handles per kind, to bound the time a group
/// holds the audit head; the rest waits for the next sweep.
const SWEEP_BATCH: i64 = 10_000;

/// The receipt of `m`'s current state, as stored.
async fn current_receipt(tx: &Tx, m: &MessageRow) -> Result<Option<pb::Receipt>, StoreError> {
    Ok(receipts::last_of(
        receipts_of(&tx.db, &m.record).await?,
        wire::receipt_status(m.record.state),
    ))
}

/// Withdraws one undelivered message (its consent no longer holds).
async fn withdraw(
    tx: &mut Tx,
    mut m: MessageRow,
    changes: Vec<lifecycle::Change>,
    was_leased: bool,
) -> Result<Withdrawn, StoreError> {
    let receipt = tx
        .apply_all(&mut m, changes)
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            key: m.record.id.to_string(),
            message: "a withdrawal gave no receipt".into(),
        })?;
    Ok(Withdrawn {
        record: m.record,
        was_leased,
        receipt,
    })
}

/// The undelivered messages under a consent, their rows locked.
async fn undelivered_under(tx: &Tx, consent_id: &ConsentId) -> Result<Vec<MessageRow>, StoreError> {
    let ids: Vec<String> = tx
        .db
        .query(
            "SELECT id FROM messages WHERE consent_id = $1 AND expires_at_ms IS NOT NULL ORDER BY id",
            &[&consent_id.as_str()],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(tx.message(&parsed(&id)?).await?);
    }
    Ok(out)
}

/// Withdraws every undelivered message under a consent, as `actor`.
async fn withdraw_under(
    tx: &mut Tx,
    consent_id: &ConsentId,
    actor: Actor,
    detail: &str,
) -> Result<Vec<Withdrawn>, StoreError> {
    let mut out = Vec::new();
    for mut m in undelivered_under(tx, consent_id).await? {
        let was_leased = m.record.state == State::Leased;
        match lifecycle::withdraw(&mut m.record, actor.clone(), detail, tx.now_ms) {
            Ok(changes) => out.push(withdraw(tx, m, changes, was_leased).await?),
            Err(Illegal::Final(_)) => {}
            Err(e) => return Err(illegal(&m.record, e)),
        }
    }
    Ok(out)
}

impl PostgresStore {
    pub(super) async fn accept_step(
        &self,
        message: NewMessage,
        audit: Draft,
        quotas: Quotas,
        now_ms: i64,
    ) -> Result<AcceptOutcome, StoreError> {
        let NewMessage {
            record,
            sealed_payload,
            about,
        } = message;
        step!(self, now_ms, move |tx| {
            // Both reads in one round of the connection's pipeline.
            let earlier = async {
                tx.db
                    .opt(
                        "SELECT id FROM messages WHERE sender = $1 AND client_reference = $2",
                        &[&record.sender.as_str(), &record.client_reference],
                    )
                    .await
            };
            let (earlier, held) =
                tokio::try_join!(earlier, held_in(&tx.db, &record.recipient, &record.sender))?;
            if let Some(row) = earlier {
                let id: MessageId = parsed(row.get(0))?;
                let earlier = tx.message(&id).await?.ok_or_else(|| StoreError::Corrupt {
                    key: id.to_string(),
                    message: "the message of a client reference is gone".into(),
                })?;
                if earlier.record.request_digest != record.request_digest {
                    return Ok(AcceptOutcome::Conflict {
                        message_id: earlier.record.id,
                    });
                }
                let receipt = receipts::last_of(
                    receipts_of(&tx.db, &earlier.record).await?,
                    pb::ReceiptStatus::Accepted,
                )
                .ok_or_else(|| StoreError::Corrupt {
                    key: earlier.record.id.to_string(),
                    message: "accepted message without ACCEPTED receipt".into(),
                })?;
                return Ok(AcceptOutcome::Duplicate {
                    record: Box::new(earlier.record),
                    receipt,
                });
            }
            if let Err(exceeded) = quotas.admits(held, record.payload_bytes) {
                return Ok(AcceptOutcome::OverQuota(exceeded));
            }
            // What a message about signals does is decided before anything
            // is written, its signals' rows locked.
            let amended = match &about {
                Some(about) => {
                    let (first, cols) = match tx.message(about.signal()).await? {
                        Some(row) => (Some(row.record), row.cols),
                        None => (None, Default::default()),
                    };
                    let second = match about.other() {
                        Some(other) => tx.message(other).await?.map(|row| row.record),
                        None => None,
                    };
                    let parties = (&record.sender, &record.recipient);
                    match lifecycle::signals::decide(about, (first, second), parties, now_ms) {
                        Ok(amended) => amended.map(|(record, changes)| {
                            let row = MessageRow {
                                record,
                                cols,
                                stored: true,
                            };
                            (row, changes)
                        }),
                        Err(refused) => return Ok(AcceptOutcome::SignalRefused(refused)),
                    }
                }
                None => None,
            };
            let mut m = MessageRow {
                record,
                cols: Default::default(),
                stored: false,
            };
            // The accept's audit entry comes first in the step: its sequence
            // number is the message's place in the queue and its receipt's
            // cursor.
            let change = lifecycle::accept(&mut m.record, tx.next_audit_seq(), audit)
                .map_err(|e| illegal(&m.record, e))?;
            let receipt = tx
                .apply(&mut m, change)
                .await?
                .ok_or_else(|| illegal(&m.record, Illegal::NotNew))?;
            if let Some((mut signal, changes)) = amended {
                tx.apply_all(&mut signal, changes).await?;
            }
            // After the message's row, which the payload's refers to.
            let tx = &*tx;
            let notice = async {
                for notice in crate::policy::notices::on_accept(&m.record) {
                    tx.schedule_notice(&notice).await?;
                }
                Ok(())
            };
            let payload = async {
                tx.db
                    .execute(
                        "INSERT INTO payloads (message_id, sealed) VALUES ($1, $2)",
                        &[&m.record.id.as_str(), &sealed_payload],
                    )
                    .await
            };
            tokio::try_join!(payload, notice)?;
            Ok(AcceptOutcome::Accepted(receipt))
        })
        .await
    }

    pub(super) async fn revoke_consent_step(
        &self,
        consent_id: &ConsentId,
        by: &Oin,
        reason: &str,
        now_ms: i64,
    ) -> Result<Revoked, StoreError> {
        let (consent_id, by, reason) = (consent_id.clone(), by.clone(), reason.to_owned());
        step!(self, now_ms, move |tx| {
            let Some(mut c) = tx.consent(&consent_id).await? else {
                return Ok(Revoked::NotFound);
            };
            let received = c.registered_by != by
                && tx
                    .db
                    .opt(
                        "SELECT 1 FROM messages WHERE consent_id = $1 AND recipient = $2
                         AND (record->>'attempts')::bigint > 0 LIMIT 1",
                        &[&consent_id.as_str(), &by.as_str()],
                    )
                    .await?
                    .is_some();
            let (audit, detail) = match lifecycle::revoke(&mut c, (&by, received), &reason, now_ms)
            {
                Ok(revoked) => revoked,
                Err(NotRevoked::NotYours) => return Ok(Revoked::NotYours),
                Err(NotRevoked::Already) => return Ok(Revoked::Already(Box::new(c))),
            };
            tx.db
                .execute(
                    "UPDATE consents SET record = $2, ends_at_ms = NULL WHERE id = $1",
                    &[&consent_id.as_str(), &Json(&tx.sealing.to_value(&c)?)],
                )
                .await?;
            tx.audit(audit).await?;
            if c.registered_by != by {
                let notice = crate::policy::notices::revoked(&c, &by, &reason, now_ms);
                tx.schedule_notice(&notice).await?;
            }
            // The messages their recipients hold.
            let mut held = Vec::new();
            for row in tx
                .db
                .query(
                    "SELECT record FROM messages WHERE consent_id = $1 ORDER BY created_at_ms, id",
                    &[&consent_id.as_str()],
                )
                .await?
            {
                let r: crate::model::MessageRecord =
                    sealed(&row, 0, consent_id.as_str(), &tx.sealing)?;
                if lifecycle::held_by_recipient(&r) {
                    held.push((r.recipient, r.id));
                }
            }
            for notice in crate::policy::notices::revoked_for_holders(&c, &by, &held, now_ms) {
                tx.schedule_notice(&notice).await?;
            }
            let withdrawn = withdraw_under(tx, &consent_id, by.into(), &detail).await?;
            Ok(Revoked::Done {
                consent: Box::new(c),
                withdrawn,
            })
        })
        .await
    }

    pub(super) async fn lease_step(
        &self,
        recipient: &Oin,
        take: Take,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<Leased>, StoreError> {
        let recipient = recipient.clone();
        step!(self, now_ms, move |tx| {
            let mut leased = Vec::new();
            let mut withdrawn = 0;
            let mut used = 0;
            let max = take.messages;
            // Every row handled below leaves the inbox (leased, expired or
            // withdrawn), so each round starts with rows not yet seen. Rows
            // another transaction holds are skipped, never waited for.
            'scan: while leased.len() < max {
                let round = tx
                    .db
                    .query(
                        "SELECT record, queue_seq, leased_until_ms, expires_at_ms, final_at_ms, lapse_at_ms
                         FROM messages WHERE recipient = $1 AND queue_seq IS NOT NULL
                         ORDER BY queue_seq LIMIT $2 FOR UPDATE SKIP LOCKED",
                        &[&recipient.as_str(), &sql_limit(max - leased.len())],
                    )
                    .await?;
                if round.is_empty() {
                    break;
                }
                for row in &round {
                    let mut m = super::tx::message_row(row, &tx.sealing)?;
                    let consent = match m.record.consent_id() {
                        Some(c) => consent_in(&tx.db, &tx.sealing, c).await?,
                        None => None,
                    };
                    let was_leased = m.record.state == State::Leased;
                    let Some(with) = take.fits(leased.len(), used, m.record.payload_bytes) else {
                        // It stays first in line for the next lease.
                        break 'scan;
                    };
                    match lifecycle::lease(&mut m.record, consent.as_ref(), now_ms, lease_ms) {
                        Ok(Leasing::Leased(change)) => {
                            let payload = tx
                                .db
                                .opt(
                                    "SELECT sealed FROM payloads WHERE message_id = $1",
                                    &[&m.record.id.as_str()],
                                )
                                .await?
                                .ok_or_else(|| StoreError::Corrupt {
                                    key: m.record.id.to_string(),
                                    message: "queued message without payload".into(),
                                })?;
                            tx.apply(&mut m, change).await?;
                            used = with;
                            leased.push(Leased {
                                record: m.record,
                                sealed_payload: payload.get(0),
                            });
                        }
                        Ok(Leasing::Expired(change)) => {
                            tx.apply(&mut m, change).await?;
                        }
                        Ok(Leasing::Withdrawn(changes)) => {
                            withdraw(tx, m, changes, was_leased).await?;
                            withdrawn += 1;
                        }
                        // A row in the inbox whose record says otherwise:
                        // the record is the truth, the row leaves the inbox.
                        Err(Illegal::NotReady(state)) => {
                            tracing::error!(message = %m.record.id, ?state, "removed a message from an inbox it was not waiting in");
                            tx.db
                                .execute(
                                    "UPDATE messages SET queue_seq = NULL WHERE id = $1",
                                    &[&m.record.id.as_str()],
                                )
                                .await?;
                        }
                        Err(e) => return Err(illegal(&m.record, e)),
                    }
                }
            }
            if withdrawn > 0 {
                tracing::info!(
                    count = withdrawn,
                    "withdrew messages whose consent no longer holds"
                );
            }
            Ok(leased)
        })
        .await
    }

    pub(super) async fn finish_step(
        &self,
        recipient: &Oin,
        message_id: &MessageId,
        outcome: Outcome,
        now_ms: i64,
        retention_ms: i64,
    ) -> Result<Finished, StoreError> {
        let (recipient, message_id) = (recipient.clone(), message_id.clone());
        step!(self, now_ms, move |tx| {
            let Some(mut m) = tx.message(&message_id).await? else {
                return Ok(Finished::NotFound);
            };
            match lifecycle::finish(&mut m.record, &recipient, &outcome, now_ms, retention_ms) {
                Finish::NotFound => Ok(Finished::NotFound),
                Finish::NotLeased => Ok(Finished::NotLeased),
                Finish::Now(changes) => {
                    let receipt = tx.apply_all(&mut m, changes).await?;
                    if receipt.is_none() && m.record.kind.is_sent_by_organisations() {
                        return Err(illegal(&m.record, Illegal::NotFinal(m.record.state)));
                    }
                    Ok(Finished::Done {
                        record: Box::new(m.record),
                        receipt,
                    })
                }
                Finish::Already { same, notice } => {
                    if let Some(notice) = notice {
                        tx.apply(&mut m, *notice).await?;
                    }
                    let receipt = current_receipt(tx, &m).await?;
                    Ok(Finished::already(same, m.record, receipt))
                }
            }
        })
        .await
    }

    pub(super) async fn sweep_step(
        &self,
        now_ms: i64,
        retention_ms: i64,
    ) -> Result<SweepReport, StoreError> {
        step!(self, now_ms, move |tx| {
            let mut report = SweepReport::default();
            for mut m in due(tx, Due::Lease, now_ms).await? {
                let requeued = m
                    .cols
                    .leased_until_ms
                    .and_then(|until| lifecycle::requeue(&mut m.record, until).ok());
                let Some(change) = requeued else {
                    unschedule(tx, &m, Due::Lease).await?;
                    continue;
                };
                tx.apply(&mut m, change).await?;
                report.requeued += 1;
                if !report.woken_recipients.contains(&m.record.recipient) {
                    report.woken_recipients.push(m.record.recipient.clone());
                }
            }
            for mut m in due(tx, Due::Expiry, now_ms).await? {
                match lifecycle::expire(&mut m.record, now_ms) {
                    Ok(change) => {
                        tx.apply(&mut m, change).await?;
                        report.expired += 1;
                    }
                    Err(_) => unschedule(tx, &m, Due::Expiry).await?,
                }
            }
            for mut m in due(tx, Due::Lapse, now_ms).await? {
                match lifecycle::purge_at_lapse(&mut m.record, now_ms) {
                    Ok(change) => {
                        tx.apply(&mut m, change).await?;
                        report.purged += 1;
                    }
                    Err(_) => unschedule(tx, &m, Due::Lapse).await?,
                }
            }
            let ended: Vec<String> = tx
                .db
                .query(
                    "UPDATE consents SET ends_at_ms = NULL WHERE id IN (
                         SELECT id FROM consents WHERE ends_at_ms <= $1
                         ORDER BY ends_at_ms LIMIT $2)
                     RETURNING id",
                    &[&now_ms, &SWEEP_BATCH],
                )
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect();
            for id in ended {
                let Ok(consent_id) = id.parse::<ConsentId>() else {
                    tracing::error!(consent = %id, "a consent with a damaged id was not swept");
                    continue;
                };
                let detail = lifecycle::lapse_detail(&consent_id);
                report
                    .withdrawn
                    .extend(withdraw_under(tx, &consent_id, Actor::Gateway, &detail).await?);
            }
            for mut m in due(tx, Due::Retention, now_ms - retention_ms).await? {
                match lifecycle::purge(
                    &mut m.record,
                    "payload destroyed after its retention period",
                ) {
                    Ok(change) => {
                        tx.apply(&mut m, change).await?;
                        report.purged += 1;
                    }
                    Err(_) => unschedule(tx, &m, Due::Retention).await?,
                }
            }
            Ok(report)
        })
        .await
    }
}

/// The schedules a sweep walks, each a column of messages.
#[derive(Clone, Copy)]
enum Due {
    Lease,
    Expiry,
    Lapse,
    Retention,
}

/// The messages due on `schedule` at `cutoff`, oldest first, at most
/// [`SWEEP_BATCH`], their rows locked (rows another transaction holds are
/// left for the next sweep).
async fn due(tx: &Tx, schedule: Due, cutoff: i64) -> Result<Vec<MessageRow>, StoreError> {
    let sql = match schedule {
        Due::Lease => {
            "SELECT record, queue_seq, leased_until_ms, expires_at_ms, final_at_ms, lapse_at_ms
             FROM messages WHERE leased_until_ms <= $1 ORDER BY leased_until_ms LIMIT $2
             FOR UPDATE SKIP LOCKED"
        }
        Due::Expiry => {
            "SELECT record, queue_seq, leased_until_ms, expires_at_ms, final_at_ms, lapse_at_ms
             FROM messages WHERE expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT $2
             FOR UPDATE SKIP LOCKED"
        }
        Due::Lapse => {
            "SELECT record, queue_seq, leased_until_ms, expires_at_ms, final_at_ms, lapse_at_ms
             FROM messages WHERE lapse_at_ms <= $1 ORDER BY lapse_at_ms LIMIT $2
             FOR UPDATE SKIP LOCKED"
        }
        Due::Retention => {
            "SELECT record, queue_seq, leased_until_ms, expires_at_ms, final_at_ms, lapse_at_ms
             FROM messages WHERE final_at_ms <= $1 ORDER BY final_at_ms LIMIT $2
             FOR UPDATE SKIP LOCKED"
        }
    };
    let rows = tx.db.query(sql, &[&cutoff, &SWEEP_BATCH]).await?;
    rows.iter()
        .map(|row| super::tx::message_row(row, &tx.sealing))
        .collect()
}

/// Takes a message off a schedule whose transition no longer applies to it
/// (its record moved on): otherwise every sweep would find it again.
async fn unschedule(tx: &Tx, m: &MessageRow, schedule: Due) -> Result<(), StoreError> {
    let sql = match schedule {
        Due::Lease => "UPDATE messages SET leased_until_ms = NULL WHERE id = $1",
        Due::Expiry => "UPDATE messages SET expires_at_ms = NULL WHERE id = $1",
        Due::Lapse => "UPDATE messages SET lapse_at_ms = NULL WHERE id = $1",
        Due::Retention => "UPDATE messages SET final_at_ms = NULL WHERE id = $1",
    };
    tx.db.execute(sql, &[&m.record.id.as_str()]).await?;
    Ok(())
}
