//! The gateway's public signing keys as a verifier holds them. The key that
//! signs receipts, checkpoints, export ranges and access reports can rotate:
//! what it signs names it by key id (and the id is part of what is signed),
//! and `Directory.GatewayKey` lists every key still in use, so that a receipt
//! signed before a rotation still verifies after it.

use crate::audit::signed_by;
use crate::v1::GatewayKeyResponse;

/// The key id of an Ed25519 public key: the first 8 bytes of its SHA-256, in
/// hex. Short enough to print, long enough to tell a gateway's keys apart.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&ring::digest::digest(&ring::digest::SHA256, public_key).as_ref()[..8])
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    /// The object names a key the verifier does not hold: the key was
    /// retired and dropped, or the object is not from this gateway.
    UnknownKey(String),
    /// No key held verifies the signature: the object was altered, or is
    /// not from this gateway.
    Invalid,
    /// The receipt's proof in the audit log's tree does not hold (why, in
    /// words): it was altered, or the log it names is not this gateway's.
    NotInLog(String),
}

impl std::fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownKey(id) => write!(
                f,
                "it is signed by key {id}, which is not among the gateway's keys (see `schakel directory gateway-key`)"
            ),
            Self::Invalid => write!(f, "its signature does not verify under the gateway's keys"),
            Self::NotInLog(why) => write!(f, "it is not proved in the gateway's audit log: {why}"),
        }
    }
}

/// The Ed25519 public keys a verifier trusts, each with its key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<(String, Vec<u8>)>,
}

impl KeyRing {
    /// A ring of one key: a key pinned out of band, or a single `--key`.
    pub fn single(public_key: &[u8]) -> Self {
        Self::of(std::iter::once(public_key.to_vec()))
    }

    /// A ring of the given raw public keys.
    pub fn of(keys: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self {
            keys: keys.into_iter().map(|k| (key_id(&k), k)).collect(),
        }
    }

    /// Every key a `Directory.GatewayKey` answer lists; an answer from a
    /// gateway that lists none gives its one key.
    pub fn from_response(r: &GatewayKeyResponse) -> Self {
        if r.keys.is_empty() {
            Self::single(&r.ed25519_public_key)
        } else {
            Self::of(r.keys.iter().map(|k| k.ed25519_public_key.clone()))
        }
    }

    /// Keys given as hex text, separated by commas or white space (as
    /// `schakel directory gateway-key` prints them).
    pub fn parse_hex(text: &str) -> Result<Self, String> {
        let keys = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| match hex::decode(s) {
                Ok(k) if k.len() == 32 => Ok(k),
                Ok(_) => Err(format!(
                    "{s}: an Ed25519 public key is 32 bytes (64 hex characters)"
                )),
                Err(_) => Err(format!("{s}: not hex")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err("no key given".into());
        }
        Ok(Self::of(keys))
    }

    /// The keys as hex, separated by commas: what [`KeyRing::parse_hex`]
    /// reads, and what `--key` takes.
    pub fn to_hex(&self) -> String {
        self.keys
            .iter()
            .map(|(_, k)| hex::encode(k))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The key ids held, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    /// Checks `signature` over `message`, made by the key `key_id` names; an
    /// empty `key_id` (an object signed before keys could rotate) may be
    /// signed by any key held.
    pub fn check(
        &self,
        key_id: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureProblem> {
        if key_id.is_empty() {
            return match self
                .keys
                .iter()
                .any(|(_, k)| signed_by(k, message, signature))
            {
                true => Ok(()),
                false => Err(SignatureProblem::Invalid),
            };
        }
        let (_, key) = self
            .keys
            .iter()
            .find(|(id, _)| id == key_id)
            .ok_or_else(|| SignatureProblem::UnknownKey(key_id.to_owned()))?;
        match signed_by(key, message, signature) {
            true => Ok(()),
            false => Err(SignatureProblem::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn pair() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    #[test]
    fn a_named_key_must_be_held_and_must_verify() {
        let (old, new) = (pair(), pair());
        let ring = KeyRing::of([
            new.public_key().as_ref().to_vec(),
            old.public_key().as_ref().to_vec(),
        ]);
        let old_id = key_id(old.public_key().as_ref());
        let sig = old.sign(b"m");
        assert_eq!(ring.check(&old_id, b"m", sig.as_ref()), Ok(()));
        assert_eq!(
            ring.check(&old_id, b"n", sig.as_ref()),
            Err(SignatureProblem::Invalid)
        );
        // The right signature under another key's name does not pass.
        let new_id = key_id(new.public_key().as_ref());
        assert_eq!(
            ring.check(&new_id, b"m", sig.as_ref()),
            Err(SignatureProblem::Invalid)
        );
        let stranger = key_id(pair().public_key().as_ref());
        assert_eq!(
            ring.check(&stranger, b"m", sig.as_ref()),
            Err(SignatureProblem::UnknownKey(stranger.clone()))
        );
    }

    #[test]
    fn an_unnamed_signature_may_be_any_key_held() {
        let (old, new) = (pair(), pair());
        let ring = KeyRing::of([
            new.public_key().as_ref().to_vec(),
            old.public_key().as_ref().to_vec(),
        ]);
        assert_eq!(ring.check("", b"m", old.sign(b"m").as_ref()), Ok(()));
        assert_eq!(
            KeyRing::single(new.public_key().as_ref()).check("", b"m", old.sign(b"m").as_ref()),
            Err(SignatureProblem::Invalid)
        );
    }

    #[test]
    fn hex_keys_parse_with_commas_or_spaces() {
        let (a, b) = (pair(), pair());
        let text = format!(
            "{}, {}\n",
            hex::encode(a.public_key()),
            hex::encode(b.public_key())
        );
        let ring = KeyRing::parse_hex(&text).unwrap();
        assert_eq!(
            ring.ids().collect::<Vec<_>>(),
            [
                key_id(a.public_key().as_ref()),
                key_id(b.public_key().as_ref())
            ]
        );
        assert_eq!(KeyRing::parse_hex(&ring.to_hex()).unwrap(), ring);
        assert!(KeyRing::parse_hex("zz").unwrap_err().contains("not hex"));
        assert!(KeyRing::parse_hex("abcd").unwrap_err().contains("32 bytes"));
        assert_eq!(KeyRing::parse_hex(" ").unwrap_err(), "no key given");
        assert_eq!(key_id(&[0; 32]).len(), 16);
    }
}
