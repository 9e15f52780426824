//! The payload as it travels, and its digest.
//!
//! A message's payload crosses the wire as the serialized `Payload` message
//! its sender's protobuf library wrote (`bytes payload` in `SendRequest`
//! and `Envelope`). The gateway keeps those bytes as they are and delivers
//! them unchanged, and the digest named in envelopes and receipts is their
//! SHA-256. Protobuf encodings are not canonical across libraries, so a
//! digest over a re-encoding could differ between a Java sender and a
//! Python recipient; a digest over bytes both hold cannot.

use prost::Message as _;

use crate::v1 as pb;

/// An attachment with the SHA-256 of its content filled in, as the gateway
/// checks it.
pub fn attachment(name: &str, media_type: &str, content: Vec<u8>) -> pb::Attachment {
    let sha256 = ring::digest::digest(&ring::digest::SHA256, &content)
        .as_ref()
        .to_vec();
    pb::Attachment {
        name: name.to_owned(),
        media_type: media_type.to_owned(),
        content,
        sha256,
    }
}

/// The bytes to put in a `SendRequest`'s payload.
pub fn encode(payload: &pb::Payload) -> Vec<u8> {
    payload.encode_to_vec()
}

/// The payload of an envelope, decoded.
pub fn decode(bytes: &[u8]) -> Result<pb::Payload, prost::DecodeError> {
    pb::Payload::decode(bytes)
}

/// The digest of payload bytes as envelopes and receipts name it: their
/// SHA-256.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_the_sha256_of_the_bytes_as_they_are() {
        let payload = pb::Payload {
            body: None,
            attachments: vec![attachment("a.pdf", "application/pdf", b"one".to_vec())],
        };
        let bytes = encode(&payload);
        assert_eq!(decode(&bytes).unwrap(), payload);
        // SHA-256 of "abc", the standard's own test vector.
        assert_eq!(
            hex::encode(digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
