//! The signature of an access report (Audit.Report): the gateway signs the
//! report's JSON document with the key that signs receipts and checkpoints,
//! so that whoever hands the report over can show it is the gateway's and
//! unaltered, offline.

use crate::audit::{field, signed_by};

/// Tag that starts an access report's signed encoding.
pub const REPORT_TAG: &str = "schakel-report-v1";

/// The bytes an access report's signature covers.
pub fn signing_bytes(document: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(document.len() + 32);
    field(&mut out, REPORT_TAG.as_bytes());
    field(&mut out, document);
    out
}

/// Whether `signature` signs `document` under the gateway's `public_key`.
pub fn verify(public_key: &[u8], document: &[u8], signature: &[u8]) -> bool {
    signed_by(public_key, &signing_bytes(document), signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    #[test]
    fn a_report_verifies_and_an_altered_one_does_not() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let document = br#"{"child_ref":"ab"}"#;
        let signature = key.sign(&signing_bytes(document));
        let public = key.public_key().as_ref();
        assert!(verify(public, document, signature.as_ref()));
        assert!(!verify(
            public,
            br#"{"child_ref":"ac"}"#,
            signature.as_ref()
        ));
        assert!(!verify(&[0; 32], document, signature.as_ref()));
    }
}
