//! The payload digest named in envelopes and receipts.
//!
//! It is the SHA-256 of the payload's protobuf encoding with every
//! attachment's `content` left empty. The content is still covered: each
//! attachment carries the SHA-256 of its content, which the gateway checks
//! before it accepts the message, and that field is part of what is hashed.
//! Defined this way, the bytes of an 8 MiB dossier are hashed once (for the
//! attachment check) instead of twice, which the benchmark showed to be the
//! largest cost of a dossier in the gateway after the transport.

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

/// The digest of `payload` as envelopes and receipts name it.
pub fn digest(payload: &pb::Payload) -> [u8; 32] {
    let skeleton = pb::Payload {
        body: payload.body.clone(),
        attachments: payload
            .attachments
            .iter()
            .map(|a| pb::Attachment {
                name: a.name.clone(),
                media_type: a.media_type.clone(),
                content: Vec::new(),
                sha256: a.sha256.clone(),
            })
            .collect(),
    };
    let d = ring::digest::digest(&ring::digest::SHA256, &skeleton.encode_to_vec());
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_attachment(content: &[u8], sha: &[u8]) -> pb::Payload {
        pb::Payload {
            body: None,
            attachments: vec![pb::Attachment {
                name: "a.pdf".into(),
                media_type: "application/pdf".into(),
                content: content.to_vec(),
                sha256: sha.to_vec(),
            }],
        }
    }

    #[test]
    fn the_content_counts_through_its_declared_digest() {
        let a = digest(&with_attachment(b"one", &[1; 32]));
        assert_eq!(a, digest(&with_attachment(b"other bytes", &[1; 32])));
        assert_ne!(a, digest(&with_attachment(b"one", &[2; 32])));
    }

    #[test]
    fn without_attachments_it_is_the_hash_of_the_encoding() {
        let p = pb::Payload::default();
        let plain = ring::digest::digest(&ring::digest::SHA256, &p.encode_to_vec());
        assert_eq!(digest(&p).as_slice(), plain.as_ref());
    }
}
