//! The audit export file: one JSON object per line, first the range, then
//! entries and checkpoints in chain order. It holds everything the offline
//! verifier needs; with the gateway's public key anyone can check it without
//! the gateway, and find the first altered, missing or reordered entry.

use std::io::BufRead;

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
    match b.and_then(|b| b.basis.as_ref()) {
        None => Value::Null,
        Some(pb::legal_basis::Basis::ConsentId(id)) => json!({"consent_id": id}),
        Some(pb::legal_basis::Basis::Statutory(s)) => json!({
            "statutory": pb::StatutoryBasis::try_from(*s).unwrap_or_default().as_str_name()
        }),
    }
}

/// One export record as JSON.
pub fn to_json(record: &pb::AuditExportRecord) -> Value {
    use pb::audit_export_record::Record;
    match &record.record {
        Some(Record::Range(r)) => {
            json!({"type": "range", "from_sequence": r.from_sequence, "to_sequence": r.to_sequence})
        }
        Some(Record::Entry(e)) => entry_json(e),
        Some(Record::Checkpoint(c)) => json!({
            "type": "checkpoint",
            "sequence": c.sequence,
            "head_hash": hex::encode(&c.head_hash),
            "time_ms": time_ms(c.time),
            "signature": hex::encode(&c.signature),
        }),
        None => Value::Null,
    }
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

/// Reads one export line back into a record.
pub fn from_json(v: &Value) -> Result<pb::AuditExportRecord, String> {
    use pb::audit_export_record::Record;
    let record = match text(v, "type")?.as_str() {
        "range" => Record::Range(pb::AuditExportRange {
            from_sequence: number(v, "from_sequence")? as u64,
            to_sequence: number(v, "to_sequence")? as u64,
        }),
        "checkpoint" => Record::Checkpoint(pb::AuditCheckpoint {
            sequence: number(v, "sequence")? as u64,
            head_hash: bytes(v, "head_hash")?,
            time: Some(timestamp(number(v, "time_ms")?)),
            signature: bytes(v, "signature")?,
        }),
        "entry" => {
            let action =
                pb::AuditAction::from_str_name(&text(v, "action")?).ok_or("action: unknown")?;
            let kind = pb::MessageKind::from_str_name(&text(v, "kind")?).ok_or("kind: unknown")?;
            let legal_basis = match v.get("legal_basis") {
                None | Some(Value::Null) => None,
                Some(b) => Some(pb::LegalBasis {
                    basis: Some(
                        if let Some(id) = b.get("consent_id").and_then(Value::as_str) {
                            pb::legal_basis::Basis::ConsentId(id.to_owned())
                        } else {
                            let s = text(b, "statutory")?;
                            pb::legal_basis::Basis::Statutory(
                                pb::StatutoryBasis::from_str_name(&s)
                                    .ok_or("legal_basis.statutory: unknown")?
                                    as i32,
                            )
                        },
                    ),
                }),
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
            })
        }
        other => return Err(format!("type: unknown record type {other:?}")),
    };
    Ok(pb::AuditExportRecord {
        record: Some(record),
    })
}

/// Verifies an export against the gateway's Ed25519 public key, offline.
/// A line that cannot be read at all is a format error; everything else is
/// in the verdict, which names the first entry that breaks the chain.
pub fn verify(reader: impl BufRead, public_key: &[u8]) -> Result<Verdict, FileError> {
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
                verifier.get_or_insert_with(|| Verifier::new(public_key, r.from_sequence <= 1));
            }
            Some(Record::Entry(e)) => {
                verifier
                    .get_or_insert_with(|| Verifier::new(public_key, e.sequence <= 1))
                    .entry(&e);
            }
            Some(Record::Checkpoint(c)) => {
                verifier
                    .get_or_insert_with(|| Verifier::new(public_key, true))
                    .checkpoint(&c);
            }
            None => {}
        }
    }
    Ok(verifier.map(Verifier::finish).unwrap_or_default())
}
