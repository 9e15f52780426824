//! Who stands in a case now: an organisation that sent or received one of
//! its messages, or a party whose basis still holds (a revoked or lapsed
//! consent ends the view it gave); and whether its coordinator still
//! coordinates. The exchange asks it to send into a case and change its
//! parties, the consent registry to register a meeting's consent.

use crate::clock::Clock;
use crate::crypto::ChildRef;
use crate::model::{CaseId, CaseRecord, LegalBasis, MessageRecord, Oin};
use crate::policy::consent::unusable;
use crate::service::ServiceError;
use crate::store::Store;

/// What a caller that stands in a case knows of it.
pub struct Standing {
    /// The child its messages name.
    pub child_ref: Option<ChildRef>,
    /// Its record of parties, if it has one.
    pub record: Option<CaseRecord>,
    /// Whether the caller is a party whose basis holds.
    pub party: bool,
    /// Whether the case's coordinator, if any, still has the consent it
    /// coordinates on.
    pub coordinator_holds: bool,
}

impl Standing {
    /// The coordinator that coordinates now, if any.
    pub fn coordinator(&self) -> Option<&Oin> {
        self.record
            .as_ref()
            .and_then(|r| r.coordinator.as_ref())
            .filter(|_| self.coordinator_holds)
            .map(|k| &k.oin)
    }
}

/// Whether `basis` still holds at the clock's now: a consent in force, or
/// a statute.
pub async fn basis_holds(
    store: &dyn Store,
    clock: &Clock,
    basis: &LegalBasis,
) -> Result<bool, ServiceError> {
    Ok(match basis {
        LegalBasis::Consent(id) => store
            .consent(id)
            .await?
            .is_some_and(|c| unusable(&c, clock.now_ms()).is_none()),
        LegalBasis::Statute(_) | LegalBasis::NoPersonalData => true,
    })
}

/// Whether `org` takes part in the case of `record` now: it is a party,
/// and its basis still holds.
pub async fn takes_part(
    store: &dyn Store,
    clock: &Clock,
    record: Option<&CaseRecord>,
    org: &Oin,
) -> Result<bool, ServiceError> {
    match record.and_then(|c| c.party(org)) {
        Some(party) => basis_holds(store, clock, &party.basis).await,
        None => Ok(false),
    }
}

/// Whether the coordinator of `record`, if any, still coordinates: the
/// parents' agreement holds, and it still takes part in the case.
pub async fn coordinator_holds(
    store: &dyn Store,
    clock: &Clock,
    record: Option<&CaseRecord>,
) -> Result<bool, ServiceError> {
    match record.and_then(|c| c.coordinator.as_ref()) {
        Some(k) => Ok(basis_holds(store, clock, &k.basis).await?
            && takes_part(store, clock, record, &k.oin).await?),
        None => Ok(true),
    }
}

/// Whether `org` sent or received `m`.
pub fn involves(m: &MessageRecord, org: &Oin) -> bool {
    m.sender == *org || m.recipient == *org
}

/// What `caller` knows of `case`, if it stands in it; else NOT_FOUND, the
/// same for a case that does not exist.
pub async fn standing(
    store: &dyn Store,
    clock: &Clock,
    case: &CaseId,
    caller: &Oin,
) -> Result<Standing, ServiceError> {
    let messages = store.case_messages(case).await?;
    let record = store.case_record(case).await?;
    let party = takes_part(store, clock, record.as_ref(), caller).await?;
    let stands = party || messages.iter().any(|m| involves(m, caller));
    if !stands || messages.is_empty() {
        return Err(ServiceError::NotFound(format!(
            "case_id: no case {case} that you sent or received messages in or take part in"
        )));
    }
    Ok(Standing {
        child_ref: messages.iter().find_map(|m| m.child_ref),
        coordinator_holds: coordinator_holds(store, clock, record.as_ref()).await?,
        record,
        party,
    })
}
