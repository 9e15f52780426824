//! Who takes part in a case, and on what basis: an organisation joins a
//! case under a consent that names it and is about the case's child,
//! added by one that already takes part in it; it sees the whole case while
//! it takes part, and its part ends when it leaves or the organisation
//! that added it (or the coordinator) removes it. The parents agree who
//! coordinates the case; from then on the coordinator invites the parties.
//! Each change is an audit entry.

use super::consent::unusable;
use crate::crypto::ChildRef;
use crate::model::{
    Action, CaseId, CaseRecord, ConsentRecord, Coordinator, Draft, LegalBasis, Oin, Participant,
    Party, Purpose,
};

/// Why a change of a case's parties was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseRefused {
    /// The caller takes no part in such a case, or there is no such party
    /// (NOT_FOUND: another's case is not told apart from none).
    #[error("{0}")]
    Unknown(String),
    /// The caller may not make this change (PERMISSION_DENIED).
    #[error("{0}")]
    Denied(String),
    /// The basis does not carry it, or the party takes part already
    /// (FAILED_PRECONDITION).
    #[error("{0}")]
    Precondition(String),
}

/// The most current parties a case has: the organisations around one
/// family, as a consent names at most fifty.
pub const MAX_PARTIES: usize = 50;

/// What is known of a case outside its record, from its messages.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// The case.
    pub id: &'a CaseId,
    /// The child its messages name.
    pub child_ref: Option<ChildRef>,
    /// Whether the caller stands in the case: it sent or received one of
    /// its messages, or it is a party whose consent still holds.
    pub took_part: bool,
    /// Whether the case's coordinator, if it has one, still coordinates on
    /// a consent that holds; one whose consent ended has no rights.
    pub coordinator_holds: bool,
}

fn not_yours(id: &CaseId) -> CaseRefused {
    CaseRefused::Unknown(format!(
        "case_id: no case {id} that you sent or received messages in or take part in"
    ))
}

/// The case's record (a new one if it has none) for a caller that stands
/// in it; one whose term passed names its child again from its messages.
pub fn standing_in(
    case: Option<CaseRecord>,
    known: Known<'_>,
    now_ms: i64,
) -> Result<CaseRecord, CaseRefused> {
    if !known.took_part {
        return Err(not_yours(known.id));
    }
    let mut case =
        case.unwrap_or_else(|| CaseRecord::new(known.id.clone(), known.child_ref, now_ms));
    case.child_ref = case.child_ref.or(known.child_ref);
    Ok(case)
}

/// `adder` adds `party` to the case (its record as stored, if any) under
/// `consent` (the one its basis names, as stored), at `now_ms`: the record
/// after it and its audit entry.
pub fn join(
    case: Option<CaseRecord>,
    known: Known<'_>,
    (adder, party): (&Oin, &Participant),
    consent: Option<&ConsentRecord>,
    now_ms: i64,
) -> Result<(CaseRecord, Draft), CaseRefused> {
    let mut case = standing_in(case, known, now_ms)?;
    if case.party(&party.oin).is_some() {
        return Err(CaseRefused::Precondition(format!(
            "party_oin: {} takes part in case {} already",
            party.oin, case.id
        )));
    }
    if let Some(k) = case
        .coordinator
        .as_ref()
        .filter(|k| k.oin != *adder && known.coordinator_holds)
    {
        return Err(CaseRefused::Denied(format!(
            "case_id: {} coordinates case {}: the coordinator invites its parties",
            k.oin, case.id
        )));
    }
    let c = covering(&case, consent, (adder, party), now_ms)?;
    if case.parties.iter().filter(|p| p.is_current()).count() >= MAX_PARTIES {
        return Err(CaseRefused::Precondition(format!(
            "case_id: case {} has {MAX_PARTIES} parties, the most a case has; remove one that no longer takes part first",
            case.id
        )));
    }
    let basis = LegalBasis::Consent(c.id.clone());
    case.parties.push(Party {
        oin: party.oin.clone(),
        basis: basis.clone(),
        added_by: adder.clone(),
        joined_at_ms: now_ms,
        left_at_ms: None,
        ended_by: None,
    });
    case.updated_at_ms = now_ms;
    let audit = Draft {
        counterpart: Some(party.oin.clone()),
        child_ref: case.child_ref,
        legal_basis: Some(basis),
        case_id: Some(case.id.clone()),
        ..Draft::new(adder.clone(), Action::CaseChanged)
    }
    .detail(format!(
        "{} joined the case as a party, under consent {}",
        party.oin, c.id
    ));
    Ok((case, audit))
}

/// The consent `consent` (as stored) that `by` names for `who` in `case`,
/// if it carries it: registered by `by` (or the consent of the case's
/// meeting, which serves every party), in force, about the case's child,
/// naming `who` (by OIN or kind).
fn covering<'c>(
    case: &CaseRecord,
    consent: Option<&'c ConsentRecord>,
    (by, who): (&Oin, &Participant),
    now_ms: i64,
) -> Result<&'c ConsentRecord, CaseRefused> {
    let precondition = |why: String| Err(CaseRefused::Precondition(why));
    let Some(c) = consent else {
        return precondition("legal_basis.consent_id: no such consent is registered".into());
    };
    if c.registered_by != *by && c.case_id.as_ref() != Some(&case.id) {
        return precondition(format!(
            "legal_basis.consent_id: consent {} was registered by another organisation; name a consent you registered, or the consent of this case's meeting",
            c.id
        ));
    }
    if let Some(reason) = unusable(c, now_ms) {
        return precondition(format!("legal_basis.consent_id: {reason}"));
    }
    let Some(child) = case.child_ref else {
        return precondition(format!(
            "case_id: case {} names no child: an anonymous consultation has no parties",
            case.id
        ));
    };
    if c.child_ref != Some(child) {
        return precondition(format!(
            "legal_basis.consent_id: consent {} is for another child than case {}",
            c.id, case.id
        ));
    }
    if !c.recipient_oins.contains(&who.oin) && !c.recipient_kinds.contains(&who.kind) {
        return precondition(format!(
            "legal_basis.consent_id: consent {} does not name {} (a {}): the parents agreed to share with the organisations it names",
            c.id, who.oin, who.kind
        ));
    }
    Ok(c)
}

/// `by` records `coordinator` as the case's coordinator (a change, when
/// another coordinated it), under `consent`: the parents' agreement, a
/// consent `by` registered for care coordination that names the
/// coordinator. The coordinator becomes a party if it is not one.
pub fn coordinate(
    case: Option<CaseRecord>,
    known: Known<'_>,
    (by, coordinator): (&Oin, &Participant),
    consent: Option<&ConsentRecord>,
    now_ms: i64,
) -> Result<(CaseRecord, Draft), CaseRefused> {
    let mut case = standing_in(case, known, now_ms)?;
    if let Some(k) = case
        .coordinator
        .as_ref()
        .filter(|k| k.oin != *by && known.coordinator_holds)
    {
        return Err(CaseRefused::Denied(format!(
            "case_id: {} coordinates case {}: it records a change of coordinator itself; when the parents withdraw their agreement (its consent is revoked), another party records the new one",
            k.oin, case.id
        )));
    }
    let c = covering(&case, consent, (by, coordinator), now_ms)?;
    if c.registered_by != *by {
        return Err(CaseRefused::Precondition(format!(
            "legal_basis.consent_id: consent {} was registered by another organisation; the parents' agreement on a coordinator is a consent you registered",
            c.id
        )));
    }
    if c.purpose_code != Some(Purpose::CareCoordination) {
        return Err(CaseRefused::Precondition(format!(
            "legal_basis.consent_id: consent {} serves another purpose; the parents agree on a coordinator in a consent for care_coordination",
            c.id
        )));
    }
    if case
        .coordinator
        .as_ref()
        .is_some_and(|k| k.oin == coordinator.oin)
    {
        return Err(CaseRefused::Precondition(format!(
            "coordinator_oin: {} coordinates case {} already",
            coordinator.oin, case.id
        )));
    }
    let basis = LegalBasis::Consent(c.id.clone());
    if case.party(&coordinator.oin).is_none() {
        case.parties.push(Party {
            oin: coordinator.oin.clone(),
            basis: basis.clone(),
            added_by: by.clone(),
            joined_at_ms: now_ms,
            left_at_ms: None,
            ended_by: None,
        });
    }
    let detail = match case.coordinator.replace(Coordinator {
        oin: coordinator.oin.clone(),
        basis: basis.clone(),
        set_by: by.clone(),
        since_ms: now_ms,
    }) {
        Some(before) => format!(
            "the coordinator changed from {} to {}, as the parents agreed (consent {})",
            before.oin, coordinator.oin, c.id
        ),
        None => format!(
            "{} coordinates the case, as the parents agreed (consent {})",
            coordinator.oin, c.id
        ),
    };
    case.updated_at_ms = now_ms;
    let audit = Draft {
        counterpart: Some(coordinator.oin.clone()),
        child_ref: case.child_ref,
        legal_basis: Some(basis),
        case_id: Some(case.id.clone()),
        ..Draft::new(by.clone(), Action::CaseChanged)
    }
    .detail(detail);
    Ok((case, audit))
}

/// `by` ends `party`'s part in the case: its own (it leaves), or that of a
/// party it added.
pub fn end(
    case: Option<CaseRecord>,
    known: Known<'_>,
    (by, party): (&Oin, &Oin),
    now_ms: i64,
) -> Result<(CaseRecord, Draft), CaseRefused> {
    let id = known.id;
    // Standing in the case: a party now, one that added a party, or the
    // party that leaves.
    let stands = |c: &CaseRecord| {
        known.took_part
            || (by == party && c.party(by).is_some())
            || c.parties.iter().any(|p| p.added_by == *by)
    };
    let Some(mut case) = case.filter(stands) else {
        return Err(not_yours(id));
    };
    let coordinating = |oin: &Oin| {
        known.coordinator_holds && case.coordinator.as_ref().is_some_and(|k| k.oin == *oin)
    };
    let (coordinates, party_coordinates) = (coordinating(by), coordinating(party));
    let Some(p) = case
        .parties
        .iter_mut()
        .find(|p| p.oin == *party && p.is_current())
    else {
        return Err(CaseRefused::Unknown(format!(
            "party_oin: {party} takes no part in case {id}"
        )));
    };
    if by != party && party_coordinates {
        return Err(CaseRefused::Denied(format!(
            "party_oin: {party} coordinates case {id}; while the parents' agreement holds it ends its own part (or hands over), nobody else"
        )));
    }
    if by != party && p.added_by != *by && !coordinates {
        return Err(CaseRefused::Denied(format!(
            "party_oin: {party} was added by {}; a party leaves itself, or is removed by the organisation that added it or the coordinator",
            p.added_by
        )));
    }
    p.left_at_ms = Some(now_ms);
    p.ended_by = Some(by.clone());
    let detail = if by == party {
        format!("{party} left the case")
    } else {
        format!("{party} was removed from the case by {by}")
    };
    let basis = p.basis.clone();
    // A coordinator that leaves coordinates no more.
    if case.coordinator.as_ref().is_some_and(|k| k.oin == *party) {
        case.coordinator = None;
    }
    case.updated_at_ms = now_ms;
    let audit = Draft {
        counterpart: Some(party.clone()),
        child_ref: case.child_ref.or(known.child_ref),
        legal_basis: Some(basis),
        case_id: Some(case.id.clone()),
        ..Draft::new(by.clone(), Action::CaseChanged)
    }
    .detail(detail);
    Ok((case, audit))
}

#[cfg(test)]
mod tests {
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
        assert!(
            matches!(unnamed, Err(CaseRefused::Precondition(m)) if m.contains("does not name"))
        );
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
        assert!(
            matches!(other, Err(CaseRefused::Precondition(m)) if m.contains("care_coordination"))
        );
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
}
