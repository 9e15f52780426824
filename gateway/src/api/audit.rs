//! `schakel.v1.Audit`, for operators only. Access control is in force now;
//! the audit capability implements the calls.

use schakel_proto::v1 as pb;
use schakel_proto::v1::audit_server::Audit as AuditApi;
use tonic::{Request, Response, Status};

use super::{BoxStream, not_yet};
use crate::identity::Caller;

/// The Audit service.
#[derive(Default)]
pub struct AuditService;

fn operator<T>(request: &Request<T>) -> Result<&Caller, Status> {
    Caller::operator_of(request, "Audit")
}

#[tonic::async_trait]
impl AuditApi for AuditService {
    type QueryStream = BoxStream<pb::AuditEntry>;
    type ExportStream = BoxStream<pb::AuditExportRecord>;

    async fn query(
        &self,
        request: Request<pb::AuditQueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        operator(&request)?;
        Err(not_yet("Audit.Query"))
    }

    async fn verify(
        &self,
        request: Request<pb::AuditVerifyRequest>,
    ) -> Result<Response<pb::AuditVerifyResponse>, Status> {
        operator(&request)?;
        Err(not_yet("Audit.Verify"))
    }

    async fn export(
        &self,
        request: Request<pb::AuditExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        operator(&request)?;
        Err(not_yet("Audit.Export"))
    }
}
