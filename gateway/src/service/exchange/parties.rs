//! The parties of a case: an organisation that took part in a case adds
//! another under a consent naming it, a party leaves, or the organisation
//! that added it removes it; each in one step with its audit entry
//! ([`crate::policy::case_parties`]).

use super::{CaseView, Exchange};
use crate::model::{CaseId, CaseRecord, ConsentId, Oin};
use crate::policy::case_parties::{self, CaseRefused, Known};
use crate::service::ServiceError;

fn refused(e: CaseRefused) -> ServiceError {
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
        let messages = self.store.case_messages(case).await?;
        let known = Known {
            id: case,
            child_ref: messages.iter().find_map(|m| m.child_ref),
            took_part: messages.iter().any(|m| super::cases::involves(m, caller)),
        };
        if messages.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "case_id: no case {case} that you sent or received messages in or take part in"
            )));
        }
        let participant = self.directory.get(party).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "party_oin: no participant {party} in the directory"
            ))
        })?;
        let consent = self.store.consent(consent).await?;
        let (adder, now) = (caller.clone(), self.clock.now_ms());
        let owned = (known.child_ref, known.took_part);
        let case_id = case.clone();
        let edit = Box::new(move |stored: Option<CaseRecord>| {
            let known = Known {
                id: &case_id,
                child_ref: owned.0,
                took_part: owned.1,
            };
            case_parties::join(stored, known, (&adder, &participant), consent.as_ref(), now)
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
        let edit = Box::new(move |stored: Option<CaseRecord>| {
            case_parties::end(stored, &id, (&by, &who), now)
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
                record: Some(record),
            }),
            other => other,
        }
    }
}
