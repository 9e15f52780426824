//! `schakel.v1.Admin`, for operators only: manage participants, see queues.

use std::sync::Arc;

use schakel_proto::v1 as pb;
use schakel_proto::v1::admin_server::Admin as AdminApi;
use tonic::{Request, Response, Status};

use super::caller;
use super::convert::{oin, participant};
use super::status::of;
use crate::model::{Oin, Participant, wire};
use crate::service::directory::Directory;
use crate::service::exchange::Exchange;
use crate::service::refusals::Refusals;

/// The Admin service.
pub struct AdminService {
    directory: Directory,
    exchange: Arc<Exchange>,
    refusals: Refusals,
}

impl AdminService {
    /// A service over `directory` and the queues of `exchange`, for
    /// operators only.
    pub fn new(directory: Directory, exchange: Arc<Exchange>, refusals: Refusals) -> Self {
        Self {
            directory,
            exchange,
            refusals,
        }
    }

    /// The operator behind a request, or PERMISSION_DENIED (recorded).
    async fn operator<T: prost::Message>(&self, request: &Request<T>) -> Result<Oin, Status> {
        let caller = caller(request)?;
        self.refusals
            .require_operator(&caller, "Admin")
            .await
            .map_err(of)?;
        Ok(caller.participant.oin)
    }
}

fn reply(p: Participant) -> Response<pb::Participant> {
    Response::new(wire::participant(&p, true))
}

#[tonic::async_trait]
impl AdminApi for AdminService {
    async fn add_participant(
        &self,
        request: Request<pb::AddParticipantRequest>,
    ) -> Result<Response<pb::Participant>, Status> {
        let actor = self.operator(&request).await?;
        let r = request.into_inner();
        let p = participant(
            &r.oin,
            r.name,
            r.kind,
            r.codes,
            r.pinned_cert_sha256,
            r.sector,
        )?;
        let added = self.directory.add(&actor, p).await.map_err(of)?;
        tracing::info!(actor = %actor, oin = %added.oin, kind = %added.kind, "participant added");
        Ok(reply(added))
    }

    async fn update_participant(
        &self,
        request: Request<pb::UpdateParticipantRequest>,
    ) -> Result<Response<pb::Participant>, Status> {
        let actor = self.operator(&request).await?;
        let r = request.into_inner();
        let p = participant(
            &r.oin,
            r.name,
            r.kind,
            r.codes,
            r.pinned_cert_sha256,
            r.sector,
        )?;
        let updated = self.directory.update(&actor, p).await.map_err(of)?;
        tracing::info!(actor = %actor, oin = %updated.oin, "participant updated");
        Ok(reply(updated))
    }

    async fn suspend_participant(
        &self,
        request: Request<pb::SuspendParticipantRequest>,
    ) -> Result<Response<pb::Participant>, Status> {
        let actor = self.operator(&request).await?;
        let r = request.into_inner();
        let target = oin("oin", &r.oin)?;
        let suspended = self
            .directory
            .suspend(&actor, &target, &r.reason)
            .await
            .map_err(of)?;
        tracing::info!(actor = %actor, oin = %suspended.oin, "participant suspended");
        Ok(reply(suspended))
    }

    async fn reinstate_participant(
        &self,
        request: Request<pb::ReinstateParticipantRequest>,
    ) -> Result<Response<pb::Participant>, Status> {
        let actor = self.operator(&request).await?;
        let target = oin("oin", &request.into_inner().oin)?;
        let reinstated = self
            .directory
            .reinstate(&actor, &target)
            .await
            .map_err(of)?;
        tracing::info!(actor = %actor, oin = %reinstated.oin, "participant reinstated");
        Ok(reply(reinstated))
    }

    async fn list_participants(
        &self,
        request: Request<pb::ListParticipantsRequest>,
    ) -> Result<Response<pb::ListParticipantsResponse>, Status> {
        self.operator(&request).await?;
        let all = self.directory.all().await.map_err(of)?;
        Ok(Response::new(pb::ListParticipantsResponse {
            participants: all.iter().map(|p| wire::participant(p, true)).collect(),
        }))
    }

    async fn queue_stats(
        &self,
        request: Request<pb::QueueStatsRequest>,
    ) -> Result<Response<pb::QueueStatsResponse>, Status> {
        self.operator(&request).await?;
        let figures = self.exchange.queue_figures().await.map_err(of)?;
        let now = self.exchange.clock().now_ms();
        Ok(Response::new(pb::QueueStatsResponse {
            inboxes: figures
                .inboxes
                .into_iter()
                .map(|f| pb::InboxStats {
                    recipient_oin: f.recipient.to_string(),
                    ready: f.ready,
                    leased: f.leased,
                    oldest_age_seconds: f
                        .oldest_ready_ms
                        .map_or(0, |t| ((now - t).max(0) / 1000) as u64),
                    held_bytes: f.held_bytes,
                })
                .collect(),
            store_bytes_on_disk: figures.store_bytes,
            senders: figures
                .senders
                .into_iter()
                .map(|(sender, held_bytes)| pb::SenderStats {
                    sender_oin: sender.to_string(),
                    held_bytes,
                })
                .collect(),
            headroom_bytes: figures.headroom_bytes,
        }))
    }
}
