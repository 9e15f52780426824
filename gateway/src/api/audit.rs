//! `schakel.v1.Audit`, for operators only: Query, Verify, Export. Thin: it
//! translates and calls [`crate::audit::AuditLog`].

use std::sync::Arc;

use schakel_proto::v1 as pb;
use schakel_proto::v1::audit_server::Audit as AuditApi;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{BoxStream, internal};
use crate::audit::{Action, AuditLog, Filter, Record};
use crate::identity::Caller;

/// The Audit service.
pub struct AuditService {
    log: Arc<AuditLog>,
}

impl AuditService {
    /// A service over `log`.
    pub fn new(log: Arc<AuditLog>) -> Self {
        Self { log }
    }
}

fn operator<T>(request: &Request<T>) -> Result<&Caller, Status> {
    Caller::operator_of(request, "Audit")
}

fn filter(r: &pb::AuditQueryRequest, log: &AuditLog) -> Result<Filter, Status> {
    let nonempty = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
    let child_ref = match r.child_bsn.as_str() {
        "" => None,
        bsn if crate::bsn::is_valid(bsn) => Some(log.child_ref(bsn)),
        _ => {
            return Err(Status::invalid_argument(
                "child_bsn: must be a BSN of 9 digits that passes the elfproef",
            ));
        }
    };
    let actions = r
        .actions
        .iter()
        .map(|a| {
            Action::from_pb(*a).ok_or_else(|| {
                Status::invalid_argument(format!("actions: {a} is not an audit action"))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Filter {
        from_ms: r.from.map(|t| schakel_proto::audit::time_ms(Some(t))),
        to_ms: r.to.map(|t| schakel_proto::audit::time_ms(Some(t))),
        org: nonempty(&r.org_oin),
        message_id: nonempty(&r.message_id),
        child_ref,
        actions,
    })
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
        let r = request.into_inner();
        let filter = filter(&r, &self.log)?;
        let limit = if r.limit == 0 {
            u64::MAX
        } else {
            u64::from(r.limit)
        };
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let log = self.log.clone();
        tokio::spawn(async move {
            let mut after = r.after_sequence;
            let mut sent = 0u64;
            loop {
                let (page, next) = match log.query_page(&filter, after).await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(internal(e))).await;
                        return;
                    }
                };
                for e in page {
                    if sent == limit || tx.send(Ok(e.to_pb())).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                match next {
                    Some(n) => after = n,
                    None => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn verify(
        &self,
        request: Request<pb::AuditVerifyRequest>,
    ) -> Result<Response<pb::AuditVerifyResponse>, Status> {
        operator(&request)?;
        let r = request.into_inner();
        let verdict = self
            .log
            .verify(r.from_sequence, r.to_sequence)
            .await
            .map_err(internal)?;
        Ok(Response::new(pb::AuditVerifyResponse {
            ok: verdict.ok(),
            entries_checked: verdict.entries_checked,
            checkpoints_checked: verdict.checkpoints_checked,
            first_broken_sequence: verdict.first_broken.unwrap_or(0),
            problem: verdict.problem,
            entries_after_last_checkpoint: verdict.unsigned_tail,
        }))
    }

    async fn export(
        &self,
        request: Request<pb::AuditExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        operator(&request)?;
        let r = request.into_inner();
        let (from, to) = self
            .log
            .range(r.from_sequence, r.to_sequence)
            .await
            .map_err(internal)?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let log = self.log.clone();
        tokio::spawn(async move {
            let range = pb::AuditExportRecord {
                record: Some(pb::audit_export_record::Record::Range(
                    pb::AuditExportRange {
                        from_sequence: from,
                        to_sequence: to,
                    },
                )),
            };
            if tx.send(Ok(range)).await.is_err() {
                return;
            }
            let mut after = from.saturating_sub(1);
            loop {
                let (records, last) = match log.records_page(after, to).await {
                    Ok(Some(page)) => page,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(internal(e))).await;
                        return;
                    }
                };
                for record in records {
                    let record = match record {
                        Record::Entry(e) => pb::audit_export_record::Record::Entry(e.to_pb()),
                        Record::Checkpoint(c) => {
                            pb::audit_export_record::Record::Checkpoint(c.to_pb())
                        }
                    };
                    let out = pb::AuditExportRecord {
                        record: Some(record),
                    };
                    if tx.send(Ok(out)).await.is_err() {
                        return;
                    }
                }
                after = last;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
