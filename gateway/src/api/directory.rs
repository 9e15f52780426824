//! `schakel.v1.Directory`: WhoAmI, Lookup and GatewayKey.

use std::sync::Arc;

use schakel_proto::v1 as pb;
use schakel_proto::v1::directory_server::Directory as DirectoryApi;
use tonic::{Request, Response, Status};

use super::convert::{org_kind_from_pb, participant_to_pb, timestamp};
use super::directory_status;
use crate::crypto::SigningKey;
use crate::directory::{Directory, OrgKind, Query};
use crate::identity::Caller;

/// The Directory service.
pub struct DirectoryService {
    directory: Directory,
    signing_key: Arc<SigningKey>,
}

impl DirectoryService {
    /// A service over `directory`, publishing `signing_key`'s public half.
    pub fn new(directory: Directory, signing_key: Arc<SigningKey>) -> Self {
        Self {
            directory,
            signing_key,
        }
    }
}

fn query_from_pb(q: Option<pb::lookup_request::Query>) -> Result<Query, Status> {
    use pb::lookup_request::Query as Q;
    let nonempty = |field: &str, v: String| {
        if v.is_empty() {
            Err(Status::invalid_argument(format!(
                "{field}: must not be empty"
            )))
        } else {
            Ok(v)
        }
    };
    Ok(match q {
        None => {
            return Err(Status::invalid_argument(
                "query: exactly one criterion must be set",
            ));
        }
        Some(Q::Oin(v)) => Query::Oin(nonempty("oin", v)?),
        Some(Q::Brin(v)) => Query::Brin(nonempty("brin", v)?),
        Some(Q::Agb(v)) => Query::Agb(nonempty("agb", v)?),
        Some(Q::Gemeentecode(v)) => Query::Gemeentecode(nonempty("gemeentecode", v)?),
        Some(Q::SwvNumber(v)) => Query::SwvNumber(nonempty("swv_number", v)?),
        Some(Q::Kind(k)) => Query::Kind(org_kind_from_pb("kind", k)?),
    })
}

#[tonic::async_trait]
impl DirectoryApi for DirectoryService {
    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = Caller::of(&request)?;
        Ok(Response::new(pb::WhoAmIResponse {
            participant: Some(participant_to_pb(&caller.participant, true)),
            certificate_sha256: caller.cert_sha256.clone(),
            certificate_not_after: Some(timestamp(caller.cert_not_after)),
        }))
    }

    async fn lookup(
        &self,
        request: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::LookupResponse>, Status> {
        let for_operator = Caller::of(&request)?.participant.kind == OrgKind::Operator;
        let query = query_from_pb(request.into_inner().query)?;
        let found = self
            .directory
            .lookup(&query)
            .await
            .map_err(directory_status)?;
        Ok(Response::new(pb::LookupResponse {
            participants: found
                .iter()
                .map(|p| participant_to_pb(p, for_operator))
                .collect(),
        }))
    }

    async fn gateway_key(
        &self,
        _request: Request<pb::GatewayKeyRequest>,
    ) -> Result<Response<pb::GatewayKeyResponse>, Status> {
        Ok(Response::new(pb::GatewayKeyResponse {
            ed25519_public_key: self.signing_key.public_key().to_vec(),
            key_id: self.signing_key.key_id(),
        }))
    }
}
