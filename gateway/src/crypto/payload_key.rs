//! Encryption of payloads at rest.

use std::path::Path;

use super::aead;
use super::bytes::random_bytes;
use super::secret_file::{KeyError, load_or_create_secret};

/// File name of the AES-256-GCM key that encrypts payloads at rest.
pub const PAYLOAD_KEY_FILE: &str = "payload-encryption.key";

/// Encrypts payloads at rest with AES-256-GCM. Each payload gets a fresh
/// random 96-bit nonce, and the message id is bound in as associated data, so
/// that a ciphertext moved to another message's record does not decrypt.
pub struct PayloadKey {
    key: ring::aead::LessSafeKey,
}

/// A payload could not be decrypted: wrong key, or altered on disk.
#[derive(Debug, thiserror::Error)]
#[error("payload of message {0} does not decrypt: wrong key or altered on disk")]
pub struct DecryptError(pub String);

/// A payload could not be encrypted (it is beyond what AES-GCM can take).
#[derive(Debug, thiserror::Error)]
#[error("payload of message {0} could not be encrypted")]
pub struct SealError(pub String);

impl PayloadKey {
    /// Loads the key from the data folder, creating it on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(PAYLOAD_KEY_FILE);
        let bytes = load_or_create_secret(&path, || random_bytes::<32>().to_vec())?;
        let key = aead::key(&bytes).ok_or(KeyError::Invalid {
            path,
            what: "AES-256 key (32 bytes)",
        })?;
        Ok(Self { key })
    }

    /// Bytes sealing adds to a payload: the 16-byte tag and the 12-byte nonce.
    pub const OVERHEAD: usize = aead::OVERHEAD;

    /// Encrypts `plaintext` for message `message_id`, in place: the result
    /// is ciphertext, tag, nonce. Give a buffer with [`Self::OVERHEAD`] bytes
    /// of spare capacity and no byte of a large payload is copied.
    pub fn seal(&self, message_id: &str, plaintext: Vec<u8>) -> Result<Vec<u8>, SealError> {
        aead::seal(&self.key, message_id.as_bytes(), plaintext)
            .ok_or_else(|| SealError(message_id.to_owned()))
    }

    /// Decrypts what [`PayloadKey::seal`] produced for `message_id`.
    pub fn open(&self, message_id: &str, sealed: &[u8]) -> Result<Vec<u8>, DecryptError> {
        aead::open(&self.key, message_id.as_bytes(), sealed)
            .ok_or_else(|| DecryptError(message_id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_are_bound_to_their_message() {
        let dir = tempfile::tempdir().unwrap();
        let key = PayloadKey::load_or_create(dir.path()).unwrap();
        let sealed = key.seal("m1", b"dossier".to_vec()).unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"dossier"));
        assert_eq!(key.open("m1", &sealed).unwrap(), b"dossier");
        assert!(key.open("m2", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(key.open("m1", &tampered).is_err());
        assert!(key.open("m1", &sealed[..10]).is_err());
        let again = PayloadKey::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open("m1", &sealed).unwrap(), b"dossier");
    }
}
