//! No BSN in what a caller types, tried on every string field of every
//! call: the list of fields is made here from the contract's descriptors,
//! so a field added to the contract is tried without anyone adding it. Each
//! request holds only that field, set to text with a valid BSN in it, and
//! must be refused with INVALID_ARGUMENT naming the field, over real mutual
//! TLS, before anything else is decided about it. The fields meant for a
//! BSN (named `bsn` or `..._bsn`) are left out: they are checked as BSNs.

use std::collections::HashMap;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use schakel_tests::calls::raw_result;
use schakel_tests::{TestGateway, org};

/// Text a caller might type, with a BSN that passes the elfproef.
const TYPED: &str = "leerling 111222333, zie dossier";

/// A string field to try: its path as the gateway names it, and the
/// request holding only it.
struct Case {
    rpc: String,
    streaming: bool,
    path: String,
    body: Vec<u8>,
}

fn key(number: i32) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint((u64::from(number as u32) << 3) | 2, &mut out);
    out
}

fn field(number: i32, value: &[u8]) -> Vec<u8> {
    let mut out = key(number);
    prost::encoding::encode_varint(value.len() as u64, &mut out);
    out.extend_from_slice(value);
    out
}

/// Every string field reachable from message `name`, as (path, encoding
/// of a message holding only it).
fn strings_of(
    messages: &HashMap<String, DescriptorProto>,
    name: &str,
    depth: usize,
) -> Vec<(String, Vec<u8>)> {
    let Some(message) = messages.get(name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in &message.field {
        if schakel_gateway::api::free_text::meant_for_a_bsn(f.name()) {
            continue;
        }
        match f.r#type() {
            Type::String => out.push((f.name().to_owned(), field(f.number(), TYPED.as_bytes()))),
            Type::Message if depth < 4 => {
                let index = if f.label() == Label::Repeated {
                    "[0]"
                } else {
                    ""
                };
                for (path, inner) in strings_of(messages, f.type_name(), depth + 1) {
                    out.push((
                        format!("{}{index}.{path}", f.name()),
                        field(f.number(), &inner),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// Every call's string fields.
fn cases() -> Vec<Case> {
    let set = FileDescriptorSet::decode(schakel_proto::v1::FILE_DESCRIPTOR_SET).unwrap();
    let mut messages = HashMap::new();
    for file in &set.file {
        for m in &file.message_type {
            messages.insert(format!(".{}.{}", file.package(), m.name()), m.clone());
        }
    }
    let mut cases = Vec::new();
    for file in &set.file {
        for service in &file.service {
            if service.name() == "Bench" {
                continue;
            }
            for method in &service.method {
                for (path, body) in strings_of(&messages, method.input_type(), 0) {
                    cases.push(Case {
                        rpc: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                        streaming: method.server_streaming(),
                        path,
                        body,
                    });
                }
            }
        }
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bsn_in_any_string_field_of_any_call_is_refused_naming_the_field() {
    let cases = cases();
    for expected in [
        "/schakel.v1.Exchange/Send client_reference",
        "/schakel.v1.Exchange/Send case_reference",
        "/schakel.v1.Exchange/Reject detail",
        "/schakel.v1.Consent/Grant purpose",
        "/schakel.v1.Consent/Revoke reason",
        "/schakel.v1.Exchange/SendBatch messages[0].client_reference",
    ] {
        assert!(
            cases
                .iter()
                .any(|c| format!("{} {}", c.rpc, c.path) == expected),
            "the descriptors lack {expected}"
        );
    }
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let mut wrong = Vec::new();
    for c in &cases {
        let caller = if c.rpc.contains(".Admin/") || c.rpc.contains(".Audit/") {
            &operator
        } else {
            &school
        };
        match raw_result(caller, &c.rpc, c.body.clone(), c.streaming).await {
            Err(s)
                if s.code() == tonic::Code::InvalidArgument
                    && s.message().starts_with(&format!("{}: holds a BSN", c.path)) => {}
            other => wrong.push(format!("{} {}: {other:?}", c.rpc, c.path)),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} fields let a BSN through:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!("{} string fields of every call tried", cases.len());
}

/// Nothing a caller types enters the audit chain, which nothing erases: a
/// revocation's reason, a rejection's detail, an access report's reason,
/// a suspension's reason and a value a refusal would quote are recorded as
/// "text of N characters given", or by the field and rule alone. Each text
/// here is marked, and the exported log must hold no mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_text_a_caller_typed_is_kept_in_the_audit_log() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt_oin = gw.oin(org::JGT);
    let consent = schakel_tests::fixtures::granted(&swv).await;
    swv.send(schakel_tests::fixtures::consult(
        "typed", &jgt_oin, &consent,
    ))
    .await
    .unwrap();
    let jgt = gw.client(org::JGT).await;
    let pulled = jgt
        .pull(1, std::time::Duration::ZERO, std::time::Duration::ZERO)
        .await
        .unwrap();
    let id = pulled[0].envelope.as_ref().unwrap().message_id.clone();
    jgt.reject(
        &id,
        schakel_client::proto::RejectReason::NotAssessed,
        "MARK-REJECT geen capaciteit",
    )
    .await
    .unwrap();
    swv.revoke_consent(&consent, "MARK-REVOKE ouders trekken in")
        .await
        .unwrap();
    let mut forged = schakel_tests::fixtures::signalering("forged", &gw.oin(org::VERWIJSINDEX));
    forged.sender_oin = "MARK-SENDER".into();
    assert!(swv.send(forged).await.is_err());
    let operator = gw.client(org::OPERATOR).await;
    operator
        .audit_report(
            schakel_tests::fixtures::BSN[2],
            "MARK-REPORT verzoek ouders",
        )
        .await
        .unwrap();
    operator
        .suspend_participant(&gw.oin(org::GEMEENTE), "MARK-SUSPEND lek")
        .await
        .unwrap();
    let lines = schakel_tests::calls::export_lines(&operator).await;
    let log = lines.join("\n");
    assert!(log.contains("text of"), "the log notes that text was given");
    assert!(
        !log.contains("MARK-"),
        "typed text in the audit log:\n{log}"
    );
}
