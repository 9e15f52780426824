//! Receipts, made the same way by every engine: the record's new state, at
//! the step's time, naming the audit entry of the event, signed over the
//! documented encoding of `schakel_proto::receipt`.
//!
//! A step stores its receipts unsigned: the writer only orders, applies and
//! syncs. A receipt is signed where it leaves the store, on the caller's
//! thread, once its step is durable ([`Sign`]). Ed25519 is deterministic, so
//! a receipt handed out twice by the same key is the same bytes. A receipt
//! stored signed (by a store written before this rule, or signed by a key
//! since retired) is handed out as stored.

use schakel_proto::v1 as pb;

use crate::crypto::Signer;
use crate::model::{MessageRecord, wire};
use crate::store::{AcceptOutcome, Finished, Revoked, SweepReport, Withdrawn};

/// The sender's receipt for the state `r` is now in, with `detail`, naming
/// audit entry `audit_seq`, not yet signed.
pub fn unsigned(r: &MessageRecord, detail: &str, audit_seq: u64, now_ms: i64) -> pb::Receipt {
    wire::unsigned_receipt(r, wire::receipt_status(r.state), detail, audit_seq, now_ms)
}

/// The last receipt of `status` among `receipts`, oldest first.
pub fn last_of(receipts: Vec<pb::Receipt>, status: pb::ReceiptStatus) -> Option<pb::Receipt> {
    receipts
        .into_iter()
        .rev()
        .find(|r| r.status == status as i32)
}

/// What carries receipts out of the store: signs every one not signed yet.
pub trait Sign {
    /// Signs, with `signer`, every receipt in `self` that has no signature.
    fn sign(&mut self, signer: &dyn Signer);
}

impl Sign for pb::Receipt {
    fn sign(&mut self, signer: &dyn Signer) {
        if !self.signature.is_empty() {
            return;
        }
        self.key_id = signer.key_id().to_owned();
        self.signature = signer
            .sign_bytes(&schakel_proto::receipt::signing_bytes(self))
            .as_bytes()
            .to_vec();
    }
}

impl<T: Sign> Sign for Option<T> {
    fn sign(&mut self, signer: &dyn Signer) {
        if let Some(t) = self {
            t.sign(signer);
        }
    }
}

impl<T: Sign> Sign for Vec<T> {
    fn sign(&mut self, signer: &dyn Signer) {
        for t in self {
            t.sign(signer);
        }
    }
}

impl<T: Sign> Sign for Result<T, crate::store::StoreError> {
    fn sign(&mut self, signer: &dyn Signer) {
        if let Ok(t) = self {
            t.sign(signer);
        }
    }
}

impl Sign for (u64, pb::Receipt) {
    fn sign(&mut self, signer: &dyn Signer) {
        self.1.sign(signer);
    }
}

impl Sign for AcceptOutcome {
    fn sign(&mut self, signer: &dyn Signer) {
        match self {
            AcceptOutcome::Accepted(receipt) | AcceptOutcome::Duplicate { receipt, .. } => {
                receipt.sign(signer)
            }
            AcceptOutcome::Conflict { .. }
            | AcceptOutcome::OverQuota(_)
            | AcceptOutcome::SignalRefused(_) => {}
        }
    }
}

impl Sign for Finished {
    fn sign(&mut self, signer: &dyn Signer) {
        match self {
            Finished::Done { receipt, .. } | Finished::AlreadyFinal { receipt, .. } => {
                receipt.sign(signer)
            }
            Finished::NotFound | Finished::NotLeased => {}
        }
    }
}

impl Sign for Withdrawn {
    fn sign(&mut self, signer: &dyn Signer) {
        self.receipt.sign(signer);
    }
}

impl Sign for Revoked {
    fn sign(&mut self, signer: &dyn Signer) {
        if let Revoked::Done { withdrawn, .. } = self {
            withdrawn.sign(signer);
        }
    }
}

impl Sign for SweepReport {
    fn sign(&mut self, signer: &dyn Signer) {
        self.withdrawn.sign(signer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;

    fn receipt() -> pb::Receipt {
        pb::Receipt {
            message_id: "m".into(),
            status: pb::ReceiptStatus::Accepted as i32,
            audit_sequence: 7,
            ..Default::default()
        }
    }

    #[test]
    fn signing_is_deterministic_and_a_signed_receipt_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(dir.path()).unwrap();
        let (mut once, mut twice) = (receipt(), receipt());
        once.sign(&key);
        twice.sign(&key);
        assert_eq!(once, twice, "the same key signs the same bytes alike");
        assert_eq!(once.key_id, key.key_id());
        assert_eq!(once.signature.len(), 64);
        let other_dir = tempfile::tempdir().unwrap();
        let other = SigningKey::load_or_create(other_dir.path()).unwrap();
        let kept = once.clone();
        once.sign(&other);
        assert_eq!(once, kept, "a receipt stored signed keeps its signature");
    }
}
