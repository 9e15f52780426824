//! Consents in the contract's wire form, and back: what a registrant
//! registers and is shown, and what a recipient is shown of the consent a
//! message arrived under. Kept apart from [`super::wire`] because a consent
//! has the most fields of any record.

use schakel_proto::v1 as pb;

use super::consent::{ConsentRecord, ConsentState, Consenter, Giver, Obtained};
use super::wire::{kind, org_kind, purpose, timestamp};

/// The giver of a wire value, if it names one.
pub fn giver_of(value: i32) -> Option<Giver> {
    match pb::ConsentGiver::try_from(value).ok()? {
        pb::ConsentGiver::Unspecified => None,
        pb::ConsentGiver::Parents => Some(Giver::Parents),
        pb::ConsentGiver::ParentsAndChild => Some(Giver::ParentsAndChild),
        pb::ConsentGiver::YoungPerson => Some(Giver::YoungPerson),
    }
}

/// Who consented, from a wire value; None for "unspecified" or unknown.
pub fn consenter_of(value: i32) -> Option<Consenter> {
    match pb::ConsentConsenter::try_from(value).ok()? {
        pb::ConsentConsenter::Unspecified => None,
        pb::ConsentConsenter::Parent => Some(Consenter::Parent),
        pb::ConsentConsenter::Guardian => Some(Consenter::Guardian),
        pb::ConsentConsenter::YoungPerson => Some(Consenter::YoungPerson),
    }
}

/// How a consent was obtained, from a wire value: Ok(None) for "not
/// stated", Err for a value the contract does not know.
pub fn obtained_of(value: i32) -> Result<Option<Obtained>, i32> {
    Ok(
        match pb::ConsentObtained::try_from(value).map_err(|_| value)? {
            pb::ConsentObtained::Unspecified => None,
            pb::ConsentObtained::InWriting => Some(Obtained::InWriting),
            pb::ConsentObtained::Orally => Some(Obtained::Orally),
            pb::ConsentObtained::Electronically => Some(Obtained::Electronically),
            pb::ConsentObtained::InMeeting => Some(Obtained::InMeeting),
        },
    )
}

fn consenters(who: &[Consenter]) -> Vec<i32> {
    who.iter()
        .map(|c| {
            (match c {
                Consenter::Parent => pb::ConsentConsenter::Parent,
                Consenter::Guardian => pb::ConsentConsenter::Guardian,
                Consenter::YoungPerson => pb::ConsentConsenter::YoungPerson,
            }) as i32
        })
        .collect()
}

fn obtained(how: Option<Obtained>) -> i32 {
    (match how {
        None => pb::ConsentObtained::Unspecified,
        Some(Obtained::InWriting) => pb::ConsentObtained::InWriting,
        Some(Obtained::Orally) => pb::ConsentObtained::Orally,
        Some(Obtained::Electronically) => pb::ConsentObtained::Electronically,
        Some(Obtained::InMeeting) => pb::ConsentObtained::InMeeting,
    }) as i32
}

fn consent_state(s: ConsentState) -> pb::ConsentStatus {
    match s {
        ConsentState::Pending => pb::ConsentStatus::Pending,
        ConsentState::Active => pb::ConsentStatus::Active,
        ConsentState::Revoked => pb::ConsentStatus::Revoked,
        ConsentState::Lapsed => pb::ConsentStatus::Lapsed,
    }
}

/// The consent state of a wire value; None for "unspecified" or unknown.
pub fn consent_state_of(value: i32) -> Option<ConsentState> {
    [
        ConsentState::Pending,
        ConsentState::Active,
        ConsentState::Revoked,
        ConsentState::Lapsed,
    ]
    .into_iter()
    .find(|s| consent_state(*s) as i32 == value)
}

/// The wire form of a consent, with its state at `now_ms`.
pub fn consent(c: ConsentRecord, now_ms: i64) -> pb::ConsentRecord {
    let lapse = c.ends_by_age();
    let lapse_reason = lapse.map(|l| c.lapse_reason(&l)).unwrap_or_default();
    pb::ConsentRecord {
        status: consent_state(c.state(now_ms)) as i32,
        consent_id: c.id.to_string(),
        registered_by_oin: c.registered_by.to_string(),
        child_ref: c.child_ref.map(|r| r.to_hex()).unwrap_or_default(),
        given_by: giver(c.given_by) as i32,
        given_on: c.given_on.to_string(),
        recipient_oins: c.recipient_oins.iter().map(ToString::to_string).collect(),
        recipient_kinds: c
            .recipient_kinds
            .into_iter()
            .map(|k| org_kind(k) as i32)
            .collect(),
        message_kinds: c
            .message_kinds
            .into_iter()
            .map(|k| kind(k) as i32)
            .collect(),
        purpose: c.purpose,
        purpose_code: c.purpose_code.map_or(0, |p| purpose(p) as i32),
        valid_from: Some(timestamp(c.valid_from_ms)),
        valid_until: Some(timestamp(c.valid_until_ms)),
        created_at: Some(timestamp(c.created_at_ms)),
        revoked_at: c.revoked_at_ms.map(timestamp),
        lapses_on: lapse.map(|l| l.on.to_string()).unwrap_or_default(),
        lapse_reason,
        reconfirm_on: c.reconfirm.map(|r| r.on.to_string()).unwrap_or_default(),
        revoked_by_oin: c
            .revoked_by
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        revoke_reason: c.revoke_reason,
        consented_by: consenters(&c.consented_by),
        obtained: obtained(c.obtained),
        case_id: c.case_id.map(|k| k.to_string()).unwrap_or_default(),
    }
}

/// What a recipient is shown of the consent a message arrived under.
pub fn consent_scope(c: &ConsentRecord, now_ms: i64) -> pb::ConsentScope {
    pb::ConsentScope {
        consent_id: c.id.to_string(),
        registered_by_oin: c.registered_by.to_string(),
        purpose_code: c.purpose_code.map_or(0, |p| purpose(p) as i32),
        purpose: c.purpose.clone(),
        message_kinds: c.message_kinds.iter().map(|k| kind(*k) as i32).collect(),
        valid_from: Some(timestamp(c.valid_from_ms)),
        valid_until: Some(timestamp(c.ends_at_ms())),
        given_by: giver(c.given_by) as i32,
        given_on: c.given_on.to_string(),
        status: consent_state(c.state(now_ms)) as i32,
        consented_by: consenters(&c.consented_by),
        obtained: obtained(c.obtained),
    }
}

fn giver(g: Giver) -> pb::ConsentGiver {
    match g {
        Giver::Parents => pb::ConsentGiver::Parents,
        Giver::ParentsAndChild => pb::ConsentGiver::ParentsAndChild,
        Giver::YoungPerson => pb::ConsentGiver::YoungPerson,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_that_name_nothing_are_none() {
        assert_eq!(giver_of(0), None);
        assert_eq!(consent_state_of(0), None);
        assert_eq!(
            consent_state_of(pb::ConsentStatus::Lapsed as i32),
            Some(ConsentState::Lapsed)
        );
    }
}
