//! The parties of a case, over the wire: an organisation that took part in
//! a case adds another under a consent it registered that names it and is
//! about the case's child; a party sees every message of the case while it
//! takes part and nothing after it leaves or is removed; each change is in
//! the audit trail. From the attacker's side: an outsider, another's
//! consent, a consent for another child, removing a party one did not add.
//! On the real store (sled, or PostgreSQL when SCHAKEL_TEST_STORE=postgres).

use schakel_client::Client;
use schakel_client::proto as pb;
use schakel_tests::calls::{audit_of, consulted_case, deliver};
use schakel_tests::fixtures::{self, BSN};
use schakel_tests::{TestGateway, org, refusal};
use tonic::Code;

/// A consent of `registrant` for child [`BSN`]`[2]` naming `kinds`.
async fn consent_naming(registrant: &Client, bsn: &str, kinds: &[pb::OrganisationKind]) -> String {
    let mut grant = fixtures::consent_grant(bsn);
    grant.recipient_kinds = kinds.iter().map(|k| *k as i32).collect();
    registrant.grant_consent(grant).await.unwrap().consent_id
}

/// The ids of the messages a case shows `client`.
async fn shown(client: &Client, case: &str) -> Result<Vec<String>, Code> {
    match client.list_case(case).await {
        Ok(c) => Ok(c.messages.into_iter().map(|m| m.message_id).collect()),
        Err(e) => Err(schakel_tests::code_of::<()>(Err(e))),
    }
}

#[tokio::test]
async fn a_party_added_under_a_consent_naming_it_sees_the_whole_case_until_it_leaves() {
    let gw = TestGateway::start().await;
    let (swv, jgt) = (gw.client(org::SWV).await, gw.client(org::JGT).await);
    let gemeente = gw.client(org::GEMEENTE).await;
    let consent = fixtures::granted(&swv).await;
    let asked = deliver(
        &swv,
        &jgt,
        fixtures::consult("mdo-vraag", &gw.oin(org::JGT), &consent),
    )
    .await;
    let case = asked.sent.case_id.clone();
    // Not a party yet: nothing of the case, as if there were none.
    assert_eq!(shown(&gemeente, &case).await, Err(Code::NotFound));

    let for_gemeente = consent_naming(&swv, BSN[2], &[pb::OrganisationKind::Gemeente]).await;
    let view = swv
        .add_case_party(&case, &gw.oin(org::GEMEENTE), &for_gemeente)
        .await
        .unwrap();
    assert_eq!(view.parties.len(), 1);
    assert_eq!(view.parties[0].oin, gw.oin(org::GEMEENTE));
    assert_eq!(view.parties[0].added_by_oin, gw.oin(org::SWV));
    // The party sees the message between the two others, and its parties.
    assert_eq!(
        shown(&gemeente, &case).await,
        Ok(vec![asked.sent.message_id.clone()])
    );
    let seen = gemeente.list_case(&case).await.unwrap();
    assert_eq!(seen.parties[0].oin, gw.oin(org::GEMEENTE));

    // It stays over a restart; it leaves, and its view ends.
    let gw = gw.restart().await;
    let gemeente = gw.client(org::GEMEENTE).await;
    assert_eq!(shown(&gemeente, &case).await.unwrap().len(), 1);
    let left = gemeente.remove_case_party(&case, None).await.unwrap();
    assert!(left.messages.is_empty());
    assert!(left.parties[0].left_at.is_some());
    assert_eq!(left.parties[0].ended_by_oin, gw.oin(org::GEMEENTE));
    assert_eq!(shown(&gemeente, &case).await, Err(Code::NotFound));

    // Every change is in the trail, with the case and the party.
    let operator = gw.client(org::OPERATOR).await;
    let changes = audit_of(&operator, &[pb::AuditAction::CaseChanged]).await;
    let details: Vec<_> = changes.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(changes.len(), 2, "{details:?}");
    assert!(details[0].contains("joined the case as a party, under consent"));
    assert!(details[1].contains("left the case"));
    assert!(changes.iter().all(|e| e.case_id == case));
}

#[tokio::test]
async fn only_one_that_took_part_adds_a_party_under_its_own_consent_for_the_cases_child() {
    let gw = TestGateway::start().await;
    let (swv, jgt) = (gw.client(org::SWV).await, gw.client(org::JGT).await);
    let outsider = gw.client(org::SCHOOL_VO).await;
    let (_, case) = consulted_case(&swv, &jgt, &gw.oin(org::JGT), "mdo-vraag").await;
    let gemeente = gw.oin(org::GEMEENTE);
    let for_gemeente = consent_naming(&swv, BSN[2], &[pb::OrganisationKind::Gemeente]).await;

    // An organisation outside the case cannot add anyone, itself included.
    let own = consent_naming(&outsider, BSN[2], &[pb::OrganisationKind::School]).await;
    let m = refusal(
        outsider
            .add_case_party(&case, &gw.oin(org::SCHOOL_VO), &own)
            .await,
        Code::NotFound,
    );
    assert!(m.starts_with("case_id: no case"), "{m}");
    // Naming an organisation that does not exist, an outsider learns no
    // more of an existing case than of one that does not exist.
    let missing = "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d";
    let unknown_org = "00000099999999999999";
    for c in [case.as_str(), missing] {
        let m = refusal(
            outsider.add_case_party(c, unknown_org, &own).await,
            Code::NotFound,
        );
        assert_eq!(
            m,
            format!("case_id: no case {c} that you sent or received messages in or take part in")
        );
    }
    // The JGT took part, but the consent is the SWV's.
    let m = refusal(
        jgt.add_case_party(&case, &gemeente, &for_gemeente).await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("registered by another organisation"), "{m}");
    // A consent for another child, or one that does not name the party.
    let other_child = consent_naming(&swv, BSN[1], &[pb::OrganisationKind::Gemeente]).await;
    let m = refusal(
        swv.add_case_party(&case, &gemeente, &other_child).await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("for another child"), "{m}");
    let m = refusal(
        swv.add_case_party(&case, &gw.oin(org::SCHOOL_PO), &for_gemeente)
            .await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("does not name"), "{m}");
    // Bad input names the field.
    let m = refusal(
        swv.add_case_party(&case, "123", &for_gemeente).await,
        Code::InvalidArgument,
    );
    assert!(m.starts_with("party_oin"), "{m}");

    // Added, the party is removed only by itself or by the SWV that added it.
    swv.add_case_party(&case, &gemeente, &for_gemeente)
        .await
        .unwrap();
    let m = refusal(
        swv.add_case_party(&case, &gemeente, &for_gemeente).await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("takes part in case"), "{m}");
    let m = refusal(
        jgt.remove_case_party(&case, Some(&gemeente)).await,
        Code::PermissionDenied,
    );
    assert!(m.contains("was added by"), "{m}");
    // The JGT, which is no party, sees neither the gemeente nor anyone.
    assert!(jgt.list_case(&case).await.unwrap().parties.is_empty());
    let removed = swv.remove_case_party(&case, Some(&gemeente)).await.unwrap();
    assert_eq!(removed.parties[0].ended_by_oin, gw.oin(org::SWV));
    let gm = gw.client(org::GEMEENTE).await;
    assert_eq!(shown(&gm, &case).await, Err(Code::NotFound));

    // Added again, its view ends with the consent it joined under.
    let again = consent_naming(&swv, BSN[2], &[pb::OrganisationKind::Gemeente]).await;
    swv.add_case_party(&case, &gemeente, &again).await.unwrap();
    assert_eq!(shown(&gm, &case).await.unwrap().len(), 1);
    swv.revoke_consent(&again, "ouders trekken toestemming in")
        .await
        .unwrap();
    assert_eq!(shown(&gm, &case).await, Err(Code::NotFound));
}

#[tokio::test]
async fn a_cases_parties_are_carried_by_a_copy_into_postgresql() {
    use schakel_gateway::config::StorageEngine;
    if schakel_tests::over_postgres() {
        return; // this test starts over sled itself
    }
    let Some((url, ca_file)) = schakel_tests::postgres_database("parties_copy") else {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().join("data");
    let on = |engine: StorageEngine| {
        let (data, url, ca_file) = (data.clone(), url.clone(), ca_file.clone());
        move |_: &schakel_tests::TestPki, c: &mut schakel_gateway::config::Config| {
            c.storage.data_dir = data;
            c.storage.engine = engine;
            c.storage.postgres_url = url;
            c.storage.postgres_ca_file = ca_file;
        }
    };
    let mut gw = TestGateway::start_with(on(StorageEngine::Sled)).await;
    let (swv, jgt) = (gw.client(org::SWV).await, gw.client(org::JGT).await);
    let (_, case) = consulted_case(&swv, &jgt, &gw.oin(org::JGT), "mdo-vraag").await;
    let for_gemeente = consent_naming(&swv, BSN[2], &[pb::OrganisationKind::Gemeente]).await;
    let before = swv
        .add_case_party(&case, &gw.oin(org::GEMEENTE), &for_gemeente)
        .await
        .unwrap();
    gw.stop().await;
    let out = schakel_tests::succeeded(schakel_tests::upgrades::migrate(
        &data,
        &(url.clone(), ca_file.clone()),
    ));
    assert!(out.contains("audit log intact in the database"), "{out}");
    let gw = TestGateway::start_with(on(StorageEngine::Postgres)).await;
    let gemeente = gw.client(org::GEMEENTE).await;
    assert_eq!(shown(&gemeente, &case).await.unwrap().len(), 1);
    // The party as it was: who, on which consent, added by whom, since when.
    let after = gemeente.list_case(&case).await.unwrap();
    assert_eq!(after.parties, before.parties);
}

#[tokio::test]
async fn the_coordinator_the_parents_agreed_on_invites_the_parties_and_a_change_is_recorded() {
    let gw = TestGateway::start().await;
    let (swv, jgt) = (gw.client(org::SWV).await, gw.client(org::JGT).await);
    let (consent, case) = consulted_case(&swv, &jgt, &gw.oin(org::JGT), "mdo-regie").await;
    // The parents' agreement is a consent for care coordination naming the
    // coordinator; one for another purpose does not do.
    let agreed_by = |by: &Client, kinds: &'static [pb::OrganisationKind]| {
        let by = by.clone();
        async move {
            let mut grant = fixtures::consent_grant(BSN[2]);
            grant.recipient_kinds = kinds.iter().map(|k| *k as i32).collect();
            grant.purpose_code = pb::ConsentPurpose::CareCoordination as i32;
            by.grant_consent(grant).await.unwrap().consent_id
        }
    };
    let agreed = |kinds| agreed_by(&swv, kinds);
    let m = refusal(
        swv.set_case_coordinator(&case, &gw.oin(org::JGT), &consent)
            .await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("care_coordination"), "{m}");
    let to_jgt = agreed(&[pb::OrganisationKind::Jgt]).await;
    let view = swv
        .set_case_coordinator(&case, &gw.oin(org::JGT), &to_jgt)
        .await
        .unwrap();
    let k = view.coordinator.expect("a coordinator");
    assert_eq!(
        (k.oin.as_str(), k.set_by_oin.as_str()),
        (gw.oin(org::JGT).as_str(), gw.oin(org::SWV).as_str())
    );
    assert!(
        view.parties.iter().any(|p| p.oin == gw.oin(org::JGT)),
        "the coordinator takes part"
    );

    // The SWV added the coordinator, but cannot remove it while it
    // coordinates.
    let m = refusal(
        swv.remove_case_party(&case, Some(&gw.oin(org::JGT))).await,
        Code::PermissionDenied,
    );
    assert!(
        m.contains("it ends its own part (or hands over), nobody else"),
        "{m}"
    );

    // Now the coordinator invites: not the SWV, which recorded it.
    let gemeente = gw.oin(org::GEMEENTE);
    let for_gemeente = consent_naming(&swv, BSN[2], &[pb::OrganisationKind::Gemeente]).await;
    let m = refusal(
        swv.add_case_party(&case, &gemeente, &for_gemeente).await,
        Code::PermissionDenied,
    );
    assert!(m.contains("coordinates case"), "{m}");
    let jgt_for_gemeente = consent_naming(&jgt, BSN[2], &[pb::OrganisationKind::Gemeente]).await;
    jgt.add_case_party(&case, &gemeente, &jgt_for_gemeente)
        .await
        .unwrap();

    // The parents choose the gemeente instead. While the JGT coordinates,
    // another party cannot record that: the coordinator hands over.
    let by_swv = agreed(&[pb::OrganisationKind::Gemeente]).await;
    let m = refusal(
        swv.set_case_coordinator(&case, &gemeente, &by_swv).await,
        Code::PermissionDenied,
    );
    assert!(
        m.contains("it records a change of coordinator itself"),
        "{m}"
    );
    let to_gemeente = agreed_by(&jgt, &[pb::OrganisationKind::Gemeente]).await;
    let changed = jgt
        .set_case_coordinator(&case, &gemeente, &to_gemeente)
        .await
        .unwrap();
    assert_eq!(changed.coordinator.unwrap().oin, gemeente);
    // The parents withdraw their agreement: the coordinator has no rights
    // left, and the SWV invites again.
    jgt.revoke_consent(&to_gemeente, "ouders trekken in")
        .await
        .unwrap();
    let for_vo = consent_naming(&swv, BSN[2], &[pb::OrganisationKind::School]).await;
    swv.add_case_party(&case, &gw.oin(org::SCHOOL_VO), &for_vo)
        .await
        .unwrap();
    let operator = gw.client(org::OPERATOR).await;
    let trail = audit_of(&operator, &[pb::AuditAction::CaseChanged]).await;
    assert!(
        trail.iter().any(|e| e.detail.contains(&format!(
            "the coordinator changed from {} to {gemeente}",
            gw.oin(org::JGT)
        ))),
        "{trail:?}"
    );
}

#[tokio::test]
async fn one_send_reaches_several_parties_each_on_its_own_basis_in_one_case() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let consent = consent_naming(
        &swv,
        BSN[2],
        &[pb::OrganisationKind::Jgt, pb::OrganisationKind::Gemeente],
    )
    .await;
    let message = || {
        let mut m = fixtures::consult("mdo-uitnodiging", "", &consent);
        m.recipient_oin.clear();
        m
    };
    let to = [
        gw.oin(org::JGT),
        gw.oin(org::GEMEENTE),
        gw.oin(org::SCHOOL_VO),
    ];
    let recipients: Vec<&str> = to.iter().map(String::as_str).collect();
    let answers = swv.send_to_many(message(), &recipients).await.unwrap();
    assert_eq!(answers.len(), 3);
    let (jgt, gemeente) = (answers[0].as_ref().unwrap(), answers[1].as_ref().unwrap());
    assert_ne!(jgt.message_id, gemeente.message_id);
    assert_eq!(jgt.case_id, gemeente.case_id, "one case");
    // The school is not named by the consent: refused, for that one only.
    let refused = answers[2].as_ref().unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().starts_with("recipient_oins[2]"),
        "{}",
        refused.message()
    );
    // Each received its own message.
    for who in [org::JGT, org::GEMEENTE] {
        let got = schakel_tests::pull_until(&gw.client(who).await, 1).await;
        assert_eq!(
            schakel_tests::calls::envelope(&got[0]).client_reference,
            format!("mdo-uitnodiging/{}", gw.oin(who))
        );
    }
    // Sent again, the same messages answer.
    let again = swv.send_to_many(message(), &recipients[..2]).await.unwrap();
    assert!(again.iter().all(|a| a.as_ref().unwrap().duplicate));
    // Bad input names the field.
    let twice = [recipients[0], recipients[0]];
    let m = refusal(
        swv.send_to_many(message(), &twice).await,
        Code::InvalidArgument,
    );
    assert!(m.starts_with("recipient_oins[1]"), "{m}");
}
