//! `schakel.v1.Consent`: grant, revoke, list.

use std::sync::Arc;

use schakel_proto::v1 as pb;
use schakel_proto::v1::consent_server::Consent as ConsentApi;
use tonic::{Request, Response, Status};

use super::caller;
use super::convert::{consent_id, grant};
use super::status::{of, violation};
use crate::model::consent_wire;
use crate::policy::requests;
use crate::service::consents::Consents;

/// The Consent service.
pub struct ConsentService {
    consents: Arc<Consents>,
}

impl ConsentService {
    /// A service over `consents`.
    pub fn new(consents: Arc<Consents>) -> Self {
        Self { consents }
    }
}

#[tonic::async_trait]
impl ConsentApi for ConsentService {
    async fn grant(
        &self,
        request: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::ConsentRecord>, Status> {
        let caller = caller(&request)?;
        let grant = grant(request.into_inner())?;
        let record = self.consents.grant(&caller, grant).await.map_err(of)?;
        Ok(Response::new(consent_wire::consent(
            record,
            self.consents.clock().now_ms(),
        )))
    }

    async fn revoke(
        &self,
        request: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::ConsentRecord>, Status> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let id = consent_id("consent_id", &r.consent_id)?;
        let (record, withdrawn) = self
            .consents
            .revoke(&caller, &id, &r.reason)
            .await
            .map_err(of)?;
        tracing::info!(consent = %record.id, withdrawn, "consent revoked");
        Ok(Response::new(consent_wire::consent(
            record,
            self.consents.clock().now_ms(),
        )))
    }

    async fn list(
        &self,
        request: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ListConsentsResponse>, Status> {
        let by = caller(&request)?.participant.oin;
        let r = request.into_inner();
        let state = consent_wire::consent_state_of(r.status);
        let bsn = Some(r.bsn.as_str()).filter(|b| !b.is_empty());
        let size = requests::page_size(r.page_size).map_err(violation)?;
        let list = self.consents.list(&by, bsn, state).await.map_err(of)?;
        let after = Some(r.page_token).filter(|t| !t.is_empty());
        let (list, next) = requests::page(list, |c| c.id.to_string(), after, size);
        let now = self.consents.clock().now_ms();
        Ok(Response::new(pb::ListConsentsResponse {
            consents: list
                .into_iter()
                .map(|c| consent_wire::consent(c, now))
                .collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}
