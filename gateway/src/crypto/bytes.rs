//! Fixed-size byte values (digests, child references, signatures) and the
//! functions that make them from bytes: SHA-256, key ids, random bytes. Typed so
//! that a hash is never confused with text, and stored as lowercase hex, as
//! the data folders of every release so far hold them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! hex_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The value of exactly this many bytes, if `bytes` has them.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }

            /// The value of a lowercase hex text of this length: the one
            /// form the gateway writes, so that one value has one text.
            pub fn from_hex(text: &str) -> Option<Self> {
                if !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    return None;
                }
                let mut out = [0u8; $len];
                hex::decode_to_slice(text, &mut out).ok()?;
                Some(Self(out))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::from_hex(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "must be {} lowercase hex characters, not {text:?}",
                        2 * $len
                    ))
                })
            }
        }
    };
}

hex_bytes!(
    /// A SHA-256 digest: of a payload, a request, an audit entry.
    Digest,
    32
);

hex_bytes!(
    /// A child reference: HMAC-SHA256 of a BSN under the gateway's secret.
    /// It links messages and consents about one child without the BSN.
    ChildRef,
    32
);

hex_bytes!(
    /// An Ed25519 signature.
    Signature,
    64
);

hex_bytes!(
    /// Random bytes that salt a commitment, so that equal values do not
    /// give equal commitments (an audit entry's child reference).
    Salt,
    16
);

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Digest(out)
}

pub use schakel_proto::keys::key_id;

/// `N` bytes from the system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // A machine without a working random source cannot keep secrets at all:
    // failing loudly is the only safe answer.
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random source works");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_wrong_lengths_are_refused() {
        let d = Digest([0xab; 32]);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"abcd\"").is_err());
        assert!(serde_json::from_str::<Digest>(&format!("\"{}\"", "zz".repeat(32))).is_err());
        assert!(serde_json::from_str::<Digest>(&format!("\"{}\"", "AB".repeat(32))).is_err());
        assert!(serde_json::from_str::<Signature>(&json).is_err());
        assert_eq!(Digest::from_slice(&[1; 32]), Some(Digest([1; 32])));
        assert_eq!(Digest::from_slice(&[1; 31]), None);
    }
}
