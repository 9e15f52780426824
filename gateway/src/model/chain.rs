//! The audit chain's hashing and signing, over the canonical encodings of
//! `schakel_proto::audit`: an entry's hash (which the next entry carries)
//! and a checkpoint's signature.

use super::audit::{Checkpoint, Entry, Range};
use super::wire;
use crate::crypto::{Digest, Signature, Signer};

impl Entry {
    /// SHA-256 of the canonical encoding, which the next entry carries.
    pub fn hash(&self) -> Digest {
        Digest(schakel_proto::audit::entry_hash(&wire::audit_entry(self)))
    }
}

impl Checkpoint {
    /// Signs the head `(seq, hash)` with the gateway key.
    pub fn sign(seq: u64, head_hash: Digest, time_ms: i64, key: &dyn Signer) -> Self {
        let mut c = Self {
            seq,
            head_hash,
            time_ms,
            signature: Signature([0; 64]),
            key_id: key.key_id().to_owned(),
        };
        let bytes = schakel_proto::audit::checkpoint_bytes(&wire::checkpoint(&c));
        c.signature = key.sign_bytes(&bytes);
        c
    }
}

impl Range {
    /// Signs the range from `first` to `last` (entries of one chain, in
    /// order) with the gateway key.
    pub fn sign(first: &Entry, last: &Entry, time_ms: i64, key: &dyn Signer) -> Self {
        let mut r = Self {
            from: first.seq,
            to: last.seq,
            prev_hash: first.prev_hash,
            last_hash: last.hash(),
            time_ms,
            signature: Signature([0; 64]),
            key_id: key.key_id().to_owned(),
        };
        r.signature = key.sign_bytes(&schakel_proto::audit::range_bytes(&wire::range(&r)));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;
    use crate::model::{Action, Draft, GENESIS_HASH, Oin, Range};
    use schakel_proto::keys::KeyRing;

    #[test]
    fn entries_chain_by_hash_and_checkpoints_verify() {
        let draft = |d: &str| {
            Draft::new(
                Oin::parse("00000099100000000001").unwrap(),
                Action::SendAccepted,
            )
            .detail(d)
        };
        let first = Entry::place(draft("a"), 0, GENESIS_HASH, 1);
        let second = Entry::place(draft("b"), first.seq, first.hash(), 2);
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev_hash, first.hash());
        let mut altered = first.clone();
        altered.detail = "A".into();
        assert_ne!(altered.hash(), first.hash());

        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(dir.path()).unwrap();
        let ring = KeyRing::single(key.public_key());
        let c = Checkpoint::sign(second.seq, second.hash(), 3, &key);
        assert_eq!(c.key_id, key.key_id());
        let mut verifier = schakel_proto::audit::Verifier::new(&ring, true);
        verifier.entry(&wire::audit_entry(&first));
        verifier.entry(&wire::audit_entry(&second));
        verifier.checkpoint(&wire::checkpoint(&c));
        let verdict = verifier.finish();
        assert!(verdict.ok(), "{}", verdict.problem);
        assert_eq!(verdict.checkpoints_checked, 1);

        // A signed range of the two verifies offline, and without its
        // first entry it does not.
        let range = wire::range(&Range::sign(&first, &second, 4, &key));
        let mut verifier = schakel_proto::audit::Verifier::for_range(&ring, &range);
        verifier.entry(&wire::audit_entry(&first));
        verifier.entry(&wire::audit_entry(&second));
        let verdict = verifier.finish();
        assert!(verdict.ok(), "{}", verdict.problem);
        let mut verifier = schakel_proto::audit::Verifier::for_range(&ring, &range);
        verifier.entry(&wire::audit_entry(&second));
        assert_eq!(verifier.finish().first_broken, Some(1));
    }

    #[test]
    fn a_checkpoint_from_before_key_ids_still_verifies() {
        let first = Entry::place(
            Draft::new(
                Oin::parse("00000099100000000001").unwrap(),
                Action::SendAccepted,
            ),
            0,
            GENESIS_HASH,
            1,
        );
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(dir.path()).unwrap();
        // As the first format stored it: no key id, signed without one.
        let mut old = Checkpoint::sign(first.seq, first.hash(), 3, &key);
        old.key_id.clear();
        old.signature = key.sign_bytes(&schakel_proto::audit::checkpoint_bytes(&wire::checkpoint(
            &old,
        )));
        let stored: Checkpoint =
            serde_json::from_str(&serde_json::to_string(&old).unwrap()).unwrap();
        assert_eq!(stored, old);
        let mut verifier =
            schakel_proto::audit::Verifier::new(&KeyRing::single(key.public_key()), true);
        verifier.entry(&wire::audit_entry(&first));
        verifier.checkpoint(&wire::checkpoint(&stored));
        let verdict = verifier.finish();
        assert!(verdict.ok(), "{}", verdict.problem);
        assert_eq!(verdict.checkpoints_checked, 1);
    }
}
