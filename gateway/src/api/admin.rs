//! `schakel.v1.Admin`, for operators only: manage participants, see queues.

use std::sync::Arc;

use schakel_proto::v1 as pb;
use schakel_proto::v1::admin_server::Admin as AdminApi;
use tonic::{Request, Response, Status};

use super::convert::{participant_from_pb, participant_to_pb};
use super::{directory_status, internal};
use crate::directory::Directory;
use crate::identity::Caller;
use crate::store::Store;

/// The Admin service.
pub struct AdminService {
    directory: Directory,
    store: Arc<dyn Store>,
}

impl AdminService {
    /// A service over `directory` and `store`.
    pub fn new(directory: Directory, store: Arc<dyn Store>) -> Self {
        Self { directory, store }
    }
}

/// The operator behind a request, or PERMISSION_DENIED.
fn operator<T>(request: &Request<T>) -> Result<&Caller, Status> {
    Caller::operator_of(request, "Admin")
}

fn reply(p: crate::directory::Participant) -> Response<pb::Participant> {
    Response::new(participant_to_pb(&p, true))
}

#[tonic::async_trait]
impl AdminApi for AdminService {
    async fn add_participant(
        &self,
        request: Request<pb::AddParticipantRequest>,
    ) -> Result<Response<pb::Participant>, Status> {
        let actor = operator(&request)?.oin().to_owned();
        let r = request.into_inner();
        let p = participant_from_pb(r.oin, r.name, r.kind, r.codes, r.pinned_cert_sha256)?;
        let added = self
            .directory
            .add(&actor, p)
            .await
            .map_err(directory_status)?;
        tracing::info!(actor = %actor, oin = %added.oin, kind = %added.kind, "participant added");
        Ok(reply(added))
    }

    async fn update_participant(
        &self,
        request: Request<pb::UpdateParticipantRequest>,
    ) -> Result<Response<pb::Participant>, Status> {
        let actor = operator(&request)?.oin().to_owned();
        let r = request.into_inner();
        let p = participant_from_pb(r.oin, r.name, r.kind, r.codes, r.pinned_cert_sha256)?;
        let updated = self
            .directory
            .update(&actor, p)
            .await
            .map_err(directory_status)?;
        tracing::info!(actor = %actor, oin = %updated.oin, "participant updated");
        Ok(reply(updated))
    }

    async fn suspend_participant(
        &self,
        request: Request<pb::SuspendParticipantRequest>,
    ) -> Result<Response<pb::Participant>, Status> {
        let actor = operator(&request)?.oin().to_owned();
        let r = request.into_inner();
        if r.oin == actor {
            return Err(Status::failed_precondition(
                "oin: an operator cannot suspend itself; ask another operator",
            ));
        }
        let suspended = self
            .directory
            .suspend(&actor, &r.oin, &r.reason)
            .await
            .map_err(directory_status)?;
        tracing::info!(actor = %actor, oin = %suspended.oin, "participant suspended");
        Ok(reply(suspended))
    }

    async fn reinstate_participant(
        &self,
        request: Request<pb::ReinstateParticipantRequest>,
    ) -> Result<Response<pb::Participant>, Status> {
        let actor = operator(&request)?.oin().to_owned();
        let oin = request.into_inner().oin;
        let reinstated = self
            .directory
            .reinstate(&actor, &oin)
            .await
            .map_err(directory_status)?;
        tracing::info!(actor = %actor, oin = %reinstated.oin, "participant reinstated");
        Ok(reply(reinstated))
    }

    async fn list_participants(
        &self,
        request: Request<pb::ListParticipantsRequest>,
    ) -> Result<Response<pb::ListParticipantsResponse>, Status> {
        operator(&request)?;
        let all = self.directory.all().await.map_err(directory_status)?;
        Ok(Response::new(pb::ListParticipantsResponse {
            participants: all.iter().map(|p| participant_to_pb(p, true)).collect(),
        }))
    }

    async fn queue_stats(
        &self,
        request: Request<pb::QueueStatsRequest>,
    ) -> Result<Response<pb::QueueStatsResponse>, Status> {
        operator(&request)?;
        let figures = self.store.inbox_figures().await.map_err(internal)?;
        let now = crate::exchange::now_ms();
        Ok(Response::new(pb::QueueStatsResponse {
            inboxes: figures
                .into_iter()
                .map(|f| pb::InboxStats {
                    recipient_oin: f.recipient,
                    ready: f.ready,
                    leased: f.leased,
                    oldest_age_seconds: f
                        .oldest_ready_ms
                        .map_or(0, |t| ((now - t).max(0) / 1000) as u64),
                })
                .collect(),
            store_bytes_on_disk: self.store.size_on_disk().map_err(internal)?,
        }))
    }
}
