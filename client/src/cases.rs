//! A case's parties: an organisation that took part in a case adds another
//! under a consent naming it; a party leaves, or is removed by the one that
//! added it. Each answers the case as the caller then sees it.

use crate::{Client, ClientError, proto as pb};

impl Client {
    /// Adds `party_oin` to case `case_id` under consent `consent_id`, which
    /// the caller registered and which names the party and the case's child.
    pub async fn add_case_party(
        &self,
        case_id: &str,
        party_oin: &str,
        consent_id: &str,
    ) -> Result<pb::ListCaseResponse, ClientError> {
        let request = pb::AddCasePartyRequest {
            case_id: case_id.to_owned(),
            party_oin: party_oin.to_owned(),
            legal_basis: Some(consent_basis(consent_id)),
        };
        Ok(self.exchange().add_case_party(request).await?.into_inner())
    }

    /// Ends `party_oin`'s part in case `case_id`; None: the caller's own
    /// (it leaves the case).
    pub async fn remove_case_party(
        &self,
        case_id: &str,
        party_oin: Option<&str>,
    ) -> Result<pb::ListCaseResponse, ClientError> {
        let request = pb::RemoveCasePartyRequest {
            case_id: case_id.to_owned(),
            party_oin: party_oin.unwrap_or_default().to_owned(),
        };
        Ok(self
            .exchange()
            .remove_case_party(request)
            .await?
            .into_inner())
    }

    /// Records `coordinator_oin` as the coordinator of case `case_id`, as
    /// the parents agreed in consent `consent_id` (registered by the
    /// caller, for care_coordination, naming the coordinator).
    pub async fn set_case_coordinator(
        &self,
        case_id: &str,
        coordinator_oin: &str,
        consent_id: &str,
    ) -> Result<pb::ListCaseResponse, ClientError> {
        let request = pb::SetCaseCoordinatorRequest {
            case_id: case_id.to_owned(),
            coordinator_oin: coordinator_oin.to_owned(),
            legal_basis: Some(consent_basis(consent_id)),
        };
        Ok(self
            .exchange()
            .set_case_coordinator(request)
            .await?
            .into_inner())
    }
}

/// A basis that names consent `consent_id`.
fn consent_basis(consent_id: &str) -> pb::LegalBasis {
    pb::LegalBasis {
        basis: Some(pb::legal_basis::Basis::ConsentId(consent_id.to_owned())),
        ..Default::default()
    }
}
