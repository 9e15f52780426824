//! The sled store's write steps for what is not a message's life: the
//! directory, registering a consent, and the audit chain's own upkeep
//! (entries that go with no change, checkpoints, retention).

use super::SledStore;
use super::keys::{
    AUDIT, BY_CHILD, CHECKPOINT, CONSENT, CONSENT_BY_ORG, CONSENT_END, ERASE, ERASED_THROUGH,
    PARTICIPANT, audit_index_keys, be, decode, encode, key, ms, u64_at,
};
use super::step::Step;
use crate::model::{Checkpoint, ConsentRecord, Draft, Entry, Kind, Oin, Participant, Scheduled};

/// Child references erased in one step.
#[derive(Default)]
struct Erased {
    count: usize,
    last: u64,
}

impl Erased {
    /// Erases the child reference of entry `seq`, if it holds one and can
    /// lose it alone (an entry of the first format cannot).
    fn entry(&mut self, step: &mut Step, seq: u64) -> Result<(), StoreError> {
        let ak = key(AUDIT, &[&be(seq)]);
        // Removed whole already (a retention of entries).
        let Some(v) = step.view().get(&ak)? else {
            return Ok(());
        };
        let mut entry: Entry = step.sealing().decode(&ak, &v)?;
        // Its index key, while its term's key still makes it.
        let index = step.sealing().child_index(&entry);
        if entry.child_ref.is_some() && entry.erase_child_ref() {
            if let Some(form) = index {
                step.remove(key(BY_CHILD, &[&form, &be(seq)]));
            }
            step.insert(ak, step.sealing().encode(&entry)?);
            self.count += 1;
            self.last = self.last.max(seq);
        }
        Ok(())
    }
}
use crate::store::{ParticipantEdit, StoreError};

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

    pub(super) async fn grant_consent_step(
        &self,
        consent: &ConsentRecord,
        audit: Draft,
        notices: Vec<Scheduled>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let consent = consent.clone();
        self.step(now_ms, move |step| {
            for n in &notices {
                super::notices::schedule(step, n)?;
            }
            let id = consent.id.as_str().as_bytes();
            step.insert(key(CONSENT, &[id]), step.sealing().encode(&consent)?);
            step.insert(
                key(
                    CONSENT_BY_ORG,
                    &[consent.registered_by.as_str().as_bytes(), id],
                ),
                vec![],
            );
            step.insert(key(CONSENT_END, &[&ms(consent.ends_at_ms()), id]), vec![]);
            step.audit(audit)?;
            Ok(())
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

    pub(super) async fn erase_child_refs_step(
        &self,
        before_ms: i64,
        max: usize,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.step(now_ms, move |step| {
            let mut erased = Erased::default();
            // Entries about a signal, whose retention starts at its lapse,
            // by their schedule.
            // Both walks read no further than the first entry not yet due:
            // this runs every second, on the writer thread.
            let mut due = Vec::new();
            for kv in step.view().scan_prefix(&[ERASE]).take(max) {
                let (k, _) = kv?;
                if u64_at(&k, 1)? as i64 >= before_ms {
                    break;
                }
                due.push(k.to_vec());
            }
            for k in due {
                erased.entry(step, u64_at(&k, 9)?)?;
                step.remove(k);
            }
            // Every other entry in the order it was made, after a cursor:
            // its retention starts when it was made.
            let cursor_key = ERASED_THROUGH.to_vec();
            let mut cursor = match step.view().get(&cursor_key)? {
                Some(v) => u64_at(&v, 0)?,
                None => 0,
            };
            let start = cursor.max(step.counters.pruned_through) + 1;
            let mut page = Vec::new();
            for kv in step
                .view()
                .scan_from(&[AUDIT], &key(AUDIT, &[&be(start)]))
                .take(max)
            {
                let (k, v) = kv?;
                let entry: Entry = decode(&k, &v)?;
                if entry.time_ms >= before_ms {
                    break;
                }
                page.push((entry.seq, entry.kind));
            }
            for (seq, kind) in page {
                if kind != Some(Kind::Signalering) {
                    erased.entry(step, seq)?;
                }
                cursor = seq;
            }
            step.insert(cursor_key, be(cursor).to_vec());
            // Index keys of days whose keys are gone find nothing: removed.
            let below = key(BY_CHILD, &[&step.sealing().forgotten_below()]);
            let mut forgotten = Vec::new();
            for kv in step.view().scan_from(&[BY_CHILD], &[BY_CHILD]).take(max) {
                let (k, _) = kv?;
                if k.as_ref() >= below.as_slice() {
                    break;
                }
                forgotten.push(k.to_vec());
            }
            for k in forgotten {
                step.remove(k);
            }
            if erased.count > 0 {
                step.audit(Draft::child_refs_erased(erased.count, erased.last))?;
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
        self.step(before_ms, move |step| {
            let mut removed = 0;
            let mut oldest = Vec::new();
            for kv in step.view().scan_prefix(&[AUDIT]).take(max) {
                let (k, v) = kv?;
                let entry: Entry = step.sealing().decode(&k, &v)?;
                // Never the newest entry: it anchors the chain that follows.
                if entry.time_ms >= before_ms
                    || entry.seq >= step.counters.audit_seq
                    || entry.format > up_to_format
                {
                    break;
                }
                oldest.push((k.to_vec(), entry));
            }
            for (k, entry) in oldest {
                step.remove(k);
                step.remove(key(CHECKPOINT, &[&be(entry.seq)]));
                for index in audit_index_keys(&entry, step.sealing()) {
                    step.remove(index);
                }
                step.counters.pruned_through = entry.seq;
                removed += 1;
            }
            Ok(removed)
        })
        .await
    }
}
