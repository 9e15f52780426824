//! Receipts, made the same way by every engine: the record's new state, at
//! the step's time, naming the audit entry of the event, proved in the
//! audit log's tree under a signed tree head.
//!
//! A step stores its receipts bare: the writer only orders, applies and
//! syncs. A receipt gets its proof where it leaves the store, on the
//! caller's thread, once its step is durable ([`seal`]). One signature per
//! group commit (the tree head) stands for every receipt of the group; the
//! per-receipt Ed25519 signature of earlier releases is made only for a
//! caller who asks for it (in the API layer, with [`sign`]) and for a
//! receipt whose proof could not be read. Ed25519 is deterministic, so a
//! receipt handed out twice by the same key is the same bytes. A receipt
//! stored signed (by a store written before this rule, or signed by a key
//! since retired) is handed out as stored.

use schakel_proto::v1 as pb;

use crate::crypto::{Digest, Signer};
use crate::model::{MessageRecord, wire};
use crate::store::tree_proofs;
use crate::store::{
    AcceptOutcome, Finished, Revoked, StoreError, SweepReport, TreeReads, Withdrawn,
};

/// The sender's receipt for the state `r` is now in, with `detail`, naming
/// audit entry `audit_seq`, not yet signed.
pub fn unsigned(r: &MessageRecord, detail: &str, audit_seq: u64, now_ms: i64) -> pb::Receipt {
    wire::unsigned_receipt(r, wire::receipt_status(r.state), detail, audit_seq, now_ms)
}

/// Names, in `receipt`, the audit entry its event placed (of leaf
/// `leaf_index` in the log's tree, of hash `entry_hash`), so that it can be proved in the tree.
pub fn place(receipt: &mut pb::Receipt, entry_hash: &Digest, leaf_index: u64) {
    receipt.audit_entry_hash = entry_hash.0.to_vec();
    receipt.leaf_index = leaf_index;
}

/// The last receipt of `status` among `receipts`, oldest first.
pub fn last_of(receipts: Vec<pb::Receipt>, status: pb::ReceiptStatus) -> Option<pb::Receipt> {
    receipts
        .into_iter()
        .rev()
        .find(|r| r.status == status as i32)
}

/// What carries receipts out of the store: every receipt in it, visited
/// once, so that the store proves and signs them in one place
/// ([`seal`]).
pub trait Receipts {
    /// Calls `f` on every receipt in `self`.
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt));
}

impl Receipts for pb::Receipt {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        f(self)
    }
}

impl<T: Receipts> Receipts for Option<T> {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        if let Some(t) = self {
            t.each(f);
        }
    }
}

impl<T: Receipts> Receipts for Vec<T> {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        for t in self {
            t.each(f);
        }
    }
}

impl<T: Receipts> Receipts for Result<T, StoreError> {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        if let Ok(t) = self {
            t.each(f);
        }
    }
}

impl Receipts for (u64, pb::Receipt) {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        f(&mut self.1)
    }
}

impl Receipts for AcceptOutcome {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        match self {
            AcceptOutcome::Accepted(receipt) | AcceptOutcome::Duplicate { receipt, .. } => {
                f(receipt)
            }
            AcceptOutcome::Conflict { .. }
            | AcceptOutcome::OverQuota(_)
            | AcceptOutcome::SignalRefused(_) => {}
        }
    }
}

impl Receipts for Finished {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        match self {
            Finished::Done { receipt, .. } | Finished::AlreadyFinal { receipt, .. } => {
                receipt.each(f)
            }
            Finished::NotFound | Finished::NotLeased => {}
        }
    }
}

impl Receipts for Withdrawn {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        f(&mut self.receipt)
    }
}

impl Receipts for Revoked {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        if let Revoked::Done { withdrawn, .. } = self {
            withdrawn.each(f);
        }
    }
}

impl Receipts for SweepReport {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        self.withdrawn.each(f);
    }
}

/// Signs `r` with `signer` over the documented encoding of
/// `schakel_proto::receipt`, unless it was stored signed: the per-receipt
/// signature that clients of earlier releases verify.
pub fn sign(r: &mut pb::Receipt, signer: &dyn Signer) {
    if !r.signature.is_empty() {
        return;
    }
    r.key_id = signer.key_id().to_owned();
    r.signature = signer
        .sign_bytes(&schakel_proto::receipt::signing_bytes(r))
        .as_bytes()
        .to_vec();
}

/// Makes every receipt in `out` ready to leave the store, the one place
/// that does: each receipt whose audit entry is a leaf of the log's tree
/// gets its inclusion proof and the first tree head signed over it (read
/// from `tree`). A receipt left without a proof (one whose entry is no leaf,
/// or whose proof could not be read: the failure goes to the log) is
/// signed with `signer` instead, so that every receipt verifies on its own.
/// A receipt handed out twice is the same bytes: the head is always the
/// first that covers it, and Ed25519 is deterministic.
pub async fn seal<T: Receipts>(mut out: T, signer: &dyn Signer, tree: &(dyn TreeReads + '_)) -> T {
    let mut leaves = Vec::new();
    out.each(&mut |r| leaves.extend(tree_proofs::unproved(r)));
    if !leaves.is_empty() {
        match tree_proofs::read(tree, leaves).await {
            Ok(proofs) => out.each(&mut |r| tree_proofs::attach(r, &proofs)),
            Err(e) => {
                tracing::error!(error = %e, "the proofs of receipts could not be read; they leave signed instead")
            }
        }
    }
    out.each(&mut |r| {
        if r.tree_head.is_none() {
            sign(r, signer)
        }
    });
    out
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
        sign(&mut once, &key);
        sign(&mut twice, &key);
        assert_eq!(once, twice, "the same key signs the same bytes alike");
        assert_eq!(once.key_id, key.key_id());
        assert_eq!(once.signature.len(), 64);
        let other_dir = tempfile::tempdir().unwrap();
        let other = SigningKey::load_or_create(other_dir.path()).unwrap();
        let kept = once.clone();
        sign(&mut once, &other);
        assert_eq!(once, kept, "a receipt stored signed keeps its signature");
    }
}
