//! The sled store's write steps: each runs on the writer thread, asks the
//! [`lifecycle`](crate::store::lifecycle) what a transition does, and writes
//! it with [`Step::apply`].

use schakel_proto::v1 as pb;

use super::SledStore;
use super::keys::{
    CASE, CONSENT, CONSENT_END, EXPIRY, IDEMPOTENCY, INBOX, LAPSE, LEASE, MESSAGES_UNDER_CONSENT,
    PURGE, key, ms, parse_from, u64_at,
};
use super::payloads::{Located, Payloads, Stored};
use super::reads::receipts_of;
use super::step::Step;
use crate::model::{Actor, ConsentId, Draft, MessageId, MessageRecord, Oin, Outcome, State, wire};
use crate::policy::quota::Quotas;
use crate::store::illegal;
use crate::store::lifecycle::{self, Finish, Illegal, Leasing, NotRevoked};
use crate::store::{
    AcceptOutcome, Finished, Leased, NewMessage, Revoked, StoreError, SweepReport, Take, Withdrawn,
    receipts,
};

/// How many items one sweep handles per kind, to bound the time the writer
/// thread is held; the rest waits for the next sweep.
const SWEEP_BATCH: usize = 10_000;

/// The keys under a time-ordered index (`prefix`, then a big-endian
/// millisecond time, then an id) that are due at `cutoff`, oldest first, at
/// most [`SWEEP_BATCH`], each with its time and id. Reads no further than
/// the first key not yet due: an index of a million messages that are not
/// due costs a sweep one read, not a scan that holds the writer up. A
/// damaged key is removed on the way (see [`drop_damaged`]).
fn due<T: std::str::FromStr>(
    step: &mut Step,
    prefix: u8,
    cutoff: i64,
) -> Result<Vec<(i64, T)>, StoreError>
where
    T::Err: std::fmt::Display,
{
    let mut out = Vec::new();
    let mut taken = Vec::new();
    let mut damaged = Vec::new();
    for kv in step.view().scan_prefix(&[prefix]) {
        if taken.len() + damaged.len() >= SWEEP_BATCH {
            break;
        }
        let (k, _) = kv?;
        let parsed = u64_at(&k, 1).and_then(|at| Ok((at as i64, parse_from::<T>(&k, 9)?)));
        match parsed {
            Ok((at, _)) if at > cutoff => break,
            Ok(entry) => {
                taken.push(k.to_vec());
                out.push(entry);
            }
            Err(e) => damaged.push((k.to_vec(), e)),
        }
    }
    for k in taken {
        step.remove(k);
    }
    for (k, e) in damaged {
        drop_damaged(step, &k, e);
    }
    Ok(out)
}

/// Removes an index key that does not hold what the layout says (a damaged
/// store), and says so in the log: an index can be rebuilt from the records,
/// and one bad key must not stop every sweep, or one inbox, for good.
fn drop_damaged(step: &mut Step, k: &[u8], e: StoreError) {
    tracing::error!(
        key = %String::from_utf8_lossy(k),
        error = %e,
        "removed a damaged index key"
    );
    step.remove(k.to_vec());
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

/// A key of the messages under a consent, with the id it names.
type UnderConsent = (::sled::IVec, Result<MessageId, StoreError>);

/// The keys of the messages under a consent, with the id each names.
fn under_consent(step: &Step, consent_id: &ConsentId) -> Result<Vec<UnderConsent>, StoreError> {
    let prefix = key(MESSAGES_UNDER_CONSENT, &[consent_id.as_str().as_bytes()]);
    step.view()
        .scan_prefix(&prefix)
        .map(|kv| {
            kv.map(|(k, _)| {
                let id = parse_from(&k, prefix.len());
                (k, id)
            })
        })
        .collect()
}

/// Withdraws every undelivered message under a consent, as `actor`.
fn withdraw_under(
    step: &mut Step,
    consent_id: &ConsentId,
    actor: Actor,
    detail: &str,
    now_ms: i64,
) -> Result<Vec<Withdrawn>, StoreError> {
    let mut out = Vec::new();
    for (k, id) in under_consent(step, consent_id)? {
        let id = match id {
            Ok(id) => id,
            Err(e) => {
                drop_damaged(step, &k, e);
                continue;
            }
        };
        step.remove(k.to_vec());
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

/// The messages under consent `consent_id` that their recipients hold
/// ([`lifecycle::held_by_recipient`]).
fn received_by_holders(
    step: &Step,
    consent_id: &ConsentId,
) -> Result<Vec<(Oin, MessageId)>, StoreError> {
    let mut held = Vec::new();
    for (_, id) in under_consent(step, consent_id)? {
        let Ok(id) = id else {
            continue;
        };
        if let Some(r) = step.record(&id)?
            && lifecycle::held_by_recipient(&r)
        {
            held.push((r.recipient, id));
        }
    }
    Ok(held)
}

/// Whether `org` was given (leased at least once) a message under consent
/// `consent_id`.
fn received_under(step: &Step, consent_id: &ConsentId, org: &Oin) -> Result<bool, StoreError> {
    for (_, id) in under_consent(step, consent_id)? {
        let Ok(id) = id else {
            continue;
        };
        if step
            .record(&id)?
            .is_some_and(|r| r.recipient == *org && r.attempts > 0)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

impl SledStore {
    pub(super) async fn accept_step(
        &self,
        message: NewMessage,
        audit: Draft,
        quotas: Quotas,
        now_ms: i64,
    ) -> Result<AcceptOutcome, StoreError> {
        let NewMessage {
            mut record,
            sealed_payload,
            about,
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
            tokio::task::spawn_blocking(move || payloads.write_file(&id, &sealed_payload))
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
                let held = super::reads::held_of(&step.view(), &record.recipient, &record.sender)?;
                if let Err(exceeded) = quotas.admits(held, record.payload_bytes) {
                    return Ok(AcceptOutcome::OverQuota(exceeded));
                }
                // What a message about signals does is decided before
                // anything is written.
                let amended = match &about {
                    Some(about) => {
                        let first = step.record(about.signal())?;
                        let second = match about.other() {
                            Some(other) => step.record(other)?,
                            None => None,
                        };
                        let parties = (&record.sender, &record.recipient);
                        match lifecycle::signals::decide(about, (first, second), parties, now_ms) {
                            Ok(amended) => amended,
                            Err(refused) => return Ok(AcceptOutcome::SignalRefused(refused)),
                        }
                    }
                    None => None,
                };
                // The accept's audit entry comes first in the step: its
                // sequence number is the message's place in the queue and its
                // receipt's cursor.
                let change = lifecycle::accept(&mut record, step.next_audit_seq(), audit)
                    .map_err(|e| illegal(&record, e))?;
                let id_bytes = record.id.as_str().as_bytes().to_vec();
                step.store_payload(record.id.clone(), payload);
                step.insert(idem, id_bytes.clone());
                step.insert(
                    key(CASE, &[record.case_id.as_str().as_bytes(), &id_bytes]),
                    vec![],
                );
                if let Some(consent_id) = record.consent_id() {
                    step.insert(
                        key(
                            MESSAGES_UNDER_CONSENT,
                            &[consent_id.as_str().as_bytes(), &id_bytes],
                        ),
                        vec![],
                    );
                }
                for notice in crate::policy::notices::on_accept(&record) {
                    super::notices::schedule(step, &notice)?;
                }
                let receipt = step
                    .apply(&mut record, change)?
                    .ok_or_else(|| illegal(&record, Illegal::NotNew))?;
                if let Some((mut signal, changes)) = amended {
                    step.apply_all(&mut signal, changes)?;
                }
                Ok(AcceptOutcome::Accepted(receipt))
            })
            .await;
        if in_file && !matches!(outcome, Ok(AcceptOutcome::Accepted(_))) {
            self.payloads().discard_file(&id)?;
        }
        outcome
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
            let received = c.registered_by != by && received_under(step, &consent_id, &by)?;
            let (audit, detail) = match lifecycle::revoke(&mut c, (&by, received), &reason, now_ms)
            {
                Ok(revoked) => revoked,
                Err(NotRevoked::NotYours) => return Ok(Revoked::NotYours),
                Err(NotRevoked::Already) => return Ok(Revoked::Already(Box::new(c))),
            };
            let id = consent_id.as_str().as_bytes();
            step.insert(key(CONSENT, &[id]), step.sealing().encode(&c)?);
            step.remove(key(CONSENT_END, &[&ms(c.ends_at_ms()), id]));
            step.audit(audit)?;
            if c.registered_by != by {
                let notice = crate::policy::notices::revoked(&c, &by, &reason, now_ms);
                super::notices::schedule(step, &notice)?;
            }
            for notice in crate::policy::notices::revoked_for_holders(
                &c,
                &by,
                &received_by_holders(step, &consent_id)?,
                now_ms,
            ) {
                super::notices::schedule(step, &notice)?;
            }
            let withdrawn = withdraw_under(step, &consent_id, by.into(), &detail, now_ms)?;
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
        let payloads = self.payloads().clone();
        // Large payloads' files are read after the step, off the writer.
        let leased = self
            .step(now_ms, move |step| {
                let mut leased = Vec::new();
                let mut withdrawn = 0;
                let mut used = 0;
                let max = take.messages;
                let inbox = key(INBOX, &[recipient.as_str().as_bytes()]);
                // Every entry handled below leaves the step's view of the inbox
                // (leased, expired, withdrawn or stale), so each round's scan
                // starts with entries not yet seen.
                'scan: while leased.len() < max {
                    let round: Vec<_> = step
                        .view()
                        .scan_prefix(&inbox)
                        .take(max - leased.len())
                        .collect::<Result<_, _>>()?;
                    if round.is_empty() {
                        break;
                    }
                    for (k, id) in round {
                        let id: MessageId = match parse_from(&id, 0) {
                            Ok(id) => id,
                            Err(e) => {
                                drop_damaged(step, &k, e);
                                continue;
                            }
                        };
                        let Some(mut r) = step.record(&id)? else {
                            step.remove(k.to_vec());
                            continue;
                        };
                        let consent = match r.consent_id() {
                            Some(c) => step.consent(c)?,
                            None => None,
                        };
                        let was_leased = r.state == State::Leased;
                        let Some(with) = take.fits(leased.len(), used, r.payload_bytes) else {
                            // It stays first in line for the next lease.
                            break 'scan;
                        };
                        match lifecycle::lease(&mut r, consent.as_ref(), now_ms, lease_ms) {
                            Ok(Leasing::Leased(change)) => {
                                let Some(payload) = payloads.locate(&id)? else {
                                    return Err(StoreError::Corrupt {
                                        key: id.to_string(),
                                        message: "queued message without payload".into(),
                                    });
                                };
                                step.apply(&mut r, change)?;
                                used = with;
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
                            Err(Illegal::NotReady(_)) => step.remove(k.to_vec()),
                            Err(e) => return Err(illegal(&r, e)),
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
                    let read = tokio::task::spawn_blocking(move || payloads.read_file(&id, len))
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
                Finish::NotLeased => Ok(Finished::NotLeased),
                Finish::Now(changes) => {
                    let receipt = step.apply_all(&mut r, changes)?;
                    if receipt.is_none() && r.kind.is_sent_by_organisations() {
                        return Err(illegal(&r, Illegal::NotFinal(r.state)));
                    }
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
                    Ok(Finished::already(same, r, receipt))
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
            for (until, id) in due::<MessageId>(step, LEASE, now_ms)? {
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
            for (_, id) in due::<MessageId>(step, EXPIRY, now_ms)? {
                let Some(mut r) = step.record(&id)? else {
                    continue;
                };
                if let Ok(change) = lifecycle::expire(&mut r, now_ms) {
                    step.apply(&mut r, change)?;
                    report.expired += 1;
                }
            }
            for (_, id) in due::<MessageId>(step, LAPSE, now_ms)? {
                let Some(mut r) = step.record(&id)? else {
                    continue;
                };
                if let Ok(change) = lifecycle::purge_at_lapse(&mut r, now_ms) {
                    step.apply(&mut r, change)?;
                    report.purged += 1;
                }
            }
            for (_, consent_id) in due::<ConsentId>(step, CONSENT_END, now_ms)? {
                let detail = lifecycle::lapse_detail(&consent_id);
                report.withdrawn.extend(withdraw_under(
                    step,
                    &consent_id,
                    Actor::Gateway,
                    &detail,
                    now_ms,
                )?);
            }
            for (_, id) in due::<MessageId>(step, PURGE, now_ms - retention_ms)? {
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
}
