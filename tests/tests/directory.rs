//! The directory and the Admin service: lookups, operators-only access, clear
//! errors that change nothing, and persistence across a restart.

use schakel_client::proto::{self as pb, lookup_request::Query};
use schakel_tests::{TestGateway, code_of, org, refusal, status_of};
use tonic::Code;

fn new_jgt() -> pb::AddParticipantRequest {
    pb::AddParticipantRequest {
        oin: "00000099300000000099".into(),
        name: "Wijkteam Noord (test)".into(),
        kind: pb::OrganisationKind::Jgt as i32,
        codes: Some(pb::OrganisationCodes {
            agb: "99000099".into(),
            ..Default::default()
        }),
        pinned_cert_sha256: vec![],
        sector: 0,
    }
}

#[tokio::test]
async fn lookup_finds_participants_by_each_identifier_and_by_kind() {
    let gw = TestGateway::start().await;
    let jgt = gw.client(org::JGT).await;
    let by = |q| {
        let jgt = jgt.clone();
        async move {
            jgt.lookup(q)
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.oin)
                .collect::<Vec<_>>()
        }
    };
    let expected = [
        (Query::Oin(gw.oin(org::SWV)), vec![gw.oin(org::SWV)]),
        (Query::Brin("99BB".into()), vec![gw.oin(org::SCHOOL_VO)]),
        (Query::Agb("99000001".into()), vec![gw.oin(org::JGT)]),
        (
            Query::Gemeentecode("GM9999".into()),
            vec![gw.oin(org::GEMEENTE)],
        ),
        (Query::SwvNumber("PO 9901".into()), vec![gw.oin(org::SWV)]),
        (
            Query::Kind(pb::OrganisationKind::School as i32),
            vec![gw.oin(org::SCHOOL_PO), gw.oin(org::SCHOOL_VO)],
        ),
        (Query::Oin("00000099000000000000".into()), vec![]),
    ];
    for (query, oins) in expected {
        assert_eq!(by(query.clone()).await, oins, "{query:?}");
    }

    let m = refusal(
        jgt.lookup(Query::Brin(String::new())).await,
        Code::InvalidArgument,
    );
    assert!(m.contains("brin"), "{m}");
    let status = status_of(
        jgt.directory()
            .lookup(pb::LookupRequest { query: None })
            .await
            .map_err(Into::into),
    );
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn only_operators_reach_admin_and_audit() {
    let gw = TestGateway::start().await;
    for who in [
        org::SCHOOL_PO,
        org::SCHOOL_VO,
        org::SWV,
        org::JGT,
        org::GEMEENTE,
    ] {
        let c = gw.client(who).await;
        let m = refusal(c.list_participants().await, Code::PermissionDenied);
        assert!(m.contains("operators only"), "{who}: {m}");
        assert_eq!(
            code_of(c.add_participant(new_jgt()).await),
            Code::PermissionDenied
        );
        assert_eq!(
            code_of(c.suspend_participant(&gw.oin(org::JGT), "x").await),
            Code::PermissionDenied
        );
        assert_eq!(
            code_of(c.reinstate_participant(&gw.oin(org::JGT)).await),
            Code::PermissionDenied
        );
        assert_eq!(code_of(c.queue_stats().await), Code::PermissionDenied);
        let audit = schakel_client::proto::audit_client::AuditClient::new(c.channel());
        let status = audit
            .clone()
            .verify(pb::AuditVerifyRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    // Nothing was added by the refused calls.
    let operator = gw.client(org::OPERATOR).await;
    assert_eq!(
        operator.list_participants().await.unwrap().len(),
        gw.pki.orgs.len()
    );
    assert!(operator.queue_stats().await.unwrap().store_bytes_on_disk > 0);
}

#[tokio::test]
async fn admin_refuses_bad_input_by_field_and_rule_and_changes_nothing() {
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;
    let before = operator.list_participants().await.unwrap();

    let cases: Vec<(pb::AddParticipantRequest, Code, &str)> = vec![
        (
            pb::AddParticipantRequest {
                oin: "123".into(),
                ..new_jgt()
            },
            Code::InvalidArgument,
            "oin: must be an OIN of exactly 20 digits",
        ),
        (
            pb::AddParticipantRequest {
                name: String::new(),
                ..new_jgt()
            },
            Code::InvalidArgument,
            "name",
        ),
        (
            pb::AddParticipantRequest {
                kind: 0,
                ..new_jgt()
            },
            Code::InvalidArgument,
            "kind",
        ),
        (
            pb::AddParticipantRequest {
                kind: pb::OrganisationKind::School as i32,
                ..new_jgt()
            },
            Code::InvalidArgument,
            "codes.brin: is required for a school",
        ),
        (
            pb::AddParticipantRequest {
                codes: Some(pb::OrganisationCodes {
                    agb: "12".into(),
                    ..Default::default()
                }),
                ..new_jgt()
            },
            Code::InvalidArgument,
            "codes.agb: must be 8 digits",
        ),
        (
            pb::AddParticipantRequest {
                sector: pb::SchoolSector::Po as i32,
                ..new_jgt()
            },
            Code::InvalidArgument,
            "sector: only a school has a sector",
        ),
        (
            pb::AddParticipantRequest {
                sector: 42,
                ..new_jgt()
            },
            Code::InvalidArgument,
            "sector: must be one of po, sbo, so, vso, vo",
        ),
        (
            pb::AddParticipantRequest {
                oin: "00000000000000000000".into(),
                ..new_jgt()
            },
            Code::InvalidArgument,
            "oin: 00000000000000000000 is reserved for the gateway's own notices",
        ),
        (
            pb::AddParticipantRequest {
                oin: gw.oin(org::JGT),
                ..new_jgt()
            },
            Code::AlreadyExists,
            "already exists",
        ),
    ];
    for (request, code, text) in cases {
        let m = refusal(operator.add_participant(request).await, code);
        assert!(m.contains(text), "{m} should contain {text}");
    }
    let suspensions = [
        (
            "00000099000000000000".to_string(),
            "reden",
            Code::NotFound,
            "is not in the directory",
        ),
        (gw.oin(org::JGT), "", Code::InvalidArgument, "reason"),
        (
            gw.oin(org::OPERATOR),
            "oeps",
            Code::FailedPrecondition,
            "cannot suspend itself",
        ),
    ];
    for (oin, reason, code, text) in suspensions {
        let m = refusal(operator.suspend_participant(&oin, reason).await, code);
        assert!(m.contains(text), "{m} should contain {text}");
    }

    assert_eq!(operator.list_participants().await.unwrap(), before);
}

#[tokio::test]
async fn a_participant_added_through_admin_can_connect_at_once() {
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;
    let (identity, _) = gw
        .pki
        .issue(&schakel_gateway::tools::pki::ClientSpec::valid_for(
            "00000099300000000099",
            "Wijkteam Noord (test)",
            1,
        ));
    let newcomer = gw.connect(&identity).await.unwrap();
    assert_eq!(code_of(newcomer.whoami().await), Code::PermissionDenied);
    let added = operator.add_participant(new_jgt()).await.unwrap();
    assert_eq!(added.status, pb::ParticipantStatus::Active as i32);
    let me = newcomer.whoami().await.unwrap().participant.unwrap();
    assert_eq!(me.name, "Wijkteam Noord (test)");
}

#[tokio::test]
async fn directory_changes_survive_a_restart_and_win_over_the_seed_file() {
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;
    operator.add_participant(new_jgt()).await.unwrap();
    operator
        .suspend_participant(&gw.oin(org::SCHOOL_VO), "fusie")
        .await
        .unwrap();
    drop(operator);

    // The restarted gateway reads the same seed file, which lists the school
    // as active: the stored suspension must win.
    let gw = gw.restart().await;
    let operator = gw.client(org::OPERATOR).await;
    let all = operator.list_participants().await.unwrap();
    assert!(all.iter().any(|p| p.oin == "00000099300000000099"));
    let vo = all
        .iter()
        .find(|p| p.oin == gw.oin(org::SCHOOL_VO))
        .unwrap();
    assert_eq!(vo.status, pb::ParticipantStatus::Suspended as i32);
    assert_eq!(vo.suspended_reason, "fusie");
    assert_eq!(
        code_of(gw.client(org::SCHOOL_VO).await.whoami().await),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn non_operators_do_not_see_pins_or_suspension_reasons() {
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;
    operator
        .suspend_participant(&gw.oin(org::GEMEENTE), "onderzoek lopend")
        .await
        .unwrap();
    let school = gw.client(org::SCHOOL_PO).await;
    let found = school
        .lookup(Query::Oin(gw.oin(org::GEMEENTE)))
        .await
        .unwrap();
    assert_eq!(found[0].status, pb::ParticipantStatus::Suspended as i32);
    assert!(found[0].suspended_reason.is_empty());
    let found = operator
        .lookup(Query::Oin(gw.oin(org::GEMEENTE)))
        .await
        .unwrap();
    assert_eq!(found[0].suspended_reason, "onderzoek lopend");
}
