//! The gateway's own keys and the byte values they produce: created on first
//! start in the data folder with mode 0600, read on every later start, and
//! never logged.
//!
//! - [`SigningKey`] (Ed25519) signs receipts and audit checkpoints, through
//!   the [`Signer`] trait; its public half is published through
//!   `Directory.GatewayKey` so that anyone can verify them. It can rotate:
//!   [`GatewayKeys`] holds it with the retired keys that still verify.
//! - [`PayloadKey`] (AES-256-GCM) encrypts payloads at rest.
//! - [`ChildKey`] (HMAC-SHA256) turns a BSN into a [`ChildRef`].
//! - [`TermKeys`] (a one-way chain of AES-256-GCM keys, one a day) seal
//!   what identifies a child in a record until its term ends.
//!
//! This is the lowest layer of the gateway with the clock: it knows no
//! record, rule or store.

mod aead;
mod bytes;
mod child_key;
mod key_ring;
mod payload_key;
mod secret_file;
mod signing_key;
mod term_keys;

pub use bytes::{ChildRef, Digest, Salt, Signature, key_id, random_bytes, sha256};
pub use child_key::{CHILD_KEY_FILE, ChildKey};
pub use key_ring::{GatewayKeys, RETIRED_KEYS_DIR, Rotation, rotate};
pub use payload_key::{DecryptError, PAYLOAD_KEY_FILE, PayloadKey, SealError};
pub use secret_file::{KeyError, load_or_create_secret};
pub use signing_key::{SIGNING_KEY_FILE, Signer, SigningKey};
pub use term_keys::{DayKey, TERM_KEYS_FILE, TermKeys, date_of_day, day_of};
