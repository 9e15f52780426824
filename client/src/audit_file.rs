//! The audit export file: one JSON object per line, first the signed range,
//! then entries and checkpoints in chain order. It holds everything the
//! offline verifier needs; with the gateway's public key anyone can check it
//! without the gateway, and find the first altered, missing or reordered
//! entry, or entries cut off either end of the signed range.

use std::io::BufRead;

use crate::KeyRing;
use schakel_proto::audit::{Verdict, Verifier, time_ms, timestamp};
use schakel_proto::v1 as pb;
use serde_json::{Value, json};

/// Why an export file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading failed.
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a record of this format.
    #[error("line {line}: {message}")]
    Format {
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn basis_json(b: Option<&pb::LegalBasis>) -> Value {
    let Some(b) = b else {
        return Value::Null;
    };
    let mut v = match &b.basis {
        None => json!({}),
        Some(pb::legal_basis::Basis::ConsentId(id)) => json!({"consent_id": id}),
        Some(pb::legal_basis::Basis::Statutory(s)) => json!({
            "statutory": pb::StatutoryBasis::try_from(*s).unwrap_or_default().as_str_name()
        }),
        Some(pb::legal_basis::Basis::NoPersonalData(_)) => json!({"no_personal_data": true}),
    };
    if b.purpose != 0 {
        v["purpose"] = pb::ConsentPurpose::try_from(b.purpose)
            .unwrap_or_default()
            .as_str_name()
            .into();
    }
    if b.necessity_declared {
        v["necessity_declared"] = true.into();
    }
    v
}

fn basis_from_json(b: &Value) -> Result<pb::LegalBasis, String> {
    use pb::legal_basis::Basis;
    let basis = if let Some(id) = b.get("consent_id").and_then(Value::as_str) {
        Some(Basis::ConsentId(id.to_owned()))
    } else if let Some(s) = b.get("statutory").and_then(Value::as_str) {
        Some(Basis::Statutory(
            pb::StatutoryBasis::from_str_name(s).ok_or("legal_basis.statutory: unknown")? as i32,
        ))
    } else if b.get("no_personal_data").and_then(Value::as_bool) == Some(true) {
        Some(Basis::NoPersonalData(pb::NoPersonalData {}))
    } else {
        None
    };
    let purpose = match b.get("purpose").and_then(Value::as_str) {
        None => 0,
        Some(p) => {
            pb::ConsentPurpose::from_str_name(p).ok_or("legal_basis.purpose: unknown")? as i32
        }
    };
    Ok(pb::LegalBasis {
        basis,
        purpose,
        necessity_declared: b.get("necessity_declared").and_then(Value::as_bool) == Some(true),
    })
}

/// One export record as JSON.
pub fn to_json(record: &pb::AuditExportRecord) -> Value {
    use pb::audit_export_record::Record;
    match &record.record {
        Some(Record::Range(r)) => json!({
            "type": "range",
            "from_sequence": r.from_sequence,
            "to_sequence": r.to_sequence,
            "prev_hash": hex::encode(&r.prev_hash),
            "last_hash": hex::encode(&r.last_hash),
            "time_ms": time_ms(r.time),
            "signature": hex::encode(&r.signature),
            "key_id": r.key_id,
        }),
        Some(Record::Entry(e)) => entry_json(e),
        Some(Record::TreeHead(h)) => tree_head_json(h),
        Some(Record::Checkpoint(c)) => json!({
            "type": "checkpoint",
            "sequence": c.sequence,
            "head_hash": hex::encode(&c.head_hash),
            "time_ms": time_ms(c.time),
            "signature": hex::encode(&c.signature),
            "key_id": c.key_id,
        }),
        None => Value::Null,
    }
}

/// A signed tree head as JSON (also the state file of `schakel audit
/// witness`); [`tree_head_from_json`] reads it back.
pub fn tree_head_json(h: &pb::TreeHead) -> Value {
    json!({
        "type": "tree_head",
        "size": h.size,
        "root_hash": hex::encode(&h.root_hash),
        "first_sequence": h.first_sequence,
        "time_ms": time_ms(h.time),
        "key_id": h.key_id,
        "signature": hex::encode(&h.signature),
    })
}

/// A signed tree head from [`tree_head_json`]'s form.
pub fn tree_head_from_json(v: &Value) -> Result<pb::TreeHead, String> {
    Ok(pb::TreeHead {
        size: number(v, "size")? as u64,
        root_hash: bytes(v, "root_hash")?,
        first_sequence: number(v, "first_sequence")? as u64,
        time: Some(timestamp(number(v, "time_ms")?)),
        key_id: text(v, "key_id")?,
        signature: bytes(v, "signature")?,
    })
}

/// One entry as JSON (also the `--json` form of `schakel audit query`).
pub fn entry_json(e: &pb::AuditEntry) -> Value {
    json!({
        "type": "entry",
        "sequence": e.sequence,
        "time_ms": time_ms(e.time),
        "actor_oin": e.actor_oin,
        "action": pb::AuditAction::try_from(e.action).unwrap_or_default().as_str_name(),
        "message_id": e.message_id,
        "counterpart_oin": e.counterpart_oin,
        "kind": pb::MessageKind::try_from(e.kind).unwrap_or_default().as_str_name(),
        "child_ref": e.child_ref,
        "legal_basis": basis_json(e.legal_basis.as_ref()),
        "detail": e.detail,
        "prev_hash": hex::encode(&e.prev_hash),
        "format": e.format,
        "case_id": e.case_id,
        "child_ref_salt": hex::encode(&e.child_ref_salt),
        "child_ref_commitment": hex::encode(&e.child_ref_commitment),
        "receipt_digest": hex::encode(&e.receipt_digest),
    })
}

fn text(v: &Value, field: &str) -> Result<String, String> {
    v.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{field}: missing or not text"))
}

fn number(v: &Value, field: &str) -> Result<i64, String> {
    v.get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("{field}: missing or not a number"))
}

fn bytes(v: &Value, field: &str) -> Result<Vec<u8>, String> {
    hex::decode(text(v, field)?).map_err(|_| format!("{field}: not hex"))
}

/// A field that lines of the first format did not have: empty when absent.
fn optional_text(v: &Value, field: &str) -> Result<String, String> {
    match v.get(field) {
        None => Ok(String::new()),
        Some(_) => text(v, field),
    }
}

fn optional_bytes(v: &Value, field: &str) -> Result<Vec<u8>, String> {
    hex::decode(optional_text(v, field)?).map_err(|_| format!("{field}: not hex"))
}

/// Reads one export line back into a record.
pub fn from_json(v: &Value) -> Result<pb::AuditExportRecord, String> {
    use pb::audit_export_record::Record;
    let record = match text(v, "type")?.as_str() {
        "range" => Record::Range(pb::AuditExportRange {
            from_sequence: number(v, "from_sequence")? as u64,
            to_sequence: number(v, "to_sequence")? as u64,
            prev_hash: optional_bytes(v, "prev_hash")?,
            last_hash: optional_bytes(v, "last_hash")?,
            time: Some(timestamp(
                v.get("time_ms").and_then(Value::as_i64).unwrap_or(0),
            )),
            signature: optional_bytes(v, "signature")?,
            key_id: optional_text(v, "key_id")?,
        }),
        "checkpoint" => Record::Checkpoint(pb::AuditCheckpoint {
            sequence: number(v, "sequence")? as u64,
            head_hash: bytes(v, "head_hash")?,
            time: Some(timestamp(number(v, "time_ms")?)),
            signature: bytes(v, "signature")?,
            key_id: optional_text(v, "key_id")?,
        }),
        "entry" => {
            let action =
                pb::AuditAction::from_str_name(&text(v, "action")?).ok_or("action: unknown")?;
            let kind = pb::MessageKind::from_str_name(&text(v, "kind")?).ok_or("kind: unknown")?;
            let legal_basis = match v.get("legal_basis") {
                None | Some(Value::Null) => None,
                Some(b) => Some(basis_from_json(b)?),
            };
            Record::Entry(pb::AuditEntry {
                sequence: number(v, "sequence")? as u64,
                time: Some(timestamp(number(v, "time_ms")?)),
                actor_oin: text(v, "actor_oin")?,
                action: action as i32,
                message_id: text(v, "message_id")?,
                counterpart_oin: text(v, "counterpart_oin")?,
                kind: kind as i32,
                child_ref: text(v, "child_ref")?,
                legal_basis,
                detail: text(v, "detail")?,
                prev_hash: bytes(v, "prev_hash")?,
                format: v.get("format").and_then(Value::as_u64).unwrap_or(1) as u32,
                case_id: optional_text(v, "case_id")?,
                child_ref_salt: optional_bytes(v, "child_ref_salt")?,
                child_ref_commitment: optional_bytes(v, "child_ref_commitment")?,
                receipt_digest: optional_bytes(v, "receipt_digest")?,
            })
        }
        "tree_head" => Record::TreeHead(tree_head_from_json(v)?),
        other => return Err(format!("type: unknown record type {other:?}")),
    };
    Ok(pb::AuditExportRecord {
        record: Some(record),
    })
}

/// Verifies an export against the gateway's Ed25519 public keys, offline.
/// A line that cannot be read at all is a format error; everything else is
/// in the verdict, which names the first entry that breaks the chain.
pub fn verify(reader: impl BufRead, keys: &KeyRing) -> Result<Verdict, FileError> {
    use pb::audit_export_record::Record;
    let mut verifier: Option<Verifier> = None;
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let format = |message: String| FileError::Format {
            line: i + 1,
            message,
        };
        let value: Value = serde_json::from_str(&line).map_err(|e| format(e.to_string()))?;
        let record = from_json(&value).map_err(format)?;
        match record.record {
            Some(Record::Range(r)) => {
                verifier.get_or_insert_with(|| Verifier::for_range(keys, &r));
            }
            Some(Record::Entry(e)) => {
                verifier
                    .get_or_insert_with(|| Verifier::new(keys, e.sequence <= 1))
                    .entry(&e);
            }
            Some(Record::Checkpoint(c)) => {
                verifier
                    .get_or_insert_with(|| Verifier::new(keys, true))
                    .checkpoint(&c);
            }
            Some(Record::TreeHead(h)) => {
                verifier
                    .get_or_insert_with(|| Verifier::new(keys, true))
                    .tree_head(&h);
            }
            None => {}
        }
    }
    Ok(verifier.map(Verifier::finish).unwrap_or_default())
}
