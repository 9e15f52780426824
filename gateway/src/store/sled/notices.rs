//! The sled store's schedule of notices: written in the step that gives
//! rise to a notice (a consent registered or revoked, a message accepted),
//! read when due, and taken in the step that puts the notice in its
//! recipient's inbox, so that a notice is sent once.

use super::SledStore;
use super::keys::{NOTICE, decode, encode, key, ms, text_from, u64_at};
use super::step::{Step, illegal};
use crate::model::{Draft, Scheduled};
use crate::store::lifecycle;
use crate::store::{DueNotice, NewMessage, StoreError};

/// The key of a scheduled notice.
fn notice_key(at_ms: i64, id: &str) -> Vec<u8> {
    key(NOTICE, &[&ms(at_ms), id.as_bytes()])
}

/// Schedules `s` in `step`.
pub(super) fn schedule(step: &mut Step, s: &Scheduled) -> Result<(), StoreError> {
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    step.insert(notice_key(s.at_ms, &id), encode(&s.notice)?);
    Ok(())
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
            out.push(DueNotice {
                at_ms,
                id: text_from(&k, 9)?.to_owned(),
                notice: decode(&k, &v)?,
            });
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
