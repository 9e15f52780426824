//! The audit log as a tree, from a verifier's side: a signed tree head's
//! encoding, the leaf of an audit entry, and the check that a receipt is in
//! the log under a head the gateway signed. The gateway signs one head per
//! group of writes instead of one signature per receipt; a receipt carries
//! its leaf's inclusion proof and the head, and verifies with nothing else
//! than the gateway's public key (docs/INTEGRATION.md gives it byte for
//! byte).

use crate::audit::{field, time_ms};
use crate::keys::{KeyRing, SignatureProblem};
use crate::merkle::{self, Hash, ProofError};
use crate::v1::{Receipt, TreeHead};

/// The tag that starts a tree head's signed encoding.
pub const TREE_HEAD_TAG: &str = "schakel-tree-head-v1";
/// The tag that starts the bytes of an audit entry's leaf.
pub const LEAF_TAG: &str = "schakel-audit-leaf-v1";

/// The bytes a tree head's signature covers (see `TreeHead` in
/// types.proto).
pub fn signing_bytes(h: &TreeHead) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    field(&mut out, TREE_HEAD_TAG.as_bytes());
    field(&mut out, h.size.to_string().as_bytes());
    field(&mut out, &h.root_hash);
    field(&mut out, h.first_sequence.to_string().as_bytes());
    field(&mut out, time_ms(h.time).to_string().as_bytes());
    field(&mut out, h.key_id.as_bytes());
    out
}

/// Checks a tree head's signature under the key it names, among `keys`.
pub fn check_head(keys: &KeyRing, h: &TreeHead) -> Result<(), SignatureProblem> {
    if h.key_id.is_empty() {
        return Err(SignatureProblem::Invalid);
    }
    keys.check(&h.key_id, &signing_bytes(h), &h.signature)
}

/// The leaf hash of the audit entry whose canonical hash is `entry_hash`,
/// with the [`crate::receipt::leaf_digest`] of the receipt it gave, if it
/// gave one: `SHA-256(0x00 || field(tag) || field(entry_hash) ||
/// field(receipt digest or nothing))`. The entry's hash ties the leaf to
/// the hash chain (and so to every field of the entry); the receipt's digest
/// ties it to what the sender was told.
pub fn audit_leaf(entry_hash: &Hash, receipt_digest: Option<&Hash>) -> Hash {
    let mut bytes = Vec::with_capacity(4 + LEAF_TAG.len() + 72);
    field(&mut bytes, LEAF_TAG.as_bytes());
    field(&mut bytes, entry_hash);
    field(&mut bytes, receipt_digest.map_or(&[][..], |d| &d[..]));
    merkle::leaf_hash(&bytes)
}

/// Why a receipt's proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptProofProblem {
    /// The receipt carries no tree head (a gateway from before the tree).
    NoTreeHead,
    /// A hash is not 32 bytes.
    Malformed(&'static str),
    /// The leaf index is not the receipt's audit entry in the head's tree.
    WrongLeaf,
    /// The inclusion proof does not lead to the head's root.
    Proof(ProofError),
    /// The head's signature does not verify.
    Head(SignatureProblem),
}

impl std::fmt::Display for ReceiptProofProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoTreeHead => f.write_str("it carries no signed tree head"),
            Self::Malformed(what) => write!(f, "its {what} is not 32 bytes"),
            Self::WrongLeaf => {
                f.write_str("its leaf index is not its audit entry's place in the tree")
            }
            Self::Proof(e) => write!(f, "its inclusion proof does not hold: {e}"),
            Self::Head(e) => write!(f, "its tree head does not verify: {e}"),
        }
    }
}

impl std::error::Error for ReceiptProofProblem {}

fn hash_of(bytes: &[u8], what: &'static str) -> Result<Hash, ReceiptProofProblem> {
    bytes
        .try_into()
        .map_err(|_| ReceiptProofProblem::Malformed(what))
}

/// Checks that `r` is in the gateway's audit log: its tree head is signed
/// by a key among `keys`, its leaf is its own audit entry's
/// (`audit_sequence - first_sequence`), and its inclusion proof leads from
/// the leaf of its entry and its own encoding to the head's root.
pub fn check_receipt(keys: &KeyRing, r: &Receipt) -> Result<(), ReceiptProofProblem> {
    let head = r
        .tree_head
        .as_ref()
        .ok_or(ReceiptProofProblem::NoTreeHead)?;
    check_head(keys, head).map_err(ReceiptProofProblem::Head)?;
    if r.audit_sequence.checked_sub(head.first_sequence) != Some(r.leaf_index) {
        return Err(ReceiptProofProblem::WrongLeaf);
    }
    let root = hash_of(&head.root_hash, "tree head's root")?;
    let entry = hash_of(&r.audit_entry_hash, "audit entry hash")?;
    let proof = r
        .inclusion_proof
        .iter()
        .map(|p| hash_of(p, "inclusion proof hash"))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = audit_leaf(&entry, Some(&crate::receipt::leaf_digest(r)));
    merkle::verify_inclusion(&leaf, r.leaf_index, head.size, &proof, &root)
        .map_err(ReceiptProofProblem::Proof)
}

/// Why a later head does not extend an earlier one: the log was rewritten
/// or entries were dropped, or one of the heads is not the gateway's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendsProblem {
    /// A head's signature does not verify.
    Head(SignatureProblem),
    /// The later tree is smaller than the earlier one: entries were dropped.
    Shrunk {
        /// The size seen before.
        before: u64,
        /// The size now.
        now: u64,
    },
    /// Two heads of the same size with different roots: the log was
    /// rewritten, and the two signed heads prove it.
    Forked {
        /// Their size.
        size: u64,
    },
    /// The heads count their leaves from different entries.
    Renumbered,
    /// The gateway no longer has a head it signed (of `size` leaves): its
    /// log was rolled back.
    Disowned {
        /// The size of the head it disowns.
        size: u64,
    },
    /// The consistency proof does not hold: the earlier tree is not a
    /// prefix of the later one.
    Proof(ProofError),
}

impl std::fmt::Display for ExtendsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Head(e) => write!(f, "a tree head does not verify: {e}"),
            Self::Shrunk { before, now } => write!(
                f,
                "the log holds {now} entries now but held {before} before: entries were dropped"
            ),
            Self::Forked { size } => write!(
                f,
                "two signed heads of {size} entries have different roots: the log was rewritten"
            ),
            Self::Renumbered => {
                f.write_str("the heads count the log from different entries: it was rebuilt")
            }
            Self::Disowned { size } => write!(
                f,
                "the gateway has no head of {size} entries, though it signed one: its log was rolled back"
            ),
            Self::Proof(e) => write!(
                f,
                "the later log does not extend the earlier one ({e}): entries were rewritten or dropped"
            ),
        }
    }
}

impl std::error::Error for ExtendsProblem {}

/// Checks that `later` extends `earlier` by the consistency `proof` the
/// gateway gave: both heads signed by keys among `keys`, counted from the
/// same entry, and every leaf of the earlier tree in the later one,
/// unchanged, in its place (RFC 9162 2.1.4.2).
pub fn check_extends(
    keys: &KeyRing,
    earlier: &TreeHead,
    later: &TreeHead,
    proof: &[Vec<u8>],
) -> Result<(), ExtendsProblem> {
    check_head(keys, earlier).map_err(ExtendsProblem::Head)?;
    check_head(keys, later).map_err(ExtendsProblem::Head)?;
    if earlier.first_sequence != later.first_sequence {
        return Err(ExtendsProblem::Renumbered);
    }
    if later.size < earlier.size {
        return Err(ExtendsProblem::Shrunk {
            before: earlier.size,
            now: later.size,
        });
    }
    if later.size == earlier.size {
        return match later.root_hash == earlier.root_hash {
            true => Ok(()),
            false => Err(ExtendsProblem::Forked { size: later.size }),
        };
    }
    let hash = |b: &[u8]| -> Result<Hash, ExtendsProblem> {
        b.try_into()
            .map_err(|_| ExtendsProblem::Proof(ProofError::Mismatch))
    };
    let path = proof
        .iter()
        .map(|p| hash(p))
        .collect::<Result<Vec<_>, _>>()?;
    merkle::verify_consistency(
        (earlier.size, &hash(&earlier.root_hash)?),
        (later.size, &hash(&later.root_hash)?),
        &path,
    )
    .map_err(ExtendsProblem::Proof)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::ReceiptStatus;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn receipt(seq: u64) -> Receipt {
        Receipt {
            message_id: format!("m{seq}"),
            status: ReceiptStatus::Accepted as i32,
            time: Some(prost_types::Timestamp {
                seconds: 1_795_000_000,
                nanos: 0,
            }),
            payload_digest: vec![7; 32],
            sender_oin: "00000001000000000001".into(),
            recipient_oin: "00000003000000000001".into(),
            audit_sequence: seq,
            ..Default::default()
        }
    }

    /// A log of five entries, each with a receipt, and a head over it.
    fn log(key: &Ed25519KeyPair) -> (Vec<Receipt>, Vec<Hash>, TreeHead) {
        let receipts: Vec<Receipt> = (1..=5).map(receipt).collect();
        let entries: Vec<Hash> = (1..=5u8).map(|i| [i; 32]).collect();
        let leaves: Vec<Hash> = receipts
            .iter()
            .zip(&entries)
            .map(|(r, e)| audit_leaf(e, Some(&crate::receipt::leaf_digest(r))))
            .collect();
        let mut head = TreeHead {
            size: 5,
            root_hash: merkle::root(&leaves[..], 5).unwrap().to_vec(),
            first_sequence: 1,
            time: Some(crate::audit::timestamp(1_795_000_000_123)),
            key_id: crate::keys::key_id(key.public_key().as_ref()),
            signature: vec![],
        };
        head.signature = key.sign(&signing_bytes(&head)).as_ref().to_vec();
        (receipts, leaves, head)
    }

    fn proved(r: &Receipt, leaves: &[Hash], entry: Hash, head: &TreeHead) -> Receipt {
        let index = r.audit_sequence - 1;
        Receipt {
            leaf_index: index,
            audit_entry_hash: entry.to_vec(),
            inclusion_proof: merkle::inclusion_proof(leaves, index, head.size)
                .unwrap()
                .iter()
                .map(|h| h.to_vec())
                .collect(),
            tree_head: Some(head.clone()),
            ..r.clone()
        }
    }

    #[test]
    fn a_proved_receipt_checks_and_any_change_is_seen() {
        let key = Ed25519KeyPair::from_seed_unchecked(&[3; 32]).unwrap();
        let keys = KeyRing::single(key.public_key().as_ref());
        let (receipts, leaves, head) = log(&key);
        for (i, r) in receipts.iter().enumerate() {
            let p = proved(r, &leaves, [i as u8 + 1; 32], &head);
            assert_eq!(check_receipt(&keys, &p), Ok(()), "receipt {i}");
        }
        let good = proved(&receipts[2], &leaves, [3; 32], &head);
        let altered = Receipt {
            detail: "changed".into(),
            ..good.clone()
        };
        assert_eq!(
            check_receipt(&keys, &altered),
            Err(ReceiptProofProblem::Proof(ProofError::Mismatch))
        );
        let moved = Receipt {
            audit_sequence: 4,
            ..good.clone()
        };
        assert_eq!(
            check_receipt(&keys, &moved),
            Err(ReceiptProofProblem::WrongLeaf)
        );
        let mut forged_head = good.clone();
        forged_head.tree_head.as_mut().unwrap().size = 6;
        assert_eq!(
            check_receipt(&keys, &forged_head),
            Err(ReceiptProofProblem::Head(SignatureProblem::Invalid))
        );
        let bare = Receipt {
            tree_head: None,
            ..good.clone()
        };
        assert_eq!(
            check_receipt(&keys, &bare),
            Err(ReceiptProofProblem::NoTreeHead)
        );
        let other = Ed25519KeyPair::from_seed_unchecked(&[4; 32]).unwrap();
        let strangers = KeyRing::single(other.public_key().as_ref());
        assert!(matches!(
            check_receipt(&strangers, &good),
            Err(ReceiptProofProblem::Head(SignatureProblem::UnknownKey(_)))
        ));
    }

    #[test]
    fn a_later_head_extends_an_earlier_one_unless_the_log_was_rewritten() {
        let key = Ed25519KeyPair::from_seed_unchecked(&[3; 32]).unwrap();
        let keys = KeyRing::single(key.public_key().as_ref());
        let leaves: Vec<Hash> = (0..9u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let head = |leaves: &[Hash], size: u64| {
            let mut h = TreeHead {
                size,
                root_hash: merkle::root(leaves, size).unwrap().to_vec(),
                first_sequence: 1,
                time: Some(crate::audit::timestamp(size as i64)),
                key_id: crate::keys::key_id(key.public_key().as_ref()),
                signature: vec![],
            };
            h.signature = key.sign(&signing_bytes(&h)).as_ref().to_vec();
            h
        };
        let proof = |leaves: &[Hash], a: u64, b: u64| -> Vec<Vec<u8>> {
            merkle::consistency_proof(leaves, a, b)
                .unwrap()
                .iter()
                .map(|h| h.to_vec())
                .collect()
        };
        let (five, nine) = (head(&leaves, 5), head(&leaves, 9));
        assert_eq!(
            check_extends(&keys, &five, &nine, &proof(&leaves, 5, 9)),
            Ok(())
        );
        assert_eq!(check_extends(&keys, &five, &five, &[]), Ok(()));
        assert_eq!(
            check_extends(&keys, &nine, &five, &[]),
            Err(ExtendsProblem::Shrunk { before: 9, now: 5 })
        );
        // The operator rewrote leaf 2 and signed the rewritten log anew.
        let mut rewritten = leaves.clone();
        rewritten[2] = merkle::leaf_hash(b"rewritten");
        let forged = head(&rewritten, 9);
        assert!(matches!(
            check_extends(&keys, &five, &forged, &proof(&rewritten, 5, 9)),
            Err(ExtendsProblem::Proof(_))
        ));
        assert_eq!(
            check_extends(&keys, &head(&rewritten, 5), &five, &[]),
            Err(ExtendsProblem::Forked { size: 5 })
        );
    }

    #[test]
    fn every_field_of_a_head_is_signed() {
        let base = TreeHead {
            size: 5,
            root_hash: vec![1; 32],
            first_sequence: 1,
            time: Some(crate::audit::timestamp(5)),
            key_id: "k".into(),
            signature: vec![],
        };
        let b = signing_bytes(&base);
        for v in [
            TreeHead {
                size: 6,
                ..base.clone()
            },
            TreeHead {
                root_hash: vec![2; 32],
                ..base.clone()
            },
            TreeHead {
                first_sequence: 2,
                ..base.clone()
            },
            TreeHead {
                time: Some(crate::audit::timestamp(6)),
                ..base.clone()
            },
            TreeHead {
                key_id: "l".into(),
                ..base.clone()
            },
        ] {
            assert_ne!(signing_bytes(&v), b);
        }
    }

    #[test]
    fn an_entry_without_a_receipt_has_a_leaf_of_its_own() {
        let e = [9; 32];
        assert_ne!(audit_leaf(&e, None), audit_leaf(&e, Some(&[0; 32])));
        assert_ne!(audit_leaf(&e, None), audit_leaf(&[8; 32], None));
    }
}

/// The test vector of docs/INTEGRATION.md: a receipt proved in a tree of
/// five leaves under a head signed by a key from a fixed seed, every step's
/// bytes written out, so that an implementation in another language can
/// check its own.
#[cfg(test)]
mod vector {
    use super::*;
    use crate::v1::ReceiptStatus;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    const VECTOR: &str = include_str!("../testdata/tree-vector.txt");

    fn field(name: &str) -> &'static str {
        crate::testdata::field(VECTOR, name)
    }

    fn hash(name: &str) -> Hash {
        hex::decode(field(name)).unwrap().try_into().unwrap()
    }

    /// Every value of the vector, as this crate computes it.
    fn computed() -> Vec<(&'static str, String)> {
        let key = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
        let receipt = Receipt {
            message_id: "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d".into(),
            status: ReceiptStatus::Delivered as i32,
            time: Some(prost_types::Timestamp {
                seconds: 1_795_000_000,
                nanos: 1,
            }),
            payload_digest: hex::decode(
                "b2c1abc3dea0876449ec8ee4c96e0226b65511641f5b32476152823f63658bef",
            )
            .unwrap(),
            sender_oin: "00000099100000000001".into(),
            recipient_oin: "00000099300000000001".into(),
            audit_sequence: 42,
            ..Default::default()
        };
        let entry_hash = merkle::sha256(&[b"the canonical encoding of entry 42"]);
        let receipt_bytes = crate::receipt::leaf_bytes(&receipt);
        let digest = crate::receipt::leaf_digest(&receipt);
        let mut leaf_bytes = Vec::new();
        field_into(&mut leaf_bytes, LEAF_TAG.as_bytes());
        field_into(&mut leaf_bytes, &entry_hash);
        field_into(&mut leaf_bytes, &digest);
        let leaf = audit_leaf(&entry_hash, Some(&digest));
        // Leaves 0, 1, 3 and 4: entries 40, 41, 43 and 44, as leaf hashes.
        let others: Vec<Hash> = [40u8, 41, 43, 44]
            .iter()
            .map(|i| merkle::leaf_hash(&[*i]))
            .collect();
        let leaves = [others[0], others[1], leaf, others[2], others[3]];
        let proof = merkle::inclusion_proof(&leaves[..], 2, 5).unwrap();
        let root = merkle::root(&leaves[..], 5).unwrap();
        let mut head = TreeHead {
            size: 5,
            root_hash: root.to_vec(),
            first_sequence: 40,
            time: Some(crate::audit::timestamp(1_795_000_000_123)),
            key_id: crate::keys::key_id(key.public_key().as_ref()),
            signature: vec![],
        };
        let head_bytes = signing_bytes(&head);
        head.signature = key.sign(&head_bytes).as_ref().to_vec();
        let proved = Receipt {
            leaf_index: 2,
            audit_entry_hash: entry_hash.to_vec(),
            inclusion_proof: proof.iter().map(|h| h.to_vec()).collect(),
            tree_head: Some(head.clone()),
            ..receipt
        };
        let keys = KeyRing::single(key.public_key().as_ref());
        assert_eq!(check_receipt(&keys, &proved), Ok(()));
        let hex = |b: &[u8]| hex::encode(b);
        vec![
            ("receipt_bytes", hex(&receipt_bytes)),
            ("receipt_digest", hex(&digest)),
            ("audit_entry_hash", hex(&entry_hash)),
            ("leaf_bytes", hex(&leaf_bytes)),
            ("leaf_hash", hex(&leaf)),
            ("leaf_0", hex(&leaves[0])),
            ("leaf_1", hex(&leaves[1])),
            ("leaf_3", hex(&leaves[3])),
            ("leaf_4", hex(&leaves[4])),
            (
                "inclusion_proof",
                proof.iter().map(|h| hex(h)).collect::<Vec<_>>().join(","),
            ),
            ("root_hash", hex(&root)),
            ("head_key_id", head.key_id.clone()),
            ("head_signed_bytes", hex(&head_bytes)),
            ("head_signature", hex(&head.signature)),
        ]
    }

    fn field_into(out: &mut Vec<u8>, bytes: &[u8]) {
        crate::audit::field(out, bytes);
    }

    #[test]
    fn the_documented_tree_vector_holds() {
        let values = computed();
        let wrong: Vec<String> = values
            .iter()
            .filter(|(name, value)| crate::testdata::find(VECTOR, name) != Some(value.as_str()))
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        assert!(
            wrong.is_empty(),
            "the vector differs:\n{}",
            wrong.join("\n")
        );
        // The leaf hash is SHA-256 of 0x00 and the leaf bytes.
        let leaf_bytes = hex::decode(field("leaf_bytes")).unwrap();
        assert_eq!(merkle::leaf_hash(&leaf_bytes), hash("leaf_hash"));
    }
}
