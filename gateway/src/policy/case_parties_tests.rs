//! The rules of a case's parties and its coordinator, case by case.

use super::*;
use crate::model::{ConsentId, OrgKind, examples};

const NOW: i64 = 1_800_000_000_000;
const CHILD: ChildRef = ChildRef([7; 32]);

fn consent(by: &Oin) -> ConsentRecord {
    ConsentRecord {
        id: ConsentId::new_v7(),
        child_ref: Some(CHILD),
        recipient_oins: vec![],
        recipient_kinds: vec![OrgKind::Jgt],
        ..examples::consent(by.clone(), 0, NOW + 1_000_000)
    }
}

fn known(id: &CaseId, took_part: bool) -> Known<'_> {
    Known {
        id,
        child_ref: Some(CHILD),
        took_part,
        coordinator_holds: true,
    }
}

fn known_holding(id: &CaseId, coordinator_holds: bool) -> Known<'_> {
    Known {
        coordinator_holds,
        ..known(id, true)
    }
}

fn jgt() -> Participant {
    Participant::new(examples::oin(4), "jgt", OrgKind::Jgt)
}

#[test]
fn a_party_joins_under_its_adders_consent_that_names_it_for_the_cases_child() {
    let (school, id) = (examples::oin(1), CaseId::new_v7());
    let c = consent(&school);
    let (case, audit) = join(None, known(&id, true), (&school, &jgt()), Some(&c), NOW).unwrap();
    assert_eq!(case.party(&jgt().oin).unwrap().added_by, school);
    assert_eq!(audit.action, Action::CaseChanged);
    assert_eq!(audit.case_id.as_ref(), Some(&id));
    // Not twice, not by an organisation outside the case, not under
    // another's consent or for another child.
    let again = join(
        Some(case.clone()),
        known(&id, true),
        (&school, &jgt()),
        Some(&c),
        NOW,
    );
    assert!(matches!(again, Err(CaseRefused::Precondition(m)) if m.contains("already")));
    let outsider = examples::oin(9);
    let c9 = consent(&outsider);
    let out = join(None, known(&id, false), (&outsider, &jgt()), Some(&c9), NOW);
    assert!(matches!(out, Err(CaseRefused::Unknown(_))));
    let theirs = join(None, known(&id, true), (&school, &jgt()), Some(&c9), NOW);
    assert!(
        matches!(theirs, Err(CaseRefused::Precondition(m)) if m.contains("another organisation"))
    );
    // The consent of this case's meeting serves every party; another
    // case's does not.
    let meeting = |case: &CaseId| ConsentRecord {
        case_id: Some(case.clone()),
        ..c9.clone()
    };
    assert!(
        join(
            None,
            known(&id, true),
            (&school, &jgt()),
            Some(&meeting(&id)),
            NOW
        )
        .is_ok()
    );
    let elsewhere = meeting(&CaseId::new_v7());
    let theirs = join(
        None,
        known(&id, true),
        (&school, &jgt()),
        Some(&elsewhere),
        NOW,
    );
    assert!(
        matches!(theirs, Err(CaseRefused::Precondition(m)) if m.contains("another organisation"))
    );
    let other_child = ConsentRecord {
        child_ref: Some(ChildRef([8; 32])),
        ..c.clone()
    };
    let wrong = join(
        None,
        known(&id, true),
        (&school, &jgt()),
        Some(&other_child),
        NOW,
    );
    assert!(matches!(wrong, Err(CaseRefused::Precondition(m)) if m.contains("another child")));
    let swv = Participant::new(examples::oin(3), "swv", OrgKind::Swv);
    let unnamed = join(None, known(&id, true), (&school, &swv), Some(&c), NOW);
    assert!(matches!(unnamed, Err(CaseRefused::Precondition(m)) if m.contains("does not name")));
    // A party added may add in its turn, under its own consent.
    let jgt_consent = ConsentRecord {
        recipient_kinds: vec![OrgKind::Swv],
        ..consent(&jgt().oin)
    };
    assert!(
        join(
            Some(case),
            known(&id, true),
            (&jgt().oin, &swv),
            Some(&jgt_consent),
            NOW
        )
        .is_ok()
    );
}

#[test]
fn the_coordinator_the_parents_agreed_on_invites_the_parties() {
    let (school, id) = (examples::oin(1), CaseId::new_v7());
    let mut agreed = consent(&school);
    agreed.purpose_code = Some(Purpose::CareCoordination);
    let (case, audit) = coordinate(
        None,
        known(&id, true),
        (&school, &jgt()),
        Some(&agreed),
        NOW,
    )
    .unwrap();
    assert_eq!(case.coordinator.as_ref().unwrap().oin, jgt().oin);
    assert!(
        case.party(&jgt().oin).is_some(),
        "the coordinator takes part"
    );
    assert!(audit.detail.contains("coordinates the case"));
    // Another purpose is no agreement on coordination.
    let plain = consent(&school);
    let other = coordinate(None, known(&id, true), (&school, &jgt()), Some(&plain), NOW);
    assert!(matches!(other, Err(CaseRefused::Precondition(m)) if m.contains("care_coordination")));
    // Now only the coordinator invites.
    let swv = Participant::new(examples::oin(3), "swv", OrgKind::Swv);
    let for_swv = ConsentRecord {
        recipient_kinds: vec![OrgKind::Swv],
        ..consent(&school)
    };
    let denied = join(
        Some(case.clone()),
        known(&id, true),
        (&school, &swv),
        Some(&for_swv),
        NOW,
    );
    assert!(matches!(denied, Err(CaseRefused::Denied(m)) if m.contains("coordinates case")));
    let jgt_for_swv = ConsentRecord {
        recipient_kinds: vec![OrgKind::Swv],
        ..consent(&jgt().oin)
    };
    let (case, _) = join(
        Some(case),
        known(&id, true),
        (&jgt().oin, &swv),
        Some(&jgt_for_swv),
        NOW,
    )
    .unwrap();
    // Only the coordinator records a change of coordinator while it
    // coordinates; once its consent ended, another party does.
    let swv_agreed = ConsentRecord {
        recipient_kinds: vec![OrgKind::Swv],
        ..agreed.clone()
    };
    let change = |holds| {
        coordinate(
            Some(case.clone()),
            known_holding(&id, holds),
            (&school, &swv),
            Some(&swv_agreed),
            NOW,
        )
    };
    assert!(
        matches!(change(true), Err(CaseRefused::Denied(m)) if m.contains("records a change of coordinator itself"))
    );
    assert!(change(false).is_ok());
    // A coordinator that leaves coordinates no more.
    let (left, _) = end(Some(case), known(&id, false), (&jgt().oin, &jgt().oin), NOW).unwrap();
    assert!(left.coordinator.is_none());
}

#[test]
fn a_party_leaves_or_is_removed_by_whoever_added_it() {
    let (school, id) = (examples::oin(1), CaseId::new_v7());
    let (case, _) = join(
        None,
        known(&id, true),
        (&school, &jgt()),
        Some(&consent(&school)),
        NOW,
    )
    .unwrap();
    let other = examples::oin(5);
    let denied = end(
        Some(case.clone()),
        known(&id, false),
        (&other, &jgt().oin),
        NOW,
    );
    assert!(matches!(denied, Err(CaseRefused::Unknown(_))));
    let (left, audit) = end(
        Some(case.clone()),
        known(&id, false),
        (&jgt().oin, &jgt().oin),
        NOW + 1,
    )
    .unwrap();
    assert!(left.party(&jgt().oin).is_none());
    assert_eq!(left.parties[0].left_at_ms, Some(NOW + 1));
    assert!(audit.detail.contains("left the case"));
    let (removed, audit) = end(
        Some(case),
        known(&id, false),
        (&school, &jgt().oin),
        NOW + 1,
    )
    .unwrap();
    assert_eq!(removed.parties[0].ended_by.as_ref(), Some(&school));
    assert!(audit.detail.contains("removed from the case by"));
    let gone = end(
        Some(removed),
        known(&id, false),
        (&school, &jgt().oin),
        NOW + 2,
    );
    assert!(matches!(gone, Err(CaseRefused::Unknown(m)) if m.contains("takes no part")));
}

#[test]
fn a_meetings_consent_names_parties_not_the_coordinator_and_a_case_has_at_most_fifty() {
    let (school, id) = (examples::oin(1), CaseId::new_v7());
    let meeting = ConsentRecord {
        case_id: Some(id.clone()),
        purpose_code: Some(Purpose::CareCoordination),
        ..consent(&examples::oin(9))
    };
    let e = coordinate(
        None,
        known(&id, true),
        (&school, &jgt()),
        Some(&meeting),
        NOW,
    );
    assert!(
        matches!(e, Err(CaseRefused::Precondition(m)) if m.contains("a consent you registered"))
    );
    let mut case = CaseRecord::new(id.clone(), Some(CHILD), NOW);
    for n in 0..MAX_PARTIES {
        let oin = Oin::parse(&format!("{:020}", 99_500_000_000_000_u64 + n as u64)).unwrap();
        case.parties.push(Party {
            oin,
            basis: LegalBasis::NoPersonalData,
            added_by: school.clone(),
            joined_at_ms: NOW,
            left_at_ms: None,
            ended_by: None,
        });
    }
    let full = join(
        Some(case),
        known(&id, true),
        (&school, &jgt()),
        Some(&consent(&school)),
        NOW,
    );
    assert!(matches!(full, Err(CaseRefused::Precondition(m)) if m.contains("50 parties")));
}
