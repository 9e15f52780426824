//! The sled store's write steps: each runs on the writer thread, asks the
//! [`lifecycle`](crate::store::lifecycle) what a transition does, and writes
//! it with [`Step::apply`].

use schakel_proto::v1 as pb;

use super::SledStore;
use super::keys::{
    AUDIT, CHECKPOINT, CONSENT, CONSENT_BY_ORG, CONSENT_END, EXPIRY, IDEMPOTENCY, INBOX, LEASE,
    MESSAGES_UNDER_CONSENT, PARTICIPANT, PURGE, be, decode, encode, key, ms, parse_from, u64_at,
};
use super::payloads::{Located, Payloads, Stored};
use super::reads::receipts_of;
use super::step::Step;
use crate::model::{
    Actor, Checkpoint, ConsentId, ConsentRecord, Draft, Entry, MessageId, MessageRecord, Oin,
    Outcome, Participant, State, wire,
};
use crate::store::lifecycle::{self, Finish, Illegal, Leasing, NotRevoked};
use crate::store::{
    AcceptOutcome, Finished, Leased, NewMessage, ParticipantEdit, Revoked, StoreError, SweepReport,
    Withdrawn, receipts,
};

/// How many items one sweep handles per kind, to bound the time the writer
/// thread is held; the rest waits for the next sweep.
const SWEEP_BATCH: usize = 10_000;

/// The keys under a time-ordered index (`prefix`, then a big-endian
/// millisecond time, then an id) that are due at `cutoff`, oldest first, at
/// most [`SWEEP_BATCH`]. Stops at the first key not yet due.
fn due(step: &Step, prefix: u8, cutoff: i64) -> Result<Vec<::sled::IVec>, StoreError> {
    let mut out = Vec::new();
    for kv in step.view().scan_prefix(&[prefix]).take(SWEEP_BATCH) {
        let (k, _) = kv?;
        if u64_at(&k, 1)? as i64 > cutoff {
            break;
        }
        out.push(k);
    }
    Ok(out)
}

/// The receipt of `r`'s current state, as stored.
fn current_receipt(step: &Step, r: &MessageRecord) -> Result<Option<pb::Receipt>, StoreError> {
    Ok(receipts::last_of(
        receipts_of(&step.view(), r)?,
        wire::receipt_status(r.state),
    ))
}

/// Withdraws one undelivered message (its consent no longer holds).
fn withdraw(
    step: &mut Step,
    mut r: MessageRecord,
    changes: Vec<lifecycle::Change>,
    was_leased: bool,
) -> Result<Withdrawn, StoreError> {
    let receipt = step
        .apply_all(&mut r, changes)?
        .ok_or_else(|| StoreError::Corrupt {
            key: r.id.to_string(),
            message: "a withdrawal gave no receipt".into(),
        })?;
    Ok(Withdrawn {
        record: r,
        was_leased,
        receipt,
    })
}

/// Withdraws every undelivered message under a consent, as `actor`.
fn withdraw_under(
    step: &mut Step,
    consent_id: &ConsentId,
    actor: Actor,
    detail: &str,
    now_ms: i64,
) -> Result<Vec<Withdrawn>, StoreError> {
    let prefix = key(MESSAGES_UNDER_CONSENT, &[consent_id.as_str().as_bytes()]);
    let keys: Vec<_> = step
        .view()
        .scan_prefix(&prefix)
        .map(|kv| kv.map(|(k, _)| k))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for k in keys {
        step.remove(k.to_vec());
        let id: MessageId = parse_from(&k, prefix.len())?;
        let Some(mut r) = step.record(&id)? else {
            continue;
        };
        let was_leased = r.state == State::Leased;
        match lifecycle::withdraw(&mut r, actor.clone(), detail, now_ms) {
            Ok(changes) => out.push(withdraw(step, r, changes, was_leased)?),
            // Delivered, rejected or expired before: nothing to withdraw.
            Err(Illegal::Final(_)) => {}
            Err(e) => return Err(illegal(&r, e)),
        }
    }
    Ok(out)
}

/// A transition the life cycle refused where the store's own indexes said
/// it applies: the store is inconsistent.
fn illegal(r: &MessageRecord, e: Illegal) -> StoreError {
    StoreError::Corrupt {
        key: r.id.to_string(),
        message: e.to_string(),
    }
}

impl SledStore {
    pub(super) async fn insert_participant_step(
        &self,
        p: &Participant,
        audit: Draft,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let k = key(PARTICIPANT, &[p.oin.as_str().as_bytes()]);
        let value = encode(p)?;
        self.step(now_ms, move |step| {
            if step.view().get(&k)?.is_some() {
                return Ok(false);
            }
            step.insert(k, value);
            step.audit(audit)?;
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
        let k = key(PARTICIPANT, &[oin.as_str().as_bytes()]);
        self.step(now_ms, move |step| {
            let Some(v) = step.view().get(&k)? else {
                return Ok(None);
            };
            let mut p: Participant = decode(&k, &v)?;
            let audit = edit(&mut p);
            step.insert(k, encode(&p)?);
            step.audit(audit)?;
            Ok(Some(p))
        })
        .await
    }

    pub(super) async fn accept_step(
        &self,
        message: NewMessage,
        audit: Draft,
        max_inbox: u64,
        now_ms: i64,
    ) -> Result<AcceptOutcome, StoreError> {
        let NewMessage {
            mut record,
            sealed_payload,
        } = message;
        let id = record.id.clone();
        let idem = key(
            IDEMPOTENCY,
            &[
                record.sender.as_str().as_bytes(),
                record.client_reference.as_bytes(),
            ],
        );
        // A retry of a request already stored gets its answer from the step
        // (duplicate or conflict; idempotency keys are never removed), so a
        // retried dossier is not written to disk only to be discarded.
        let retry = self.tree().contains_key(&idem)?;
        let in_file = !retry && Payloads::is_large(sealed_payload.len());
        let payload = if in_file {
            let (payloads, id, len) = (self.payloads().clone(), id.clone(), sealed_payload.len());
            tokio::task::spawn_blocking(move || payloads.write_file(id.as_str(), &sealed_payload))
                .await
                .map_err(|e| StoreError::Engine(format!("payload writer: {e}")))??;
            Stored::File(len)
        } else {
            Stored::Inline(sealed_payload)
        };
        let outcome = self
            .step(now_ms, move |step| {
                if let Some(earlier) = step.view().get(&idem)? {
                    let earlier: MessageId = parse_from(&earlier, 0)?;
                    let earlier = step.record(&earlier)?.ok_or_else(|| StoreError::Corrupt {
                        key: earlier.to_string(),
                        message: "idempotency key points to no message".into(),
                    })?;
                    if earlier.request_digest != record.request_digest {
                        return Ok(AcceptOutcome::Conflict {
                            message_id: earlier.id,
                        });
                    }
                    let receipt = receipts::last_of(
                        receipts_of(&step.view(), &earlier)?,
                        pb::ReceiptStatus::Accepted,
                    )
                    .ok_or_else(|| StoreError::Corrupt {
                        key: earlier.id.to_string(),
                        message: "accepted message without ACCEPTED receipt".into(),
                    })?;
                    return Ok(AcceptOutcome::Duplicate {
                        record: Box::new(earlier),
                        receipt,
                    });
                }
                let (ready, leased) = super::reads::counts_of(&step.view(), &record.recipient)?;
                if ready + leased >= max_inbox {
                    return Ok(AcceptOutcome::InboxFull { limit: max_inbox });
                }
                // The accept's audit entry comes first in the step: its
                // sequence number is the message's place in the queue and its
                // receipt's cursor.
                let change = lifecycle::accept(&mut record, step.next_audit_seq(), audit)
                    .map_err(|e| illegal(&record, e))?;
                let id_bytes = record.id.as_str().as_bytes().to_vec();
                step.store_payload(record.id.clone(), payload);
                step.insert(idem, id_bytes.clone());
                if let Some(consent_id) = record.consent_id() {
                    step.insert(
                        key(
                            MESSAGES_UNDER_CONSENT,
                            &[consent_id.as_str().as_bytes(), &id_bytes],
                        ),
                        vec![],
                    );
                }
                let receipt = step
                    .apply(&mut record, change)?
                    .ok_or_else(|| illegal(&record, Illegal::NotNew))?;
                Ok(AcceptOutcome::Accepted(receipt))
            })
            .await;
        if in_file && !matches!(outcome, Ok(AcceptOutcome::Accepted(_))) {
            self.payloads().discard_file(id.as_str())?;
        }
        outcome
    }

    pub(super) async fn grant_consent_step(
        &self,
        consent: &ConsentRecord,
        audit: Draft,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let consent = consent.clone();
        self.step(now_ms, move |step| {
            let id = consent.id.as_str().as_bytes();
            step.insert(key(CONSENT, &[id]), encode(&consent)?);
            step.insert(
                key(
                    CONSENT_BY_ORG,
                    &[consent.registered_by.as_str().as_bytes(), id],
                ),
                vec![],
            );
            step.insert(key(CONSENT_END, &[&ms(consent.valid_until_ms), id]), vec![]);
            step.audit(audit)?;
            Ok(())
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
        self.step(now_ms, move |step| {
            let Some(mut c) = step.consent(&consent_id)? else {
                return Ok(Revoked::NotFound);
            };
            let (audit, detail) = match lifecycle::revoke(&mut c, &by, &reason, now_ms) {
                Ok(revoked) => revoked,
                Err(NotRevoked::NotYours) => return Ok(Revoked::NotYours),
                Err(NotRevoked::Already) => return Ok(Revoked::Already(Box::new(c))),
            };
            let id = consent_id.as_str().as_bytes();
            step.insert(key(CONSENT, &[id]), encode(&c)?);
            step.remove(key(CONSENT_END, &[&ms(c.valid_until_ms), id]));
            step.audit(audit)?;
            let withdrawn = withdraw_under(step, &consent_id, by.into(), &detail, now_ms)?;
            Ok(Revoked::Done {
                consent: Box::new(c),
                withdrawn,
            })
        })
        .await
    }

    pub(super) async fn append_audit_step(
        &self,
        drafts: Vec<Draft>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.step(now_ms, move |step| {
            for d in drafts {
                step.audit(d)?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn lease_step(
        &self,
        recipient: &Oin,
        max: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<Leased>, StoreError> {
        let recipient = recipient.clone();
        let payloads = self.payloads().clone();
        // Large payloads' files are read after the step, off the writer.
        let leased = self
            .step(now_ms, move |step| {
                let mut leased = Vec::new();
                let mut withdrawn = 0;
                let inbox = key(INBOX, &[recipient.as_str().as_bytes()]);
                // Every entry handled below leaves the step's view of the inbox
                // (leased, expired, withdrawn or stale), so each round's scan
                // starts with entries not yet seen.
                while leased.len() < max {
                    let round: Vec<_> = step
                        .view()
                        .scan_prefix(&inbox)
                        .take(max - leased.len())
                        .collect::<Result<_, _>>()?;
                    if round.is_empty() {
                        break;
                    }
                    for (k, id) in round {
                        let id: MessageId = parse_from(&id, 0)?;
                        let Some(mut r) = step.record(&id)? else {
                            step.remove(k.to_vec());
                            continue;
                        };
                        let consent = match r.consent_id() {
                            Some(c) => step.consent(c)?,
                            None => None,
                        };
                        let was_leased = r.state == State::Leased;
                        match lifecycle::lease(&mut r, consent.as_ref(), now_ms, lease_ms) {
                            Ok(Leasing::Leased(change)) => {
                                let Some(payload) = payloads.locate(id.as_str())? else {
                                    return Err(StoreError::Corrupt {
                                        key: id.to_string(),
                                        message: "queued message without payload".into(),
                                    });
                                };
                                step.apply(&mut r, change)?;
                                leased.push((r, payload));
                            }
                            Ok(Leasing::Expired(change)) => {
                                step.apply(&mut r, change)?;
                            }
                            Ok(Leasing::Withdrawn(changes)) => {
                                withdraw(step, r, changes, was_leased)?;
                                withdrawn += 1;
                            }
                            // A stale inbox entry: the message moved on.
                            Err(_) => step.remove(k.to_vec()),
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
            .await?;
        let mut out = Vec::with_capacity(leased.len());
        for (record, located) in leased {
            let sealed_payload = match located {
                Located::Inline(sealed) => sealed,
                Located::File(len) => {
                    let (payloads, id) = (self.payloads().clone(), record.id.clone());
                    let read =
                        tokio::task::spawn_blocking(move || payloads.read_file(id.as_str(), len))
                            .await
                            .map_err(|e| StoreError::Engine(format!("payload reader: {e}")))?;
                    match read {
                        Ok(sealed) => sealed,
                        // Withdrawn (payload destroyed) since the lease was
                        // taken: the recipient is told through the
                        // withdrawal notice, and its Ack answers WITHDRAWN.
                        Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            out.push(Leased {
                record,
                sealed_payload,
            });
        }
        Ok(out)
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
        self.step(now_ms, move |step| {
            let Some(mut r) = step.record(&message_id)? else {
                return Ok(Finished::NotFound);
            };
            match lifecycle::finish(&mut r, &recipient, &outcome, now_ms, retention_ms) {
                Finish::NotFound => Ok(Finished::NotFound),
                Finish::Now(changes) => {
                    let receipt = step
                        .apply_all(&mut r, changes)?
                        .ok_or_else(|| illegal(&r, Illegal::NotFinal(r.state)))?;
                    Ok(Finished::Done {
                        record: Box::new(r),
                        receipt,
                    })
                }
                Finish::Already { same, notice } => {
                    if let Some(notice) = notice {
                        step.apply(&mut r, *notice)?;
                    }
                    let receipt = current_receipt(step, &r)?;
                    Ok(match (same, receipt) {
                        (true, Some(receipt)) => Finished::Done {
                            record: Box::new(r),
                            receipt,
                        },
                        (_, receipt) => Finished::AlreadyFinal {
                            record: Box::new(r),
                            receipt,
                        },
                    })
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
        self.step(now_ms, move |step| {
            let mut report = SweepReport::default();
            for k in due(step, LEASE, now_ms)? {
                step.remove(k.to_vec());
                let until = u64_at(&k, 1)? as i64;
                let id: MessageId = parse_from(&k, 9)?;
                let Some(mut r) = step.record(&id)? else {
                    continue;
                };
                // A stale lease entry (the message was finished or leased
                // again) is only removed.
                let Ok(change) = lifecycle::requeue(&mut r, until) else {
                    continue;
                };
                step.apply(&mut r, change)?;
                report.requeued += 1;
                if !report.woken_recipients.contains(&r.recipient) {
                    report.woken_recipients.push(r.recipient.clone());
                }
            }
            for k in due(step, EXPIRY, now_ms)? {
                step.remove(k.to_vec());
                let id: MessageId = parse_from(&k, 9)?;
                let Some(mut r) = step.record(&id)? else {
                    continue;
                };
                if let Ok(change) = lifecycle::expire(&mut r, now_ms) {
                    step.apply(&mut r, change)?;
                    report.expired += 1;
                }
            }
            for k in due(step, CONSENT_END, now_ms)? {
                step.remove(k.to_vec());
                let consent_id: ConsentId = parse_from(&k, 9)?;
                let detail = lifecycle::lapse_detail(&consent_id);
                report.withdrawn.extend(withdraw_under(
                    step,
                    &consent_id,
                    Actor::Gateway,
                    &detail,
                    now_ms,
                )?);
            }
            for k in due(step, PURGE, now_ms - retention_ms)? {
                step.remove(k.to_vec());
                let id: MessageId = parse_from(&k, 9)?;
                let Some(mut r) = step.record(&id)? else {
                    continue;
                };
                if let Ok(change) =
                    lifecycle::purge(&mut r, "payload destroyed after its retention period")
                {
                    step.apply(&mut r, change)?;
                    report.purged += 1;
                }
            }
            Ok(report)
        })
        .await
    }

    pub(super) async fn checkpoint_step(
        &self,
        now_ms: i64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.step(now_ms, move |step| {
            let c = &step.counters;
            if c.audit_seq == 0 || c.audit_seq <= c.checkpoint_seq {
                return Ok(None);
            }
            let checkpoint = Checkpoint::sign(c.audit_seq, c.audit_hash, now_ms, step.signer());
            step.counters.checkpoint_seq = checkpoint.seq;
            step.insert(
                key(CHECKPOINT, &[&be(checkpoint.seq)]),
                encode(&checkpoint)?,
            );
            Ok(Some(checkpoint))
        })
        .await
    }

    pub(super) async fn prune_audit_step(
        &self,
        before_ms: i64,
        max: usize,
    ) -> Result<usize, StoreError> {
        self.step(before_ms, move |step| {
            let mut removed = 0;
            let oldest: Vec<_> = step
                .view()
                .scan_prefix(&[AUDIT])
                .take(max)
                .collect::<Result<_, _>>()?;
            for (k, v) in oldest {
                let entry: Entry = decode(&k, &v)?;
                // Never the newest entry: it anchors the chain that follows.
                if entry.time_ms >= before_ms || entry.seq >= step.counters.audit_seq {
                    break;
                }
                step.remove(k.to_vec());
                step.remove(key(CHECKPOINT, &[&be(entry.seq)]));
                step.counters.pruned_through = entry.seq;
                removed += 1;
            }
            Ok(removed)
        })
        .await
    }
}
