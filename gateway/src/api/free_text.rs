//! No BSN in what a caller types: every string field of every request (a
//! client reference, a case reference, a reject's detail, a consent's
//! purpose, a revocation's or a suspension's reason, ...) is refused with
//! INVALID_ARGUMENT naming the field when it holds a valid BSN, before any
//! use case runs, because the gateway keeps those fields in clear (and some
//! of them in the audit chain, which nothing erases). Only the fields meant
//! for a BSN (named `bsn` or `..._bsn`) and the sealed payload of a message, which the
//! gateway never reads back, may hold one.
//!
//! The fields are found from the contract's own descriptors
//! ([`schakel_proto::v1::FILE_DESCRIPTOR_SET`]), by walking the request's
//! encoding, so that a field added to the contract is covered without
//! anyone remembering to.

use std::collections::HashMap;
use std::sync::LazyLock;

use prost::Message;
use prost_types::field_descriptor_proto::Type;
use tonic::Status;

use crate::policy::bsn;

/// What a field holds, as far as the walk cares.
#[derive(Debug, Clone)]
enum Holds {
    /// Text a caller types.
    Text,
    /// A message, by its full name (".schakel.v1.X"), and whether the
    /// field is repeated.
    Message(String, bool),
    /// A BSN, a sealed payload, or anything that is not text.
    Skipped,
}

/// The request types of the contract: their fields by number, and the
/// request type of each call by its path.
struct Schema {
    messages: HashMap<String, HashMap<u64, (String, Holds)>>,
    inputs: HashMap<String, String>,
}

/// Whether a field of this name is meant for a BSN (`bsn`, `child_bsn`):
/// those are checked as BSNs where they are used.
pub fn meant_for_a_bsn(field: &str) -> bool {
    field == "bsn" || field.ends_with("_bsn")
}

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let set = prost_types::FileDescriptorSet::decode(schakel_proto::v1::FILE_DESCRIPTOR_SET)
        .expect("the contract's descriptors decode");
    let mut schema = Schema {
        messages: HashMap::new(),
        inputs: HashMap::new(),
    };
    for file in &set.file {
        let package = file.package();
        for message in &file.message_type {
            let name = format!(".{package}.{}", message.name());
            let fields = message
                .field
                .iter()
                .map(|f| {
                    // A message's payload is bytes (the encoded content, sealed
                    // for its recipient): not walked.
                    let holds = if meant_for_a_bsn(f.name()) {
                        Holds::Skipped
                    } else {
                        match f.r#type() {
                            Type::String => Holds::Text,
                            Type::Message => Holds::Message(
                                f.type_name().to_owned(),
                                f.label() == prost_types::field_descriptor_proto::Label::Repeated,
                            ),
                            _ => Holds::Skipped,
                        }
                    };
                    (u64::from(f.number() as u32), (f.name().to_owned(), holds))
                })
                .collect();
            schema.messages.insert(name, fields);
        }
        for service in &file.service {
            for method in &service.method {
                schema.inputs.insert(
                    format!("/{package}.{}/{}", service.name(), method.name()),
                    method.input_type().to_owned(),
                );
            }
        }
    }
    schema
});

/// Refuses `request` of the call at `rpc` (its path) if a string field of
/// it holds a BSN; the status names the field.
pub fn refuse_bsn<T: Message>(rpc: &str, request: &T) -> Result<(), Status> {
    let Some(input) = SCHEMA.inputs.get(rpc) else {
        return Ok(());
    };
    match first_bsn(input, &request.encode_to_vec(), "") {
        None => Ok(()),
        Some(field) => Err(Status::invalid_argument(format!(
            "{field}: holds a BSN (9 digits that pass the elfproef); the gateway keeps this field in clear, so a BSN goes only in the fields meant for one (such as payload.signalering.bsn, or a consent's bsn); write a reference of your own here instead"
        ))),
    }
}

/// The path of the first string field of message `type_name`, encoded in
/// `bytes`, that holds a BSN.
fn first_bsn(type_name: &str, bytes: &[u8], prefix: &str) -> Option<String> {
    let fields = SCHEMA.messages.get(type_name)?;
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = varint(bytes, &mut at)?;
        let (number, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(bytes, &mut at)?;
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?).ok()?;
                let value = bytes.get(at..at.checked_add(len)?)?;
                at += len;
                let Some((name, holds)) = fields.get(&number) else {
                    continue;
                };
                let index = seen.entry(number).or_default();
                let path = format!("{prefix}{name}");
                let found = match holds {
                    Holds::Text => std::str::from_utf8(value)
                        .ok()
                        .filter(|text| bsn::found_in(text))
                        .map(|_| path.clone()),
                    Holds::Message(inner, true) => {
                        first_bsn(inner, value, &format!("{path}[{index}]."))
                    }
                    Holds::Message(inner, false) => first_bsn(inner, value, &format!("{path}.")),
                    Holds::Skipped => None,
                };
                *index += 1;
                if found.is_some() {
                    return found;
                }
            }
            _ => return None,
        }
    }
    None
}

/// Reads a varint at `at`, moving past it.
fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use schakel_proto::v1 as pb;

    use super::*;

    const SEND: &str = "/schakel.v1.Exchange/Send";

    #[test]
    fn a_bsn_in_a_string_field_is_refused_naming_it() {
        let r = pb::SendRequest {
            case_reference: "dossier van 111222333".into(),
            ..Default::default()
        };
        let e = refuse_bsn(SEND, &r).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message().starts_with("case_reference: holds a BSN"),
            "{e:?}"
        );
        let batch = pb::SendBatchRequest {
            messages: vec![
                pb::SendRequest::default(),
                pb::SendRequest {
                    client_reference: "111 222 333".into(),
                    ..Default::default()
                },
            ],
        };
        let e = refuse_bsn("/schakel.v1.Exchange/SendBatch", &batch).unwrap_err();
        assert!(
            e.message().starts_with("messages[1].client_reference:"),
            "{e:?}"
        );
    }

    #[test]
    fn the_fields_meant_for_a_bsn_and_the_sealed_payload_may_hold_one() {
        let consent = pb::GrantConsentRequest {
            bsn: "111222333".into(),
            purpose: "begeleiding".into(),
            ..Default::default()
        };
        assert!(refuse_bsn("/schakel.v1.Consent/Grant", &consent).is_ok());
        let send = pb::SendRequest {
            client_reference: "ref-1".into(),
            payload: pb::Payload {
                body: Some(pb::payload::Body::Signalering(pb::Signalering {
                    bsn: "111222333".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }
            .encode_to_vec(),
            ..Default::default()
        };
        assert!(refuse_bsn(SEND, &send).is_ok());
    }
}
