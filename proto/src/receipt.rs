//! The byte encoding a receipt's signature covers. It lives here, beside the
//! wire types, so that the gateway that signs and the client that verifies
//! cannot disagree about it.

use crate::keys::{KeyRing, SignatureProblem};
use crate::v1::{Receipt, ReceiptStatus};

use crate::audit::{field, key_id_field};

/// The tag that starts the signed encoding of a receipt without a key id.
pub const RECEIPT_TAG: &str = "schakel-receipt-v1";
/// The tag that starts the signed encoding of a receipt that names its key.
pub const RECEIPT_TAG_V2: &str = "schakel-receipt-v2";

/// The short status name used in the encoding: "ACCEPTED", "DELIVERED", ...
pub fn status_name(status: i32) -> &'static str {
    ReceiptStatus::try_from(status)
        .unwrap_or(ReceiptStatus::Unspecified)
        .as_str_name()
        .trim_start_matches("RECEIPT_STATUS_")
}

/// The tag of a receipt's encoding as a leaf of the audit log's tree:
/// without a key id, since no key signs it.
pub const RECEIPT_TAG_V3: &str = "schakel-receipt-v3";

/// The bytes the gateway's Ed25519 signature covers (see the comment on
/// `Receipt` in exchange.proto). The signature field itself is not included.
pub fn signing_bytes(r: &Receipt) -> Vec<u8> {
    let tag = match r.key_id.is_empty() {
        true => RECEIPT_TAG,
        false => RECEIPT_TAG_V2,
    };
    let mut out = encoding(r, tag);
    key_id_field(&mut out, &r.key_id);
    out
}

/// The receipt's encoding as the audit log's tree holds it (tagged
/// [`RECEIPT_TAG_V3`], no key id); its SHA-256 is part of the leaf of the
/// receipt's audit entry ([`crate::tree_head::audit_leaf`]).
pub fn leaf_bytes(r: &Receipt) -> Vec<u8> {
    encoding(r, RECEIPT_TAG_V3)
}

/// SHA-256 of [`leaf_bytes`]: what the audit log's tree commits to.
pub fn leaf_digest(r: &Receipt) -> [u8; 32] {
    crate::merkle::sha256(&[&leaf_bytes(r)])
}

/// The fields every receipt encoding shares, after `tag`.
fn encoding(r: &Receipt, tag: &str) -> Vec<u8> {
    let time = r.time.unwrap_or_default();
    let mut out = Vec::with_capacity(256);
    field(&mut out, tag.as_bytes());
    field(&mut out, r.message_id.as_bytes());
    field(&mut out, status_name(r.status).as_bytes());
    field(
        &mut out,
        format!("{}.{:09}", time.seconds, time.nanos).as_bytes(),
    );
    field(&mut out, &r.payload_digest);
    field(&mut out, r.sender_oin.as_bytes());
    field(&mut out, r.recipient_oin.as_bytes());
    field(&mut out, r.audit_sequence.to_string().as_bytes());
    field(&mut out, r.detail.as_bytes());
    out
}

/// Checks a receipt with the gateway's `keys`: its proof in the audit
/// log's tree under a signed head, if it carries one
/// ([`crate::tree_head::check_receipt`]), and its own signature, if it
/// carries one; a receipt must carry one or the other.
pub fn check(keys: &KeyRing, r: &Receipt) -> Result<(), SignatureProblem> {
    if r.tree_head.is_some() {
        crate::tree_head::check_receipt(keys, r).map_err(|p| match p {
            crate::tree_head::ReceiptProofProblem::Head(problem) => problem,
            other => SignatureProblem::NotInLog(other.to_string()),
        })?;
        if r.signature.is_empty() {
            return Ok(());
        }
    }
    keys.check(&r.key_id, &signing_bytes(r), &r.signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_changes_the_encoding() {
        let base = Receipt {
            message_id: "m".into(),
            status: ReceiptStatus::Accepted as i32,
            time: Some(prost_types::Timestamp {
                seconds: 1,
                nanos: 2,
            }),
            payload_digest: vec![1; 32],
            sender_oin: "s".into(),
            recipient_oin: "r".into(),
            audit_sequence: 7,
            ..Default::default()
        };
        let b = signing_bytes(&base);
        assert!(b.starts_with(&[0, 0, 0, 18]));
        let variants = [
            Receipt {
                message_id: "n".into(),
                ..base.clone()
            },
            Receipt {
                status: ReceiptStatus::Delivered as i32,
                ..base.clone()
            },
            Receipt {
                time: Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: 3,
                }),
                ..base.clone()
            },
            Receipt {
                payload_digest: vec![2; 32],
                ..base.clone()
            },
            Receipt {
                sender_oin: "x".into(),
                ..base.clone()
            },
            Receipt {
                recipient_oin: "x".into(),
                ..base.clone()
            },
            Receipt {
                audit_sequence: 8,
                ..base.clone()
            },
            Receipt {
                detail: "d".into(),
                ..base.clone()
            },
            Receipt {
                key_id: "0011223344556677".into(),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(signing_bytes(&v), b);
        }
        // The signature is not covered.
        assert_eq!(
            signing_bytes(&Receipt {
                signature: vec![9; 64],
                ..base.clone()
            }),
            b
        );
        // Fields cannot run into each other.
        let a = Receipt {
            sender_oin: "ab".into(),
            recipient_oin: "c".into(),
            ..base.clone()
        };
        let c = Receipt {
            sender_oin: "a".into(),
            recipient_oin: "bc".into(),
            ..base
        };
        assert_ne!(signing_bytes(&a), signing_bytes(&c));
    }
}

/// The test vector of docs/INTEGRATION.md: a receipt signed by a key made
/// from a fixed seed, its signed bytes and its signature, so that an
/// implementation in another language can check its own encoding.
#[cfg(test)]
mod vector {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    const VECTOR: &str = include_str!("../testdata/receipt-vector.txt");

    fn field(name: &str) -> &'static str {
        crate::testdata::field(VECTOR, name)
    }

    #[test]
    fn the_documented_receipt_vector_holds() {
        let seed = hex::decode(field("seed")).unwrap();
        let key = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let public = key.public_key().as_ref();
        assert_eq!(hex::encode(public), field("public_key"));
        assert_eq!(crate::keys::key_id(public), field("key_id"));
        let receipt = Receipt {
            message_id: field("message_id").into(),
            status: ReceiptStatus::Delivered as i32,
            time: Some(prost_types::Timestamp {
                seconds: field("time_seconds").parse().unwrap(),
                nanos: field("time_nanos").parse().unwrap(),
            }),
            payload_digest: hex::decode(field("payload_digest")).unwrap(),
            sender_oin: field("sender_oin").into(),
            recipient_oin: field("recipient_oin").into(),
            audit_sequence: field("audit_sequence").parse().unwrap(),
            key_id: field("key_id").into(),
            ..Default::default()
        };
        // The digest is the SHA-256 of the payload bytes as sent.
        let payload = hex::decode(field("payload_bytes")).unwrap();
        assert_eq!(
            hex::encode(crate::payload::digest(&payload)),
            field("payload_digest")
        );
        assert!(crate::payload::decode(&payload).is_ok());
        let bytes = signing_bytes(&receipt);
        assert_eq!(hex::encode(&bytes), field("signed_bytes"));
        let signature = key.sign(&bytes);
        assert_eq!(hex::encode(signature.as_ref()), field("signature"));
        let signed = Receipt {
            signature: signature.as_ref().to_vec(),
            ..receipt
        };
        assert_eq!(check(&KeyRing::single(public), &signed), Ok(()));
    }
}
