//! The sled store's schedule of notices: written in the step that gives
//! rise to a notice (a consent registered or revoked, a message accepted),
//! read when due, and taken in the step that puts the notice in its
//! recipient's inbox, so that a notice is sent once.
//!
//! Every accepted message schedules its overdue notice, so that one is kept
//! small: a key without a value (`overdue-` and the message id), from which
//! the notice is made again, out of the message's record, when it is due.

use super::SledStore;
use super::keys::{NOTICE, decode, encode, notice_key, overdue_key, text_from, u64_at};
use super::step::Step;
use crate::model::{Draft, MessageId, NoticeDraft, NoticeType, Scheduled};
use crate::store::illegal;
use crate::store::lifecycle;
use crate::store::{DueNotice, NewMessage, StoreError};

/// Schedules `s` in `step`.
pub(super) fn schedule(step: &mut Step, s: &Scheduled) -> Result<(), StoreError> {
    let n = &s.notice;
    if let (NoticeType::MessageOverdue, [id]) = (n.notice_type, n.message_ids.as_slice()) {
        step.insert(overdue_key(s.at_ms, id), vec![]);
        return Ok(());
    }
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    step.insert(notice_key(s.at_ms, &id), encode(n)?);
    Ok(())
}

/// The overdue notice of message `id`, made from its record when due.
fn overdue_of(store: &SledStore, id: &str, key: &[u8]) -> Result<NoticeDraft, StoreError> {
    let id: MessageId = id
        .parse()
        .map_err(|e: crate::model::BadId| StoreError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            message: e.to_string(),
        })?;
    Ok(crate::policy::notices::overdue_when_due(
        &id,
        store.message_read(&id)?.as_ref(),
    ))
}

impl SledStore {
    pub(super) fn due_notices_read(
        &self,
        now_ms: i64,
        max: usize,
    ) -> Result<Vec<DueNotice>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree().scan_prefix([NOTICE]) {
            let (k, v) = kv?;
            let at_ms = u64_at(&k, 1)? as i64;
            if at_ms > now_ms || out.len() == max {
                break;
            }
            let id = text_from(&k, 9)?.to_owned();
            let notice = match id.strip_prefix(crate::store::OVERDUE_NOTICE) {
                Some(message) if v.is_empty() => overdue_of(self, message, &k)?,
                _ => decode(&k, &v)?,
            };
            out.push(DueNotice { at_ms, id, notice });
        }
        Ok(out)
    }

    pub(super) async fn post_notice_step(
        &self,
        due: Vec<(i64, String)>,
        notice: Option<(NewMessage, Draft)>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.step(now_ms, move |step| {
            let mut taken = 0;
            for (at_ms, id) in &due {
                let k = notice_key(*at_ms, id);
                if step.view().get(&k)?.is_some() {
                    step.remove(k);
                    taken += 1;
                }
            }
            if taken == 0 {
                return Ok(false);
            }
            if let Some((
                NewMessage {
                    mut record,
                    sealed_payload,
                    ..
                },
                audit,
            )) = notice
            {
                let change = lifecycle::accept(&mut record, step.next_audit_seq(), audit)
                    .map_err(|e| illegal(&record, e))?;
                step.store_payload(
                    record.id.clone(),
                    super::payloads::Stored::Inline(sealed_payload),
                );
                step.apply(&mut record, change)?;
            }
            Ok(true)
        })
        .await
    }
}
