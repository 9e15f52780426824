//! `schakel.v1.Audit`: Query, Verify and Export for operators; Report for
//! operators (the whole trail) and for every organisation (its own part, as
//! the controller that answers a family's request). Every read is recorded
//! in the log before it is answered.

use std::sync::Arc;

use schakel_proto::v1 as pb;
use schakel_proto::v1::audit_server::Audit as AuditApi;
use tokio_stream::StreamExt as _;
use tonic::{Request, Response, Status};

use super::convert::{export_record, filter};
use super::status::of;
use super::{BoxStream, access, caller, guarded};
use crate::model::{Oin, wire};
use crate::service::access_report::Scope;
use crate::service::audit_log::{AuditLog, Read};
use crate::service::refusals::Refusals;

/// The Audit service.
pub struct AuditService {
    log: Arc<AuditLog>,
    refusals: Refusals,
}

impl AuditService {
    /// A service over `log`.
    pub fn new(log: Arc<AuditLog>, refusals: Refusals) -> Self {
        Self { log, refusals }
    }

    /// The operator who calls; refuses (and records) anyone else.
    async fn operator<T: prost::Message>(&self, request: &Request<T>) -> Result<Oin, Status> {
        let caller = caller(request)?;
        self.refusals
            .require_operator(&caller, "Audit")
            .await
            .map_err(of)?;
        Ok(caller.participant.oin)
    }

    /// Records `read` by `reader`.
    async fn record(&self, reader: &Oin, read: Read<'_>) -> Result<(), Status> {
        self.log.record_read(reader, read).await.map_err(of)
    }
}

#[tonic::async_trait]
impl AuditApi for AuditService {
    type QueryStream = BoxStream<pb::AuditEntry>;
    type ExportStream = BoxStream<pb::AuditExportRecord>;

    async fn query(
        &self,
        request: Request<pb::AuditQueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let reader = self.operator(&request).await?;
        let watch = access(&request)?;
        let r = request.into_inner();
        let filter = filter(&r, &self.log)?;
        let limit = if r.limit == 0 {
            u64::MAX
        } else {
            u64::from(r.limit)
        };
        self.record(&reader, Read::Query(&filter, r.after_sequence, limit))
            .await?;
        let entries = self.log.query(filter, r.after_sequence, limit);
        Ok(Response::new(guarded(
            entries,
            |e| wire::audit_entry(&e),
            watch,
        )))
    }

    async fn verify(
        &self,
        request: Request<pb::AuditVerifyRequest>,
    ) -> Result<Response<pb::AuditVerifyResponse>, Status> {
        let reader = self.operator(&request).await?;
        let r = request.into_inner();
        self.record(&reader, Read::Verify(r.from_sequence, r.to_sequence))
            .await?;
        let verdict = self
            .log
            .verify(r.from_sequence, r.to_sequence)
            .await
            .map_err(of)?;
        Ok(Response::new(pb::AuditVerifyResponse {
            ok: verdict.ok(),
            entries_checked: verdict.entries_checked,
            checkpoints_checked: verdict.checkpoints_checked,
            first_broken_sequence: verdict.first_broken.unwrap_or(0),
            problem: verdict.problem,
            entries_after_last_checkpoint: verdict.unsigned_tail,
            tree_size_checked: verdict.tree_size_checked,
        }))
    }

    async fn export(
        &self,
        request: Request<pb::AuditExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let reader = self.operator(&request).await?;
        let watch = access(&request)?;
        let r = request.into_inner();
        self.record(&reader, Read::Export(r.from_sequence, r.to_sequence))
            .await?;
        let (from, to) = self
            .log
            .range(r.from_sequence, r.to_sequence)
            .await
            .map_err(of)?;
        let range = match self.log.signed_range(from, to).await.map_err(of)? {
            Some(signed) => wire::range(&signed),
            None => pb::AuditExportRange {
                from_sequence: from,
                to_sequence: to,
                ..pb::AuditExportRange::default()
            },
        };
        let range = pb::AuditExportRecord {
            record: Some(pb::audit_export_record::Record::Range(range)),
        };
        let records = guarded(self.log.export(from, to), export_record, watch);
        Ok(Response::new(Box::pin(
            tokio_stream::once(Ok(range)).chain(records),
        )))
    }

    async fn report(
        &self,
        request: Request<pb::AccessReportRequest>,
    ) -> Result<Response<pb::AccessReport>, Status> {
        let caller = caller(&request)?;
        let reader = caller.participant.oin.clone();
        let scope = if caller.participant.is_operator() {
            Scope::Whole
        } else {
            Scope::Controller(reader.clone())
        };
        let r = request.into_inner();
        let report = self
            .log
            .report(&reader, &scope, &r.child_bsn, &r.reason)
            .await
            .map_err(of)?;
        Ok(Response::new(pb::AccessReport {
            document: report.document,
            signature: report.signature.as_bytes().to_vec(),
            key_id: report.key_id,
        }))
    }
}
