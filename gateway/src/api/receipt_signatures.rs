//! The per-receipt signature, for the callers that still need it.
//!
//! A receipt verifies by its inclusion proof under a signed tree head (one
//! signature per group commit). Clients written before receipts carried
//! proofs verify the receipt's own Ed25519 signature instead; a call that
//! sends the header [`HEADER`] with the value [`ED25519`] gets every receipt
//! of its answer signed as well, and `exchange.receipt_signatures =
//! "always"` signs every receipt for every caller. The signature is made
//! here, on the answer, so that a caller who does not ask for it costs the
//! gateway no signature at all.

use std::sync::Arc;

use schakel_proto::v1 as pb;
use tonic::Status;
use tonic::metadata::MetadataMap;

use super::status::violation;
use crate::config::ReceiptSignatures;
use crate::crypto::Signer;
use crate::policy::invalid;
use crate::store::receipts::{self, Receipts};

/// The request header that asks for the per-receipt signature.
pub const HEADER: &str = "schakel-receipt-signature";

/// The one value [`HEADER`] takes: the signature's algorithm.
pub const ED25519: &str = "ed25519";

/// Signs the receipts of the answers of the callers that asked for it.
#[derive(Clone)]
pub struct Signatures {
    keys: Arc<dyn Signer>,
    rule: ReceiptSignatures,
}

/// Whether the receipts of one call's answer are to be signed, decided
/// from its request before the request is taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asked(bool);

impl Signatures {
    /// Signatures made with `keys`, for the callers `rule` names.
    pub fn new(keys: Arc<dyn Signer>, rule: ReceiptSignatures) -> Self {
        Self { keys, rule }
    }

    /// Whether the call with `metadata` gets signed receipts; a header
    /// with another value is refused (and the call changes nothing), so
    /// that a misspelt value is never taken for no.
    pub fn asked(&self, metadata: &MetadataMap) -> Result<Asked, Status> {
        let values: Vec<_> = metadata.get_all(HEADER).iter().collect();
        let header = match values.as_slice() {
            [] => false,
            [v] if v.to_str().is_ok_and(|v| v.eq_ignore_ascii_case(ED25519)) => true,
            _ => {
                return Err(violation(invalid(
                    format!("request header {HEADER}"),
                    format!(
                        "is {ED25519:?}, once (asks for each receipt signed on its own), or absent (receipts verify by their proof)"
                    ),
                )));
            }
        };
        Ok(Asked(header || self.rule == ReceiptSignatures::Always))
    }

    /// `answer` with each of its receipts signed, if `asked`.
    pub fn apply<T: Receipts>(&self, asked: Asked, mut answer: T) -> T {
        if asked.0 {
            answer.each(&mut |r| receipts::sign(r, self.keys.as_ref()));
        }
        answer
    }
}

impl Receipts for pb::SendResponse {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        self.receipt.each(f)
    }
}

impl Receipts for pb::SendBatchResponse {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        for result in &mut self.results {
            if let Some(pb::send_result::Outcome::Sent(sent)) = &mut result.outcome {
                sent.each(f);
            }
        }
    }
}

impl Receipts for pb::AckResponse {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        self.receipt.each(f)
    }
}

impl Receipts for pb::AckBatchResponse {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        for result in &mut self.results {
            if let Some(pb::ack_result::Outcome::Acked(acked)) = &mut result.outcome {
                acked.each(f);
            }
        }
    }
}

impl Receipts for pb::RejectResponse {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        self.receipt.each(f)
    }
}

impl Receipts for pb::MessageStatus {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        self.receipts.each(f)
    }
}

impl Receipts for pb::ReceiptEvent {
    fn each(&mut self, f: &mut dyn FnMut(&mut pb::Receipt)) {
        self.receipt.each(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;

    fn signatures(rule: ReceiptSignatures) -> (tempfile::TempDir, Signatures) {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(dir.path()).unwrap();
        (dir, Signatures::new(Arc::new(key), rule))
    }

    fn headers(value: Option<&str>) -> MetadataMap {
        let mut m = MetadataMap::new();
        if let Some(v) = value {
            m.insert(HEADER, v.parse().unwrap());
        }
        m
    }

    fn answer() -> pb::SendBatchResponse {
        let sent = |id: &str| pb::SendResult {
            outcome: Some(pb::send_result::Outcome::Sent(pb::SendResponse {
                message_id: id.into(),
                receipt: Some(pb::Receipt {
                    message_id: id.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        pb::SendBatchResponse {
            results: vec![sent("a"), sent("b")],
        }
    }

    fn signed(answer: &pb::SendBatchResponse) -> Vec<usize> {
        let mut out = answer.clone();
        let mut lengths = Vec::new();
        out.each(&mut |r| lengths.push(r.signature.len()));
        lengths
    }

    #[test]
    fn receipts_are_signed_for_the_caller_who_asks_and_for_all_when_always() {
        let (_d, on_request) = signatures(ReceiptSignatures::OnRequest);
        let not_asked = on_request.asked(&headers(None)).unwrap();
        assert_eq!(signed(&on_request.apply(not_asked, answer())), [0, 0]);
        for value in ["ed25519", "Ed25519"] {
            let asked = on_request.asked(&headers(Some(value))).unwrap();
            assert_eq!(signed(&on_request.apply(asked, answer())), [64, 64]);
        }
        let (_d, always) = signatures(ReceiptSignatures::Always);
        let asked = always.asked(&headers(None)).unwrap();
        assert_eq!(signed(&always.apply(asked, answer())), [64, 64]);
    }

    #[test]
    fn another_value_of_the_header_is_refused_naming_it() {
        let (_d, s) = signatures(ReceiptSignatures::Always);
        let mut twice = headers(Some("ed25519"));
        twice.append(HEADER, "bogus".parse().unwrap());
        let refused = ["yes", "rsa", ""]
            .into_iter()
            .map(|v| headers(Some(v)))
            .chain([twice]);
        for metadata in refused {
            let e = s.asked(&metadata).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{metadata:?}");
            assert!(e.message().contains(HEADER), "{}", e.message());
            assert!(e.message().contains("ed25519"), "{}", e.message());
        }
    }
}
