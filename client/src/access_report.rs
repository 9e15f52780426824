//! The access report file: the signed report as the gateway made it, in one
//! JSON object (the document kept as its exact text, so that its signature
//! can be checked), and its offline verification with the gateway's key.

use crate::{KeyRing, SignatureProblem};
use schakel_proto::v1 as pb;
use serde_json::{Value, json};

/// The format of a report file.
pub const FILE_FORMAT: &str = "schakel-signed-access-report-v1";

/// Why a report file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file is not a report file.
    #[error("not an access report file: {0}")]
    Format(String),
    /// The signature does not verify.
    #[error(
        "the report is not the gateway's as it was signed: {0}; it was altered, or signed by another gateway"
    )]
    Signature(SignatureProblem),
}

/// A signed report as a file's JSON.
pub fn to_json(r: &pb::AccessReport) -> Value {
    json!({
        "format": FILE_FORMAT,
        "key_id": r.key_id,
        "signature": hex::encode(&r.signature),
        "document": String::from_utf8_lossy(&r.document),
    })
}

/// A signed report read back from a file's JSON.
pub fn from_json(v: &Value) -> Result<pb::AccessReport, ReportError> {
    let field = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| ReportError::Format(format!("{name}: missing or not text")))
    };
    if field("format")? != FILE_FORMAT {
        return Err(ReportError::Format(format!("format is not {FILE_FORMAT}")));
    }
    Ok(pb::AccessReport {
        document: field("document")?.as_bytes().to_vec(),
        signature: hex::decode(field("signature")?)
            .map_err(|_| ReportError::Format("signature: not hex".into()))?,
        key_id: field("key_id")?.to_owned(),
    })
}

/// Verifies `r` with the gateway's public keys; its document, parsed.
pub fn verify(r: &pb::AccessReport, keys: &KeyRing) -> Result<Value, ReportError> {
    schakel_proto::report::check(keys, r).map_err(ReportError::Signature)?;
    serde_json::from_slice(&r.document).map_err(|e| ReportError::Format(e.to_string()))
}
