//! Consent: registered, enforced at send and again at delivery, and revoked
//! with everything in flight under it withdrawn; statutory bases per policy;
//! and no BSN in clear anywhere in the data folder.

use std::time::Duration;

use futures::StreamExt;
use schakel_client::proto as pb;
use schakel_tests::fixtures::{self, BSN, UNKNOWN_CONSENT_ID, consent_grant};
use schakel_tests::{TestGateway, code_of, next_receipts, org, status_of};
use tonic::Code;

fn ts_in_ms(ms: i64) -> prost_types::Timestamp {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let t = now as i64 + ms;
    prost_types::Timestamp {
        seconds: t.div_euclid(1000),
        nanos: (t.rem_euclid(1000) * 1_000_000) as i32,
    }
}

async fn refused(gw: &TestGateway, who: &str, request: pb::SendRequest) -> String {
    let status = status_of(gw.client(who).await.send(request).await);
    assert_eq!(
        status.code(),
        Code::FailedPrecondition,
        "{}",
        status.message()
    );
    status.message().to_owned()
}

#[tokio::test]
async fn a_covering_consent_is_required_and_each_failed_condition_is_named() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.oin(org::JGT);
    let consent = swv.grant_consent(consent_grant(BSN[2])).await.unwrap();
    assert_eq!(consent.status, pb::ConsentStatus::Active as i32);
    assert_eq!(consent.registered_by_oin, gw.oin(org::SWV));
    assert_eq!(consent.child_ref.len(), 64);
    let id = consent.consent_id.clone();

    swv.send(fixtures::consult("ok", &jgt, &id)).await.unwrap();

    // Other child.
    let mut other_child = fixtures::consult("child", &jgt, &id);
    if let Some(pb::payload::Body::Consultatieverzoek(c)) =
        other_child.payload.as_mut().unwrap().body.as_mut()
    {
        c.bsn = BSN[0].into();
    }
    assert!(
        refused(&gw, org::SWV, other_child)
            .await
            .contains("is for another child")
    );
    // Other recipient: the consent names JGTs, not gemeenten.
    let to_gemeente = fixtures::consult("recipient", &gw.oin(org::GEMEENTE), &id);
    assert!(
        refused(&gw, org::SWV, to_gemeente)
            .await
            .contains("does not cover recipient")
    );
    // Other kind: a signal under a consent for consultation.
    let mut signal = fixtures::signalering("kind", &jgt);
    signal.legal_basis = fixtures::consent(&id);
    if let Some(pb::payload::Body::Signalering(s)) = signal.payload.as_mut().unwrap().body.as_mut()
    {
        s.bsn = BSN[2].into();
    }
    assert!(
        refused(&gw, org::SWV, signal)
            .await
            .contains("does not cover a signalering")
    );
    // Registered by another organisation.
    let by_school = fixtures::consult("other-org", &jgt, &id);
    assert!(
        refused(&gw, org::SCHOOL_PO, by_school)
            .await
            .contains("registered by another organisation")
    );
    // Unknown id.
    let unknown = fixtures::consult("unknown", &jgt, UNKNOWN_CONSENT_ID);
    assert!(refused(&gw, org::SWV, unknown).await.contains("no consent"));
    // Not yet valid.
    let mut later = consent_grant(BSN[2]);
    later.valid_from = Some(fixtures::in_days(30));
    let later = swv.grant_consent(later).await.unwrap();
    assert_eq!(later.status, pb::ConsentStatus::Pending as i32);
    let m = refused(
        &gw,
        org::SWV,
        fixtures::consult("pending", &jgt, &later.consent_id),
    )
    .await;
    assert!(m.contains("is not valid until"), "{m}");
    // Revoked.
    let revoked = swv.grant_consent(consent_grant(BSN[2])).await.unwrap();
    swv.revoke_consent(&revoked.consent_id, "ouders trekken toestemming in")
        .await
        .unwrap();
    let m = refused(
        &gw,
        org::SWV,
        fixtures::consult("revoked", &jgt, &revoked.consent_id),
    )
    .await;
    assert!(m.contains("was revoked"), "{m}");
    // Expired (lapsed): valid for a moment only.
    let mut brief = consent_grant(BSN[2]);
    brief.valid_until = Some(ts_in_ms(1500));
    let brief = swv.grant_consent(brief).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let m = refused(
        &gw,
        org::SWV,
        fixtures::consult("lapsed", &jgt, &brief.consent_id),
    )
    .await;
    assert!(m.contains("lapsed"), "{m}");

    // Only the one good message reached the JGT.
    let got = gw
        .client(org::JGT)
        .await
        .pull(10, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn grants_follow_the_age_rules_and_are_listed_by_their_owner_only() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let mut thirteen = consent_grant(BSN[0]);
    thirteen.birth_date = fixtures::date(-(13 * 365 + 10));
    let status = status_of(swv.grant_consent(thirteen.clone()).await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("given_by: a child of 13"),
        "{}",
        status.message()
    );
    thirteen.given_by = pb::ConsentGiver::ParentsAndChild as i32;
    swv.grant_consent(thirteen).await.unwrap();
    let mut seventeen = consent_grant(BSN[1]);
    seventeen.birth_date = fixtures::date(-(17 * 365 + 10));
    seventeen.given_by = pb::ConsentGiver::Parents as i32;
    assert!(
        status_of(swv.grant_consent(seventeen.clone()).await)
            .message()
            .contains("young_person")
    );
    seventeen.given_by = pb::ConsentGiver::YoungPerson as i32;
    swv.grant_consent(seventeen).await.unwrap();
    for (edit, field) in [
        (
            Box::new(|g: &mut pb::GrantConsentRequest| g.bsn = "123".into())
                as Box<dyn Fn(&mut pb::GrantConsentRequest)>,
            "bsn",
        ),
        (
            Box::new(|g: &mut pb::GrantConsentRequest| g.message_kinds.clear()),
            "message_kinds",
        ),
        (
            Box::new(|g: &mut pb::GrantConsentRequest| g.recipient_kinds.clear()),
            "recipient_oins",
        ),
        (
            Box::new(|g: &mut pb::GrantConsentRequest| g.valid_until = None),
            "valid_until",
        ),
        (
            Box::new(|g: &mut pb::GrantConsentRequest| g.purpose = String::new()),
            "purpose",
        ),
        (
            Box::new(|g: &mut pb::GrantConsentRequest| {
                g.recipient_kinds = vec![pb::OrganisationKind::Operator as i32]
            }),
            "recipient_kinds",
        ),
    ] {
        let mut g = consent_grant(BSN[2]);
        edit(&mut g);
        let status = status_of(swv.grant_consent(g).await);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with(field),
            "{} should name {field}",
            status.message()
        );
    }

    assert_eq!(
        swv.list_consents("", pb::ConsentStatus::Unspecified)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        swv.list_consents(BSN[0], pb::ConsentStatus::Unspecified)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        swv.list_consents("", pb::ConsentStatus::Revoked)
            .await
            .unwrap()
            .len(),
        0
    );
    let school = gw.client(org::SCHOOL_PO).await;
    assert!(
        school
            .list_consents("", pb::ConsentStatus::Unspecified)
            .await
            .unwrap()
            .is_empty()
    );
    let theirs = swv
        .list_consents("", pb::ConsentStatus::Unspecified)
        .await
        .unwrap();
    let status = status_of(
        school
            .revoke_consent(&theirs[0].consent_id, "niet van ons")
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        code_of(school.revoke_consent(UNKNOWN_CONSENT_ID, "x").await),
        Code::NotFound
    );
    assert_eq!(
        code_of(
            gw.client(org::OPERATOR)
                .await
                .grant_consent(consent_grant(BSN[0]))
                .await
        ),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn statutory_bases_are_allowed_and_refused_per_policy() {
    let mut gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    // Verwijsindex carries a signal, not a consultation.
    school
        .send(fixtures::signalering("vi", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let mut consult = fixtures::consult("vi-consult", &gw.oin(org::JGT), UNKNOWN_CONSENT_ID);
    consult.legal_basis = fixtures::statute(pb::StatutoryBasis::Verwijsindex);
    let m = refused(&gw, org::SCHOOL_PO, consult).await;
    assert!(m.contains("verwijsindex covers signalering only"), "{m}");
    // A primary school's dossier rests on the law; a VO-VO dossier does not.
    school
        .send(fixtures::dossier("po-vo", &gw.oin(org::SCHOOL_VO)))
        .await
        .unwrap();
    let mut vo_vo = fixtures::dossier("vo-vo", &gw.oin(org::SCHOOL_PO));
    if let Some(pb::payload::Body::Overdrachtsdossier(d)) =
        vo_vo.payload.as_mut().unwrap().body.as_mut()
    {
        d.profile = pb::DossierProfile::VoVo as i32;
    }
    let m = refused(&gw, org::SCHOOL_VO, vo_vo).await;
    assert!(m.contains("primary school's dossier only"), "{m}");
    // The reporting right covers a consultation, also from a gemeente.
    let mut report = fixtures::consult("veilig-thuis", &gw.oin(org::JGT), UNKNOWN_CONSENT_ID);
    report.legal_basis = fixtures::statute(pb::StatutoryBasis::MeldrechtVeiligThuis);
    let reported = gw.client(org::GEMEENTE).await.send(report).await.unwrap();
    drop(school);
    gw.stop().await;

    // The audit trail shows that the message rested on the law, not on consent.
    let entries = read_audit(&gw).await;
    let accepted = entries
        .iter()
        .find(|e| e.message_id.as_ref().map(|m| m.as_str()) == Some(reported.message_id.as_str()))
        .unwrap();
    assert_eq!(
        accepted.legal_basis,
        Some(schakel_gateway::model::LegalBasis::Statute(
            schakel_gateway::model::Statute::MeldrechtVeiligThuis
        ))
    );
    assert!(
        accepted
            .detail
            .contains("statutory basis meldrecht_veilig_thuis, without consent"),
        "{}",
        accepted.detail
    );
}

#[tokio::test]
async fn revoking_withdraws_a_queued_message_and_the_sender_holds_a_signed_receipt() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let consent = swv
        .grant_consent(consent_grant(BSN[2]))
        .await
        .unwrap()
        .consent_id;
    let sent = swv
        .send(fixtures::consult("q1", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    let mut receipts = swv.receipts(0, true).await.unwrap();
    let revoked = swv
        .revoke_consent(&consent, "ouders trekken toestemming in")
        .await
        .unwrap();
    assert_eq!(revoked.status, pb::ConsentStatus::Revoked as i32);

    // The recipient never sees it.
    assert!(
        gw.client(org::JGT)
            .await
            .pull(10, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    // The sender holds a WITHDRAWN receipt, verified by the client library.
    let status = swv.status(&sent.message_id).await.unwrap();
    assert_eq!(status.status, pb::ReceiptStatus::Withdrawn as i32);
    let last = status.receipts.last().unwrap();
    assert_eq!(last.status, pb::ReceiptStatus::Withdrawn as i32);
    assert!(
        last.detail
            .contains("revoked: ouders trekken toestemming in"),
        "{}",
        last.detail
    );
    let seen: Vec<_> = next_receipts(&mut receipts, 2)
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        seen,
        vec![
            pb::ReceiptStatus::Accepted as i32,
            pb::ReceiptStatus::Withdrawn as i32
        ]
    );
    // A reply under the revoked consent cannot be sent either.
}

#[tokio::test]
async fn a_leased_message_whose_consent_is_revoked_is_announced_and_its_ack_says_withdrawn() {
    let mut gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let consent = swv
        .grant_consent(consent_grant(BSN[2]))
        .await
        .unwrap()
        .consent_id;
    let mut inbox = jgt.subscribe(4, Duration::ZERO).await.unwrap();
    let sent = swv
        .send(fixtures::consult("q1", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), inbox.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(
        first.event,
        Some(pb::inbox_event::Event::Delivery(_))
    ));

    swv.revoke_consent(&consent, "toestemming ingetrokken")
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), inbox.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(pb::inbox_event::Event::Withdrawal(w)) = next.event else {
        panic!("expected a withdrawal, got {next:?}");
    };
    assert_eq!(w.message_id, sent.message_id);
    assert!(w.reason.contains("delete what you hold"), "{}", w.reason);

    let ack = jgt.ack(&sent.message_id).await.unwrap();
    assert_eq!(ack.outcome, pb::AckOutcome::Withdrawn as i32);
    assert!(
        ack.detail.contains("delete what you hold"),
        "{}",
        ack.detail
    );
    assert_eq!(
        ack.receipt.unwrap().status,
        pb::ReceiptStatus::Withdrawn as i32
    );

    // A reply to the withdrawn request cannot travel under its consent.
    let status = status_of(
        jgt.send(fixtures::reply("a", &gw.oin(org::SWV), &sent.message_id))
            .await,
    );
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("revoked"), "{}", status.message());
    drop((swv, jgt, inbox));
    gw.stop().await;

    // The audit log records the withdrawal and the recipient's notice of it.
    let entries = read_audit(&gw).await;
    let about: Vec<_> = entries
        .iter()
        .filter(|e| e.message_id.as_ref().map(|m| m.as_str()) == Some(sent.message_id.as_str()))
        .collect();
    let actions: Vec<_> = about
        .iter()
        .map(|e| (e.action, e.actor.to_string()))
        .collect();
    use schakel_gateway::model::Action;
    assert!(
        actions.contains(&(Action::Withdrawn, gw.oin(org::SWV))),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(Action::Withdrawn, gw.oin(org::JGT))),
        "{actions:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == Action::ConsentRevoked && e.detail == "toestemming ingetrokken")
    );
}

async fn read_audit(gw: &TestGateway) -> Vec<schakel_gateway::model::Entry> {
    gw.audit_entries().await
}

#[tokio::test]
async fn a_consent_that_lapses_before_delivery_is_checked_again_at_delivery() {
    // The sweeper is slowed down so that only the delivery-time check acts.
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 3_600_000).await;
    let swv = gw.client(org::SWV).await;
    let mut brief = consent_grant(BSN[2]);
    brief.valid_until = Some(ts_in_ms(2000));
    let consent = swv.grant_consent(brief).await.unwrap().consent_id;
    let sent = swv
        .send(fixtures::consult("q", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        gw.client(org::JGT)
            .await
            .pull(10, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    let status = swv.status(&sent.message_id).await.unwrap();
    assert_eq!(status.status, pb::ReceiptStatus::Withdrawn as i32);
    assert!(
        status
            .receipts
            .last()
            .unwrap()
            .detail
            .contains("checked at delivery")
    );
}

#[tokio::test]
async fn a_lapsed_consent_withdraws_its_messages_without_anyone_pulling() {
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await;
    let swv = gw.client(org::SWV).await;
    let mut brief = consent_grant(BSN[2]);
    brief.valid_until = Some(ts_in_ms(2000));
    let consent = swv.grant_consent(brief).await.unwrap().consent_id;
    let mut receipts = swv.receipts(0, true).await.unwrap();
    swv.send(fixtures::consult("q", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    let seen: Vec<_> = next_receipts(&mut receipts, 2)
        .await
        .into_iter()
        .map(|r| (r.status, r.detail))
        .collect();
    assert_eq!(seen[1].0, pb::ReceiptStatus::Withdrawn as i32);
    assert!(seen[1].1.contains("lapsed"), "{}", seen[1].1);
}

/// Every file below `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn no_bsn_is_stored_in_clear_anywhere_in_the_data_folder() {
    let mut gw = TestGateway::start_with(|_, c| c.exchange.retention_secs = 3600).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let swv = gw.client(org::SWV).await;
    school
        .send(fixtures::signalering("s", &gw.oin(org::JGT)))
        .await
        .unwrap();
    school
        .send(fixtures::dossier("d", &gw.oin(org::SCHOOL_VO)))
        .await
        .unwrap();
    let consent = swv
        .grant_consent(consent_grant(BSN[2]))
        .await
        .unwrap()
        .consent_id;
    swv.send(fixtures::consult("c", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    swv.list_consents(BSN[2], pb::ConsentStatus::Unspecified)
        .await
        .unwrap();
    let jgt = gw.client(org::JGT).await;
    for d in jgt.pull(10, Duration::ZERO, Duration::ZERO).await.unwrap() {
        jgt.ack(&d.envelope.unwrap().message_id).await.unwrap();
    }
    drop((school, swv, jgt));
    gw.stop().await;

    let found = files(&gw.config.storage.data_dir);
    assert!(found.len() >= 4, "{found:?}");
    for path in found {
        let bytes = std::fs::read(&path).unwrap();
        for needle in BSN
            .iter()
            .map(|b| b.as_bytes())
            .chain([b"Jansen".as_slice()])
        {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds {:?} in clear",
                path.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
}
