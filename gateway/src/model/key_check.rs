//! What the instances sharing one database must agree on: their keys.

use serde::{Deserialize, Serialize};

/// Proof of the keys a store's data was made with, without the keys: the
/// first gateway to open a shared store records it, and every later one
/// compares its own keys with it, so that an instance started without
/// copies of the others' key files is refused instead of sealing payloads
/// no other instance can open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCheck {
    /// The id of the signing key that signed first.
    pub signing_key_id: String,
    /// A child reference of a fixed text, made with the child key (hex).
    pub child_key_check: String,
    /// A fixed text sealed with the payload key: it opens only with it.
    pub payload_key_check: Vec<u8>,
    /// A fixed text blinded under a far day of the term key chain (hex),
    /// the same for every copy of the chain: empty in a store whose first
    /// gateway was of a release before term keys, until a gateway records
    /// it.
    #[serde(default)]
    pub term_key_check: String,
}

impl KeyCheck {
    /// The fixed text behind the child and payload checks.
    pub const TEXT: &'static str = "schakel key check";
}
