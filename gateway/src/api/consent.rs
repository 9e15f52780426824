//! `schakel.v1.Consent`: grant, revoke, list. The contract is in place; the
//! consent capability implements it.

use schakel_proto::v1 as pb;
use schakel_proto::v1::consent_server::Consent as ConsentApi;
use tonic::{Request, Response, Status};

use super::not_yet;

/// The Consent service.
#[derive(Default)]
pub struct ConsentService;

#[tonic::async_trait]
impl ConsentApi for ConsentService {
    async fn grant(
        &self,
        _: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::ConsentRecord>, Status> {
        Err(not_yet("Consent.Grant"))
    }

    async fn revoke(
        &self,
        _: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::ConsentRecord>, Status> {
        Err(not_yet("Consent.Revoke"))
    }

    async fn list(
        &self,
        _: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ListConsentsResponse>, Status> {
        Err(not_yet("Consent.List"))
    }
}
