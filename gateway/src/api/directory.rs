//! `schakel.v1.Directory`: WhoAmI, Lookup, GatewayKey and TreeHead.

use std::sync::Arc;

use schakel_proto::v1 as pb;
use schakel_proto::v1::directory_server::Directory as DirectoryApi;
use tonic::{Request, Response, Status};

use super::caller;
use super::convert::query;
use super::status::of;
use crate::crypto::{GatewayKeys, Signer, key_id};
use crate::model::wire;
use crate::service::directory::Directory;
use crate::service::tree_heads::TreeHeads;

/// The Directory service.
pub struct DirectoryService {
    directory: Directory,
    tree_heads: TreeHeads,
    signing_key: Arc<GatewayKeys>,
}

impl DirectoryService {
    /// A service over `directory` and the log's `tree_heads`, publishing
    /// `signing_key`'s public half.
    pub fn new(directory: Directory, tree_heads: TreeHeads, signing_key: Arc<GatewayKeys>) -> Self {
        Self {
            directory,
            tree_heads,
            signing_key,
        }
    }
}

#[tonic::async_trait]
impl DirectoryApi for DirectoryService {
    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(pb::WhoAmIResponse {
            participant: Some(wire::participant(&caller.participant, true)),
            certificate_sha256: caller.cert_sha256.to_hex(),
            certificate_not_after: Some(wire::timestamp_secs(caller.cert_not_after)),
        }))
    }

    async fn lookup(
        &self,
        request: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::LookupResponse>, Status> {
        let for_operator = caller(&request)?.participant.is_operator();
        let query = query(request.into_inner().query)?;
        let found = self.directory.lookup(&query).await.map_err(of)?;
        Ok(Response::new(pb::LookupResponse {
            participants: found
                .iter()
                .map(|p| wire::participant(p, for_operator))
                .collect(),
        }))
    }

    async fn gateway_key(
        &self,
        _request: Request<pb::GatewayKeyRequest>,
    ) -> Result<Response<pb::GatewayKeyResponse>, Status> {
        let signing = self.signing_key.signing();
        let key = |public: &[u8], active| pb::GatewayPublicKey {
            ed25519_public_key: public.to_vec(),
            key_id: key_id(public),
            active,
        };
        let keys = std::iter::once(key(signing.public_key(), true))
            .chain(self.signing_key.retired().iter().map(|k| key(k, false)))
            .collect();
        Ok(Response::new(pb::GatewayKeyResponse {
            ed25519_public_key: signing.public_key().to_vec(),
            key_id: signing.key_id().to_owned(),
            keys,
        }))
    }

    async fn tree_head(
        &self,
        request: Request<pb::TreeHeadRequest>,
    ) -> Result<Response<pb::TreeHeadResponse>, Status> {
        let r = request.into_inner();
        let found = self
            .tree_heads
            .head((r.size > 0).then_some(r.size), Some(r.extends_size))
            .await
            .map_err(of)?;
        Ok(Response::new(pb::TreeHeadResponse {
            head: Some(found.head.to_wire()),
            consistency_proof: found.proof.iter().map(|h| h.to_vec()).collect(),
        }))
    }
}
