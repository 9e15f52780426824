//! AES-256-GCM with a fresh random nonce per sealing, the one way the
//! gateway encrypts at rest (payloads, and what identifies a child in a
//! record): ciphertext, then the 16-byte tag, then the 12-byte nonce.

use ring::aead::{Aad, LessSafeKey, Nonce};

use super::bytes::random_bytes;

/// Bytes sealing adds: the 16-byte tag and the 12-byte nonce.
pub const OVERHEAD: usize = 16 + 12;

/// Encrypts `plaintext` in place under `key`, binding `aad`; None only when
/// it is beyond what AES-GCM can take. Give a buffer with [`OVERHEAD`]
/// bytes of spare capacity and no byte of a large plaintext is copied.
pub fn seal(key: &LessSafeKey, aad: &[u8], mut plaintext: Vec<u8>) -> Option<Vec<u8>> {
    let nonce_bytes = random_bytes::<12>();
    let nonce = Nonce::assume_unique_for_key(nonce_bytes);
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut plaintext)
        .ok()?;
    plaintext.extend_from_slice(tag.as_ref());
    plaintext.extend_from_slice(&nonce_bytes);
    Some(plaintext)
}

/// Decrypts what [`seal`] produced under `key` with `aad`; None when it
/// does not open (another key, another `aad`, or altered).
pub fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < OVERHEAD {
        return None;
    }
    let (body, nonce) = sealed.split_at(sealed.len() - 12);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = body.to_vec();
    let len = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

/// An AES-256 key from 32 bytes; None for any other length.
pub fn key(bytes: &[u8]) -> Option<LessSafeKey> {
    ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, bytes)
        .ok()
        .map(LessSafeKey::new)
}
