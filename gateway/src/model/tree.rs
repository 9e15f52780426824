//! The audit log as a Merkle tree, as the gateway keeps it: each entry's
//! leaf (its hash and the digest of the receipt it gave) and the tree
//! heads the gateway signs, one per group of writes made durable. The
//! hashing is the contract's (`schakel_proto::merkle`, `tree_head`), so
//! that the gateway and every verifier agree on it.

use schakel_proto::merkle::Hash;
use schakel_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use super::audit::Entry;
use super::wire::timestamp;
use crate::crypto::{Digest, Signature, Signer};

/// A signed tree head, as stored: the tree of `size` leaves, leaf 0 being
/// the entry of sequence `first_seq`, has root `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    /// Leaves in the tree.
    pub size: u64,
    /// Its root.
    pub root: Digest,
    /// The sequence number of the entry of leaf 0.
    pub first_seq: u64,
    /// When it was signed (Unix ms).
    pub time_ms: i64,
    /// The key that signed it.
    pub key_id: String,
    /// The gateway's Ed25519 signature over its encoding.
    pub signature: Signature,
}

impl TreeHead {
    /// Signs the head of a tree of `size` leaves with `root`.
    pub fn sign(size: u64, root: Hash, first_seq: u64, time_ms: i64, key: &dyn Signer) -> Self {
        let mut head = Self {
            size,
            root: Digest(root),
            first_seq,
            time_ms,
            key_id: key.key_id().to_owned(),
            signature: Signature([0; 64]),
        };
        let bytes = schakel_proto::tree_head::signing_bytes(&head.to_wire());
        head.signature = key.sign_bytes(&bytes);
        head
    }

    /// The wire form, which is also what its signature covers.
    pub fn to_wire(&self) -> pb::TreeHead {
        pb::TreeHead {
            size: self.size,
            root_hash: self.root.as_bytes().to_vec(),
            first_sequence: self.first_seq,
            time: Some(timestamp(self.time_ms)),
            key_id: self.key_id.clone(),
            signature: self.signature.as_bytes().to_vec(),
        }
    }

    /// The sequence number of the last entry it covers.
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.size - 1
    }
}

impl Entry {
    /// Its leaf in the audit log's tree, `hash` being [`Entry::hash`].
    pub fn leaf(&self, hash: &Digest) -> Hash {
        schakel_proto::tree_head::audit_leaf(&hash.0, self.receipt_digest.as_ref().map(|d| &d.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;
    use schakel_proto::keys::KeyRing;

    #[test]
    fn a_signed_head_verifies_as_the_contract_says() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(dir.path()).unwrap();
        let head = TreeHead::sign(3, [5; 32], 1, 1_000, &key);
        let ring = KeyRing::single(key.public_key());
        assert_eq!(
            schakel_proto::tree_head::check_head(&ring, &head.to_wire()),
            Ok(())
        );
        assert_eq!(head.last_seq(), 3);
        let mut moved = head.to_wire();
        moved.first_sequence = 2;
        assert!(schakel_proto::tree_head::check_head(&ring, &moved).is_err());
        let stored: TreeHead =
            serde_json::from_str(&serde_json::to_string(&head).unwrap()).unwrap();
        assert_eq!(stored, head);
    }
}
