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
#[path = "case_parties_tests.rs"]
mod tests;
