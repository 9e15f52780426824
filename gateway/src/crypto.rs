//! The gateway's own keys: created on first start in the data folder with mode
//! 0600, read on every later start, and never logged.
//!
//! The Ed25519 key signs receipts and audit checkpoints; its public half is
//! published through `Directory.GatewayKey` so that anyone can verify them.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// File name of the Ed25519 signing key (PKCS#8 DER) inside the data folder.
pub const SIGNING_KEY_FILE: &str = "gateway-signing.key";
/// File name of the AES-256-GCM key that encrypts payloads at rest.
pub const PAYLOAD_KEY_FILE: &str = "payload-encryption.key";
/// File name of the HMAC-SHA256 secret that turns a BSN into a child reference.
pub const CHILD_KEY_FILE: &str = "child-reference.key";

/// Why a key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists but does not hold a usable key.
    #[error("key file {path} does not hold a valid {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
    },
    /// Others than the owner can read the key file.
    #[error("key file {path} has mode {mode:o}; it must be readable by its owner only (chmod 600)")]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
}

/// Reads the secret in `path`, or creates it with `generate` (mode 0600,
/// written and fsynced before use) when the file does not exist. A file that
/// others can read is refused rather than used.
pub fn load_or_create_secret(
    path: &Path,
    generate: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Exposed {
                    path: path.to_owned(),
                    mode,
                });
            }
            std::fs::read(path).map_err(io)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = generate();
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            file.write_all(&secret).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(path = %path.display(), "created a new key file");
            Ok(secret)
        }
        Err(e) => Err(io(e)),
    }
}

/// The gateway's Ed25519 signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .finish()
    }
}

impl SigningKey {
    /// Loads the key from the data folder, creating it on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let pkcs8 = load_or_create_secret(&path, || {
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .expect("the system random source works")
                .as_ref()
                .to_vec()
        })?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::Invalid {
            path,
            what: "Ed25519 PKCS#8 key",
        })?;
        Ok(Self { pair })
    }

    /// The public key of the signing key in a data folder, without creating
    /// one: for verifying a stopped gateway's log.
    pub fn public_key_in(data_dir: &Path) -> Result<Vec<u8>, KeyError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let pkcs8 = std::fs::read(&path).map_err(|source| KeyError::Io {
            path: path.clone(),
            source,
        })?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::Invalid {
            path,
            what: "Ed25519 PKCS#8 key",
        })?;
        Ok(pair.public_key().as_ref().to_vec())
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// A short, stable name for the key: the first 8 bytes of the SHA-256 of
    /// the public key, in hex. Lets a verifier tell keys apart after a rotation.
    pub fn key_id(&self) -> String {
        key_id(self.public_key())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

fn random_bytes<const N: usize>() -> Vec<u8> {
    let mut bytes = vec![0u8; N];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes)
        .expect("the system random source works");
    bytes
}

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

impl PayloadKey {
    /// Loads the key from the data folder, creating it on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(PAYLOAD_KEY_FILE);
        let bytes = load_or_create_secret(&path, random_bytes::<32>)?;
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
    pub fn seal(&self, message_id: &str, mut plaintext: Vec<u8>) -> Vec<u8> {
        let nonce_bytes: [u8; 12] = random_bytes::<12>().try_into().expect("12 bytes");
        let nonce = ring::aead::Nonce::assume_unique_for_key(nonce_bytes);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce,
                ring::aead::Aad::from(message_id.as_bytes()),
                &mut plaintext,
            )
            .expect("AES-GCM sealing works for payloads within the size limit");
        plaintext.extend_from_slice(tag.as_ref());
        plaintext.extend_from_slice(&nonce_bytes);
        plaintext
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

/// Turns a BSN into a child reference: HMAC-SHA256 under a gateway secret.
/// The reference lets the gateway link messages and consents about the same
/// child without storing the BSN; without the secret it cannot be reversed by
/// trying all 10^9 BSNs.
pub struct ChildKey {
    key: ring::hmac::Key,
}

impl ChildKey {
    /// Loads the secret from the data folder, creating it on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let bytes = load_or_create_secret(&data_dir.join(CHILD_KEY_FILE), random_bytes::<32>)?;
        Ok(Self {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
        })
    }

    /// The child reference of `bsn`, lowercase hex.
    pub fn child_ref(&self, bsn: &str) -> String {
        hex::encode(ring::hmac::sign(&self.key, bsn.as_bytes()).as_ref())
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

impl crate::store::Signer for SigningKey {
    fn sign_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        self.sign(bytes)
    }
}

/// The key id of an Ed25519 public key (see [`SigningKey::key_id`]).
pub fn key_id(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    hex::encode(&digest.as_ref()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = SigningKey::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = SigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        let sig = again.sign(b"hello");
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, first.public_key())
            .verify(b"hello", &sig)
            .unwrap();
    }

    #[test]
    fn payloads_round_trip_and_are_bound_to_their_message() {
        let dir = tempfile::tempdir().unwrap();
        let key = PayloadKey::load_or_create(dir.path()).unwrap();
        let sealed = key.seal("m1", b"dossier".to_vec());
        assert!(!sealed.windows(7).any(|w| w == b"dossier"));
        assert_eq!(key.open("m1", &sealed).unwrap(), b"dossier");
        assert!(key.open("m2", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(key.open("m1", &tampered).is_err());
        let again = PayloadKey::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open("m1", &sealed).unwrap(), b"dossier");
    }

    #[test]
    fn child_references_are_stable_and_keyed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ka = ChildKey::load_or_create(a.path()).unwrap();
        let kb = ChildKey::load_or_create(b.path()).unwrap();
        assert_eq!(ka.child_ref("111222333"), ka.child_ref("111222333"));
        assert_ne!(ka.child_ref("111222333"), kb.child_ref("111222333"));
        assert!(!ka.child_ref("111222333").contains("111222333"));
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        SigningKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(SIGNING_KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SigningKey::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::Exposed { .. }), "{err}");
        assert!(!format!("{err:?}").is_empty());
    }
}
