//! `schakel.v1.Consent`: grant, revoke, list. Thin: it translates and calls
//! [`crate::consent::Consents`].

use std::sync::Arc;

use schakel_proto::v1 as pb;
use schakel_proto::v1::consent_server::Consent as ConsentApi;
use tonic::{Request, Response, Status};

use super::convert::{kind_from_pb, org_kind_from_pb, org_kind_to_pb, timestamp_ms};
use super::exchange::status;
use crate::consent::{ConsentRecord, ConsentState, Consents, Giver, Grant};
use crate::identity::Caller;

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

fn ms(field: &str, t: Option<prost_types::Timestamp>) -> Result<Option<i64>, Status> {
    match t {
        None => Ok(None),
        Some(t) if t.nanos < 0 => Err(Status::invalid_argument(format!(
            "{field}: invalid timestamp"
        ))),
        Some(t) => Ok(Some(
            t.seconds.saturating_mul(1000) + i64::from(t.nanos) / 1_000_000,
        )),
    }
}

fn state_to_pb(s: ConsentState) -> pb::ConsentStatus {
    match s {
        ConsentState::Pending => pb::ConsentStatus::Pending,
        ConsentState::Active => pb::ConsentStatus::Active,
        ConsentState::Revoked => pb::ConsentStatus::Revoked,
        ConsentState::Lapsed => pb::ConsentStatus::Lapsed,
    }
}

fn record_to_pb(c: ConsentRecord) -> pb::ConsentRecord {
    let now = crate::exchange::now_ms();
    pb::ConsentRecord {
        status: state_to_pb(c.state(now)) as i32,
        consent_id: c.id,
        registered_by_oin: c.registered_by,
        child_ref: c.child_ref,
        given_by: match c.given_by {
            Giver::Parents => pb::ConsentGiver::Parents,
            Giver::ParentsAndChild => pb::ConsentGiver::ParentsAndChild,
            Giver::YoungPerson => pb::ConsentGiver::YoungPerson,
        } as i32,
        given_on: c.given_on,
        recipient_oins: c.recipient_oins,
        recipient_kinds: c
            .recipient_kinds
            .into_iter()
            .map(|k| org_kind_to_pb(k) as i32)
            .collect(),
        message_kinds: c
            .message_kinds
            .into_iter()
            .map(|k| k.to_pb() as i32)
            .collect(),
        purpose: c.purpose,
        valid_from: Some(timestamp_ms(c.valid_from_ms)),
        valid_until: Some(timestamp_ms(c.valid_until_ms)),
        created_at: Some(timestamp_ms(c.created_at_ms)),
        revoked_at: c.revoked_at_ms.map(timestamp_ms),
        revoke_reason: c.revoke_reason,
    }
}

#[tonic::async_trait]
impl ConsentApi for ConsentService {
    async fn grant(
        &self,
        request: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::ConsentRecord>, Status> {
        let by = Caller::of(&request)?.participant.clone();
        let r = request.into_inner();
        let given_by = match pb::ConsentGiver::try_from(r.given_by).unwrap_or_default() {
            pb::ConsentGiver::Unspecified => None,
            pb::ConsentGiver::Parents => Some(Giver::Parents),
            pb::ConsentGiver::ParentsAndChild => Some(Giver::ParentsAndChild),
            pb::ConsentGiver::YoungPerson => Some(Giver::YoungPerson),
        };
        let grant = Grant {
            bsn: r.bsn,
            birth_date: r.birth_date,
            given_by,
            given_on: r.given_on,
            recipient_oins: r.recipient_oins,
            recipient_kinds: r
                .recipient_kinds
                .into_iter()
                .map(|k| org_kind_from_pb("recipient_kinds", k))
                .collect::<Result<_, _>>()?,
            message_kinds: r
                .message_kinds
                .into_iter()
                .map(|k| kind_from_pb("message_kinds", k))
                .collect::<Result<_, _>>()?,
            purpose: r.purpose,
            valid_from_ms: ms("valid_from", r.valid_from)?,
            valid_until_ms: ms("valid_until", r.valid_until)?,
        };
        let record = self.consents.grant(&by, grant).await.map_err(status)?;
        Ok(Response::new(record_to_pb(record)))
    }

    async fn revoke(
        &self,
        request: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::ConsentRecord>, Status> {
        let by = Caller::of(&request)?.oin().to_owned();
        let r = request.into_inner();
        let (record, withdrawn) = self
            .consents
            .revoke(&by, &r.consent_id, &r.reason)
            .await
            .map_err(status)?;
        tracing::info!(consent = %record.id, withdrawn, "consent revoked");
        Ok(Response::new(record_to_pb(record)))
    }

    async fn list(
        &self,
        request: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ListConsentsResponse>, Status> {
        let by = Caller::of(&request)?.oin().to_owned();
        let r = request.into_inner();
        let state = match pb::ConsentStatus::try_from(r.status).unwrap_or_default() {
            pb::ConsentStatus::Unspecified => None,
            pb::ConsentStatus::Pending => Some(ConsentState::Pending),
            pb::ConsentStatus::Active => Some(ConsentState::Active),
            pb::ConsentStatus::Revoked => Some(ConsentState::Revoked),
            pb::ConsentStatus::Lapsed => Some(ConsentState::Lapsed),
        };
        let bsn = Some(r.bsn.as_str()).filter(|b| !b.is_empty());
        let list = self.consents.list(&by, bsn, state).await.map_err(status)?;
        Ok(Response::new(pb::ListConsentsResponse {
            consents: list.into_iter().map(record_to_pb).collect(),
        }))
    }
}
