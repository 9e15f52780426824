//! Signed receipts, made the same way by every engine: the record's new
//! state, at the step's time, naming the audit entry of the event, signed
//! over the documented encoding of `schakel_proto::receipt`.

use schakel_proto::v1 as pb;

use crate::crypto::Signer;
use crate::model::{MessageRecord, wire};

/// The sender's receipt for the state `r` is now in, with `detail`, naming
/// audit entry `audit_seq`, signed by `signer`.
pub fn signed(
    r: &MessageRecord,
    detail: &str,
    audit_seq: u64,
    now_ms: i64,
    signer: &dyn Signer,
) -> pb::Receipt {
    let mut receipt =
        wire::unsigned_receipt(r, wire::receipt_status(r.state), detail, audit_seq, now_ms);
    receipt.key_id = signer.key_id().to_owned();
    receipt.signature = signer
        .sign_bytes(&schakel_proto::receipt::signing_bytes(&receipt))
        .as_bytes()
        .to_vec();
    receipt
}

/// The last receipt of `status` among `receipts`, oldest first.
pub fn last_of(receipts: Vec<pb::Receipt>, status: pb::ReceiptStatus) -> Option<pb::Receipt> {
    receipts
        .into_iter()
        .rev()
        .find(|r| r.status == status as i32)
}
