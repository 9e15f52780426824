//! How commands print: readable text by default, one JSON object per line
//! with `--json`. Errors go to standard error in the same format.

pub use schakel_client::code_word;
use schakel_client::proto as pb;
use serde_json::{Value, json};

use super::words::{word, word_of};

/// The output mode of one invocation.
pub struct Output {
    /// Print JSON lines instead of text.
    pub json: bool,
}

impl Output {
    /// Prints one record: `value` as a JSON line whose `type` field says what
    /// it is (e.g. "receipt", "delivery"), so that a stream of mixed objects
    /// can be read line by line; or `text` for people.
    pub fn record(&self, kind: &str, value: Value, text: impl FnOnce() -> String) {
        if self.json {
            let mut line = serde_json::Map::new();
            line.insert("type".into(), kind.into());
            match value {
                Value::Object(fields) => {
                    debug_assert!(!fields.contains_key("type"), "a record names its type once");
                    line.extend(fields);
                }
                other => {
                    line.insert("value".into(), other);
                }
            }
            println!("{}", Value::Object(line));
        } else {
            println!("{}", text());
        }
    }

    /// Prints an error: `message` says it for a person; the gRPC code, if
    /// the gateway answered with one, comes from `e`.
    pub fn error(&self, e: &anyhow::Error, message: &str) {
        let code = e
            .downcast_ref::<schakel_client::ClientError>()
            .and_then(|c| c.status())
            .map(|s| code_word(s.code()));
        if self.json {
            eprintln!(
                "{}",
                json!({"type": "error", "error": message, "code": code})
            );
        } else {
            eprintln!("error: {message}");
        }
    }
}

/// The name of an organisation kind.
pub fn kind_name(kind: i32) -> String {
    word_of::<pb::OrganisationKind>(kind)
}

/// The name of a school's sector, or "" when it has none.
pub fn sector_name(sector: i32) -> String {
    match pb::SchoolSector::try_from(sector) {
        Ok(pb::SchoolSector::Unspecified) => String::new(),
        Ok(s) => word(s),
        Err(_) => sector.to_string(),
    }
}

/// The name of a participant status.
pub fn status_name(status: i32) -> String {
    word_of::<pb::ParticipantStatus>(status)
}

/// A participant as JSON.
pub fn participant_json(p: &pb::Participant) -> Value {
    let codes = p.codes.clone().unwrap_or_default();
    json!({
        "oin": p.oin,
        "name": p.name,
        "kind": kind_name(p.kind),
        "sector": sector_name(p.sector),
        "status": status_name(p.status),
        "codes": {
            "brin": codes.brin,
            "vestiging": codes.vestiging,
            "agb": codes.agb,
            "gemeentecode": codes.gemeentecode,
            "swv_number": codes.swv_number,
        },
        "suspended_reason": p.suspended_reason,
        "pinned_cert_sha256": p.pinned_cert_sha256,
    })
}

/// A participant as one readable line.
pub fn participant_line(p: &pb::Participant) -> String {
    let codes = p.codes.clone().unwrap_or_default();
    let sector = sector_name(p.sector);
    let code = [
        (!sector.is_empty()).then(|| format!("sector {sector}")),
        (!codes.brin.is_empty()).then(|| format!("BRIN {}{}", codes.brin, codes.vestiging)),
        (!codes.agb.is_empty()).then(|| format!("AGB {}", codes.agb)),
        (!codes.gemeentecode.is_empty()).then(|| codes.gemeentecode.clone()),
        (!codes.swv_number.is_empty()).then(|| format!("SWV {}", codes.swv_number)),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let mut line = format!(
        "{}  {:<12} {:<10} {}",
        p.oin,
        kind_name(p.kind),
        status_name(p.status),
        p.name
    );
    if !code.is_empty() {
        line.push_str(&format!("  [{code}]"));
    }
    if !p.suspended_reason.is_empty() {
        line.push_str(&format!("  (suspended: {})", p.suspended_reason));
    }
    line
}

/// The short name of a receipt status, "accepted", "delivered", ...
pub fn receipt_status_name(status: i32) -> String {
    word_of::<pb::ReceiptStatus>(status)
}

/// A message's legal basis as JSON, in the command line's words:
/// `{"consent_id": …, "purpose": "youth_care"}`, `{"statutory":
/// "verwijsindex", "necessity_declared": false}` or `{"no_personal_data": true}`.
pub fn basis_json(b: Option<&pb::LegalBasis>) -> Value {
    use pb::legal_basis::Basis;
    let Some(b) = b else {
        return Value::Null;
    };
    match &b.basis {
        None => Value::Null,
        Some(Basis::ConsentId(id)) => {
            json!({"consent_id": id, "purpose": word_of::<pb::ConsentPurpose>(b.purpose)})
        }
        Some(Basis::Statutory(s)) => json!({
            "statutory": word_of::<pb::StatutoryBasis>(*s),
            "necessity_declared": b.necessity_declared,
        }),
        Some(Basis::NoPersonalData(_)) => json!({"no_personal_data": true}),
    }
}

/// A timestamp as RFC 3339 text in UTC with milliseconds, so that columns
/// line up; empty when the gateway left it out.
pub fn time_text(t: Option<prost_types::Timestamp>) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let Some(t) = t else {
        return String::new();
    };
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .map(|d| d + time::Duration::nanoseconds(i64::from(t.nanos)))
        .ok()
        .and_then(|d| d.format(FORMAT).ok())
        .unwrap_or_default()
}

/// A (verified) receipt as JSON.
pub fn receipt_json(r: &pb::Receipt) -> Value {
    json!({
        "message_id": r.message_id,
        "status": receipt_status_name(r.status),
        "time": time_text(r.time),
        "payload_digest": hex::encode(&r.payload_digest),
        "sender_oin": r.sender_oin,
        "recipient_oin": r.recipient_oin,
        "audit_sequence": r.audit_sequence,
        "detail": r.detail,
        "signature": hex::encode(&r.signature),
        "key_id": r.key_id,
        "leaf_index": r.leaf_index,
        "tree_size": r.tree_head.as_ref().map_or(0, |h| h.size),
    })
}

/// How a (verified) receipt was verified, for a line of text: by its proof
/// in the audit log's tree, or by its own signature.
pub fn verified_by(r: &pb::Receipt) -> String {
    match &r.tree_head {
        Some(head) => format!("receipt proved in the audit log's tree of {}", head.size),
        None => format!("receipt signature by key {} verified", r.key_id),
    }
}

/// A receipt as one readable line.
pub fn receipt_line(r: &pb::Receipt) -> String {
    let mut line = format!(
        "{}  {:<9} {}  {} -> {}  audit #{}",
        time_text(r.time),
        receipt_status_name(r.status),
        r.message_id,
        r.sender_oin,
        r.recipient_oin,
        r.audit_sequence
    );
    if !r.detail.is_empty() {
        line.push_str(&format!("  ({})", r.detail));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_absent_times_follow_the_vocabulary() {
        assert_eq!(
            code_word(tonic::Code::PermissionDenied),
            "permission_denied"
        );
        assert_eq!(code_word(tonic::Code::Ok), "ok");
        assert_eq!(time_text(None), "");
        let t = prost_types::Timestamp {
            seconds: 1_795_000_000,
            nanos: 0,
        };
        assert_eq!(time_text(Some(t)), "2026-11-18T11:06:40.000Z");
    }
}
