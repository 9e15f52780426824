//! The signature of an access report (Audit.Report): the gateway signs the
//! report's JSON document with the key that signs receipts and checkpoints,
//! so that whoever hands the report over can show it is the gateway's and
//! unaltered, offline.

use crate::audit::field;
use crate::keys::{KeyRing, SignatureProblem};
use crate::v1::AccessReport;

/// Tag that starts the signed encoding of a report without a key id.
pub const REPORT_TAG: &str = "schakel-report-v1";
/// Tag that starts the signed encoding of a report that names its key.
pub const REPORT_TAG_V2: &str = "schakel-report-v2";

/// The bytes an access report's signature covers: the key id (if any) and
/// the document.
pub fn signing_bytes(key_id: &str, document: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(document.len() + 48);
    if key_id.is_empty() {
        field(&mut out, REPORT_TAG.as_bytes());
    } else {
        field(&mut out, REPORT_TAG_V2.as_bytes());
        field(&mut out, key_id.as_bytes());
    }
    field(&mut out, document);
    out
}

/// Checks a report's signature under the key it names, among `keys`. A
/// report of gateway 0.1 named its key without signing the name ("-v1"): it
/// verifies under the key it names with the "-v1" encoding.
pub fn check(keys: &KeyRing, r: &AccessReport) -> Result<(), SignatureProblem> {
    let signed =
        |key_id: &str| keys.check(&r.key_id, &signing_bytes(key_id, &r.document), &r.signature);
    match signed(&r.key_id) {
        Err(SignatureProblem::Invalid) if !r.key_id.is_empty() => signed(""),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::key_id;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    #[test]
    fn a_report_verifies_under_its_key_and_an_altered_one_does_not() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let keys = KeyRing::single(key.public_key().as_ref());
        let id = key_id(key.public_key().as_ref());
        let document = br#"{"child_ref":"ab"}"#.to_vec();
        let report = AccessReport {
            signature: key.sign(&signing_bytes(&id, &document)).as_ref().to_vec(),
            document,
            key_id: id.clone(),
        };
        assert_eq!(check(&keys, &report), Ok(()));
        let altered = AccessReport {
            document: br#"{"child_ref":"ac"}"#.to_vec(),
            ..report.clone()
        };
        assert_eq!(check(&keys, &altered), Err(SignatureProblem::Invalid));
        // The key id is signed: a report cannot be passed off as unnamed.
        let unnamed = AccessReport {
            key_id: String::new(),
            ..report.clone()
        };
        assert_eq!(check(&keys, &unnamed), Err(SignatureProblem::Invalid));
        // A report of the first format still verifies: gateway 0.1 named
        // its key without signing the name, and under another name it does
        // not.
        let v1 = AccessReport {
            signature: key
                .sign(&signing_bytes("", &report.document))
                .as_ref()
                .to_vec(),
            ..report
        };
        assert_eq!(check(&keys, &v1), Ok(()));
        let unnamed_v1 = AccessReport {
            key_id: String::new(),
            ..v1.clone()
        };
        assert_eq!(check(&keys, &unnamed_v1), Ok(()));
        let misnamed = AccessReport {
            key_id: "0011223344556677".into(),
            ..v1
        };
        assert_eq!(
            check(&keys, &misnamed),
            Err(SignatureProblem::UnknownKey("0011223344556677".into()))
        );
    }
}
