//! Child references: the gateway keeps a keyed hash of a BSN, never the BSN.

use std::path::Path;

use super::bytes::{ChildRef, random_bytes};
use super::secret_file::{KeyError, load_or_create_secret};

/// File name of the HMAC-SHA256 secret that turns a BSN into a child reference.
pub const CHILD_KEY_FILE: &str = "child-reference.key";

/// Turns a BSN into a child reference: HMAC-SHA256 under a gateway secret.
/// The reference lets the gateway link messages and consents about the same
/// child without storing the BSN; without the secret it cannot be reversed by
/// trying all 10^9 BSNs.
pub struct ChildKey {
    key: ring::hmac::Key,
}

impl ChildKey {
    /// Loads the secret from the data folder, creating it on first start.
    /// A file that is not the 32 bytes the gateway wrote (empty, cut off,
    /// overwritten) is refused, naming it: under another secret every child
    /// reference stored before would point nowhere.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(CHILD_KEY_FILE);
        let bytes = load_or_create_secret(&path, || random_bytes::<32>().to_vec())?;
        if bytes.len() != 32 {
            return Err(KeyError::Invalid {
                path,
                what: "child-reference secret (32 bytes)",
            });
        }
        Ok(Self {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
        })
    }

    /// The child reference of `bsn`.
    pub fn child_ref(&self, bsn: &str) -> ChildRef {
        let tag = ring::hmac::sign(&self.key, bsn.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        ChildRef(out)
    }

    /// The keyed reference of a child's date of birth with
    /// its BSN: it tells whether a message names the birth date its consent
    /// was registered with, without the date being kept. The BSN is in it so
    /// that equal birth dates of two children do not show as equal.
    pub fn birth_ref(&self, bsn: &str, birth_date: time::Date) -> ChildRef {
        let mut ctx = ring::hmac::Context::with_key(&self.key);
        ctx.update(b"schakel-birth-date-v1\0");
        ctx.update(bsn.as_bytes());
        ctx.update(b"\0");
        ctx.update(birth_date.to_string().as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        ChildRef(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_references_are_stable_and_keyed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ka = ChildKey::load_or_create(a.path()).unwrap();
        let kb = ChildKey::load_or_create(b.path()).unwrap();
        assert_eq!(ka.child_ref("111222333"), ka.child_ref("111222333"));
        assert_ne!(ka.child_ref("111222333"), kb.child_ref("111222333"));
        assert!(!ka.child_ref("111222333").to_hex().contains("111222333"));
        let reloaded = ChildKey::load_or_create(a.path()).unwrap();
        assert_eq!(ka.child_ref("111222333"), reloaded.child_ref("111222333"));
    }

    #[test]
    fn a_birth_reference_is_keyed_per_child_and_apart_from_the_child_reference() {
        let dir = tempfile::tempdir().unwrap();
        let k = ChildKey::load_or_create(dir.path()).unwrap();
        let day = time::macros::date!(2012 - 03 - 04);
        let born = k.birth_ref("111222333", day);
        assert_eq!(born, k.birth_ref("111222333", day));
        assert_ne!(born, k.birth_ref("111222333", day.next_day().unwrap()));
        assert_ne!(born, k.birth_ref("999999990", day));
        assert_ne!(born, k.child_ref("111222333"));
    }

    #[test]
    fn an_empty_or_cut_off_secret_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        ChildKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(CHILD_KEY_FILE);
        for bytes in [&b""[..], &[7u8; 31][..], &[7u8; 33][..]] {
            std::fs::write(&path, bytes).unwrap();
            let e = ChildKey::load_or_create(dir.path())
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(CHILD_KEY_FILE), "{e}");
        }
    }
}
