//! The parties of a case: an organisation that took part in a case adds
//! another under a consent naming it, a party leaves, or the organisation
//! that added it removes it; each in one step with its audit entry
//! ([`crate::policy::case_parties`]).

use super::{CaseView, Exchange};
use crate::model::{CaseId, CaseRecord, ConsentId, ConsentRecord, Draft, Oin, Participant};
use crate::policy::case_parties::{self, CaseRefused, Known};
use crate::service::ServiceError;
use crate::service::case_standing;

/// A rule that names an organisation in a case ([`case_parties::join`],
/// [`case_parties::coordinate`]).
type Naming = fn(
    Option<CaseRecord>,
    Known<'_>,
    (&Oin, &Participant),
    Option<&ConsentRecord>,
    i64,
) -> Result<(CaseRecord, Draft), CaseRefused>;

/// The status of a refused change of a case.
pub(super) fn refused(e: CaseRefused) -> ServiceError {
    match e {
        CaseRefused::Unknown(m) => ServiceError::NotFound(m),
        CaseRefused::Denied(m) => ServiceError::PermissionDenied(m),
        CaseRefused::Precondition(m) => ServiceError::FailedPrecondition(m),
    }
}

impl Exchange {
    /// `caller` adds `party` to `case` under consent `consent`.
    pub async fn add_case_party(
        &self,
        caller: &Oin,
        case: &CaseId,
        party: &Oin,
        consent: &ConsentId,
    ) -> Result<CaseView, ServiceError> {
        self.name_in_case(
            caller,
            case,
            ("party_oin", party),
            consent,
            case_parties::join,
        )
        .await
    }

    /// `caller` records `coordinator` as `case`'s coordinator, the parents'
    /// agreement being consent `consent`.
    pub async fn set_case_coordinator(
        &self,
        caller: &Oin,
        case: &CaseId,
        coordinator: &Oin,
        consent: &ConsentId,
    ) -> Result<CaseView, ServiceError> {
        let named = ("coordinator_oin", coordinator);
        self.name_in_case(caller, case, named, consent, case_parties::coordinate)
            .await
    }

    /// Names an organisation in `case` under consent `consent` by `rule`
    /// (a party that joins, the coordinator), in one step of the store.
    async fn name_in_case(
        &self,
        caller: &Oin,
        case: &CaseId,
        (field, named): (&str, &Oin),
        consent: &ConsentId,
        rule: Naming,
    ) -> Result<CaseView, ServiceError> {
        let started = tokio::time::Instant::now();
        let (child_ref, coordinator_holds) = match self.standing(case, caller).await {
            Ok(found) => found,
            Err(e) => return super::even_time::evened(started, Err(e)).await,
        };
        let took_part = true;
        let participant = self.directory.get(named).await?.ok_or_else(|| {
            ServiceError::NotFound(format!("{field}: no participant {named} in the directory"))
        })?;
        let consent = self.store.consent(consent).await?;
        let (by, now, case_id) = (caller.clone(), self.clock.now_ms(), case.clone());
        let edit = Box::new(move |stored: Option<CaseRecord>| {
            let known = Known {
                id: &case_id,
                child_ref,
                took_part,
                coordinator_holds,
            };
            rule(stored, known, (&by, &participant), consent.as_ref(), now)
        });
        self.store
            .edit_case(case, edit, now)
            .await?
            .map_err(refused)?;
        self.list_case(caller, case).await
    }

    /// `caller` ends `party`'s part in `case` (its own, when they are one).
    pub async fn remove_case_party(
        &self,
        caller: &Oin,
        case: &CaseId,
        party: &Oin,
    ) -> Result<CaseView, ServiceError> {
        let (by, who, id, now) = (
            caller.clone(),
            party.clone(),
            case.clone(),
            self.clock.now_ms(),
        );
        let messages = self.store.case_messages(case).await?;
        let stored = self.store.case_record(case).await?;
        let took_part = messages.iter().any(|m| case_standing::involves(m, caller))
            || self.takes_part(stored.as_ref(), caller).await?;
        let coordinator_holds =
            case_standing::coordinator_holds(self.store.as_ref(), &self.clock, stored.as_ref())
                .await?;
        let child_ref = messages.iter().find_map(|m| m.child_ref);
        let edit = Box::new(move |stored: Option<CaseRecord>| {
            let known = Known {
                id: &id,
                child_ref,
                took_part,
                coordinator_holds,
            };
            case_parties::end(stored, known, (&by, &who), now)
        });
        let record = self
            .store
            .edit_case(case, edit, now)
            .await?
            .map_err(refused)?;
        // A party that left may hold no message of the case of its own.
        match self.list_case(caller, case).await {
            Err(ServiceError::NotFound(_)) => Ok(CaseView {
                messages: Vec::new(),
                record: Some(CaseRecord {
                    parties: record
                        .parties
                        .into_iter()
                        .filter(|p| p.oin == *caller)
                        .collect(),
                    coordinator: None,
                    plans: Vec::new(),
                    ..record
                }),
                basis_ended: Default::default(),
            }),
            other => other,
        }
    }

    /// The child a case's messages name, and whether its coordinator's
    /// consent holds, if `caller` stands in it; else NOT_FOUND, the same
    /// for a case that does not exist.
    async fn standing(
        &self,
        case: &CaseId,
        caller: &Oin,
    ) -> Result<(Option<crate::crypto::ChildRef>, bool), ServiceError> {
        let s = case_standing::standing(self.store.as_ref(), &self.clock, case, caller).await?;
        Ok((s.child_ref, s.coordinator_holds))
    }
}
