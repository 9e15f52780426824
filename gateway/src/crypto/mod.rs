//! The gateway's own keys and the byte values they produce: created on first
//! start in the data folder with mode 0600, read on every later start, and
//! never logged.
//!
//! - [`SigningKey`] (Ed25519) signs receipts and audit checkpoints, through
//!   the [`Signer`] trait; its public half is published through
//!   `Directory.GatewayKey` so that anyone can verify them.
//! - [`PayloadKey`] (AES-256-GCM) encrypts payloads at rest.
//! - [`ChildKey`] (HMAC-SHA256) turns a BSN into a [`ChildRef`].
//!
//! This is the lowest layer of the gateway with the clock: it knows no
//! record, rule or store.

mod bytes;
mod child_key;
mod payload_key;
mod secret_file;
mod signing_key;

pub use bytes::{ChildRef, Digest, Signature};
pub use child_key::{CHILD_KEY_FILE, ChildKey};
pub use payload_key::{DecryptError, PAYLOAD_KEY_FILE, PayloadKey, SealError};
pub use secret_file::{KeyError, load_or_create_secret};
pub use signing_key::{SIGNING_KEY_FILE, SigningKey};

/// Signs receipts and audit checkpoints. The store and the services sign
/// through this trait, so that they need not know where the key lives.
pub trait Signer: Send + Sync {
    /// The Ed25519 signature of `bytes`.
    fn sign_bytes(&self, bytes: &[u8]) -> Signature;
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Digest(out)
}

/// The key id of an Ed25519 public key: the first 8 bytes of its SHA-256,
/// in hex. Lets a verifier tell keys apart after a rotation.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&sha256(public_key).0[..8])
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // A machine without a working random source cannot keep secrets at all:
    // failing loudly is the only safe answer.
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random source works");
    bytes
}
