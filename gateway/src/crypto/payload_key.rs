//! Encryption of payloads at rest.

use std::path::Path;

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
        let unbound =
            ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &bytes).map_err(|_| {
                KeyError::Invalid {
                    path,
                    what: "AES-256 key (32 bytes)",
                }
            })?;
        Ok(Self {
            key: ring::aead::LessSafeKey::new(unbound),
        })
    }

    /// Bytes sealing adds to a payload: the 16-byte tag and the 12-byte nonce.
    pub const OVERHEAD: usize = 16 + 12;

    /// Encrypts `plaintext` for message `message_id`, in place: the result
    /// is ciphertext, tag, nonce. Give a buffer with [`Self::OVERHEAD`] bytes
    /// of spare capacity and no byte of a large payload is copied.
    pub fn seal(&self, message_id: &str, mut plaintext: Vec<u8>) -> Result<Vec<u8>, SealError> {
        let nonce_bytes = random_bytes::<12>();
        let nonce = ring::aead::Nonce::assume_unique_for_key(nonce_bytes);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce,
                ring::aead::Aad::from(message_id.as_bytes()),
                &mut plaintext,
            )
            .map_err(|_| SealError(message_id.to_owned()))?;
        plaintext.extend_from_slice(tag.as_ref());
        plaintext.extend_from_slice(&nonce_bytes);
        Ok(plaintext)
    }

    /// Decrypts what [`PayloadKey::seal`] produced for `message_id`.
    pub fn open(&self, message_id: &str, sealed: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let fail = || DecryptError(message_id.to_owned());
        if sealed.len() < Self::OVERHEAD {
            return Err(fail());
        }
        let (body, nonce) = sealed.split_at(sealed.len() - 12);
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut buf = body.to_vec();
        let plain_len = self
            .key
            .open_in_place(
                nonce,
                ring::aead::Aad::from(message_id.as_bytes()),
                &mut buf,
            )
            .map_err(|_| fail())?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
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
