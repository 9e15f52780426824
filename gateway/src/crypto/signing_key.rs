//! The gateway's Ed25519 signing key, for receipts and audit checkpoints.

use std::path::Path;

use ring::signature::{Ed25519KeyPair, KeyPair};

use super::bytes::{Signature, key_id};
use super::secret_file::{KeyError, load_or_create_secret};

/// File name of the Ed25519 signing key (PKCS#8 DER) inside the data folder.
pub const SIGNING_KEY_FILE: &str = "gateway-signing.key";

/// Signs receipts and audit checkpoints. The store and the services sign
/// through this trait, so that they need not know where the key lives.
pub trait Signer: Send + Sync {
    /// The Ed25519 signature of `bytes`.
    fn sign_bytes(&self, bytes: &[u8]) -> Signature;
    /// The id of the key that signs, which every signed object names and
    /// covers, so that a verifier picks the right key after a rotation.
    fn key_id(&self) -> &str;
}

/// The gateway's Ed25519 signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("key_id", &self.id)
            .finish()
    }
}

/// A fresh Ed25519 key in PKCS#8 DER.
pub(super) fn generate_pkcs8() -> Vec<u8> {
    Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .expect("the system random source works")
        .as_ref()
        .to_vec()
}

impl SigningKey {
    /// Loads the key from the data folder, creating it on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let pkcs8 = load_or_create_secret(&path, generate_pkcs8)?;
        Self::from_pkcs8(&path, &pkcs8)
    }

    fn from_pkcs8(path: &Path, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError::Invalid {
            path: path.to_owned(),
            what: "Ed25519 PKCS#8 key",
        })?;
        let id = key_id(pair.public_key().as_ref());
        Ok(Self { pair, id })
    }

    /// Loads the key from the data folder without creating one: for tools
    /// that inspect a stopped gateway's folder.
    pub fn load(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let pkcs8 = std::fs::read(&path).map_err(|source| KeyError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_pkcs8(&path, &pkcs8)
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }
}

impl Signer for SigningKey {
    fn sign_bytes(&self, bytes: &[u8]) -> Signature {
        let sig = self.pair.sign(bytes);
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        Signature(out)
    }

    fn key_id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_created_once_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            SigningKey::load(dir.path()).is_err(),
            "load creates nothing"
        );
        let first = SigningKey::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = SigningKey::load(dir.path()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(first.key_id().len(), 16);
        let sig = again.sign_bytes(b"hello");
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, first.public_key())
            .verify(b"hello", sig.as_bytes())
            .unwrap();
        assert!(!format!("{first:?}").contains(&hex::encode(first.public_key())));
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        SigningKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(SIGNING_KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SigningKey::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::Exposed { .. }), "{err}");
    }
}
