//! Property tests over the validators: whatever bytes or text arrive, a
//! validator answers (never panics), and a refusal names its field and its
//! rule, or the limit it breaks.

use proptest::prelude::*;
use prost::Message as _;
use schakel_proto::v1 as pb;

use super::Violation;
use super::send::{ExpiryRule, check};
use super::test_requests::{NOW_MS, TODAY, consult, dossier, signalering};
use crate::config::Config;
use crate::model::{Giver, Kind, OrgKind, Purpose};

fn named(v: &Violation) -> bool {
    match v {
        Violation::Field { field, rule } => !field.is_empty() && !rule.is_empty(),
        Violation::Limit(m) => !m.is_empty(),
    }
}

fn expiry() -> ExpiryRule {
    ExpiryRule {
        default: time::Duration::days(30),
        max: time::Duration::days(365),
    }
}

/// A valid request with some of its bytes changed: close enough to get past
/// the first checks, so the deeper rules are tried too.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop::sample::select(vec![
        signalering().encode_to_vec(),
        dossier().encode_to_vec(),
        consult().encode_to_vec(),
    ]);
    (
        valid,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    )
        .prop_map(|(mut bytes, edits)| {
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_send_request_is_answered_and_a_refusal_names_its_field(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..512), mutated()]
    ) {
        if let Ok(request) = pb::SendRequest::decode(bytes.as_slice()) {
            let limits = Config::default().limits;
            if let Err(v) = check(request, &limits, expiry(), TODAY, NOW_MS) {
                prop_assert!(named(&v), "{v:?}");
            }
        }
    }

    #[test]
    fn any_field_text_is_answered_and_a_refusal_names_its_field(text in ".{0,64}") {
        use super::fields;
        for result in [
            fields::bsn("bsn", &text).err(),
            fields::oin("oin", &text).err(),
            fields::message_id("message_id", &text).err(),
            fields::consent_id("consent_id", &text).err(),
            fields::case_id("case_id", &text).err(),
            fields::date("date", &text).err(),
            fields::reason("reason", &text).err(),
            fields::one_line("line", &text, 1, 16).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(named(&result), "{result:?}");
        }
    }

    #[test]
    fn any_consent_grant_is_answered_and_a_refusal_names_its_field(
        bsn in "[0-9]{0,10}",
        birth_date in "[0-9-]{0,12}",
        oins in prop::collection::vec("[0-9]{18,21}", 0..60),
        purpose in ".{0,600}",
        until_days in -1000i64..2000,
    ) {
        let grant = super::consent::Grant {
            bsn,
            birth_date,
            given_by: Some(Giver::Parents),
            consented_by: vec![],
            obtained: None,
            case_id: String::new(),
            given_on: String::new(),
            recipient_oins: oins,
            recipient_kinds: vec![OrgKind::Jgt],
            message_kinds: vec![Kind::Consultatieverzoek],
            purpose,
            purpose_code: Some(Purpose::Consultation),
            valid_from_ms: None,
            valid_until_ms: Some(NOW_MS + until_days * 86_400_000),
        };
        if let Err(v) = grant.check(&Config::default().consent, TODAY, NOW_MS) {
            prop_assert!(named(&v), "{v:?}");
        }
    }

    #[test]
    fn any_lease_wait_page_or_rejection_is_answered(
        secs in any::<u64>(),
        page in any::<u32>(),
        detail in ".{0,300}",
    ) {
        use super::requests;
        let d = std::time::Duration::from_secs(secs % (1 << 40));
        for v in [
            requests::lease_ms(d, 60, 3600).err(),
            requests::pull_wait(d).err(),
            requests::page_size(page).err(),
            requests::rejection(None, &detail).err(),
            requests::rejection(Some(crate::model::RejectReason::Technical), &detail).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(named(&v), "{v:?}");
        }
    }
}
