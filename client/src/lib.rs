//! A typed async client for the Schakel gateway.
//!
//! A participant system connects with its identity folder (its client
//! certificate, key and the CA that signed the gateway's certificate) and
//! calls the gateway through typed methods. The `schakel` command line is
//! built on this library, and so are the end-to-end tests.
#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use schakel_proto::v1 as pb;
use schakel_proto::v1::admin_client::AdminClient;
use schakel_proto::v1::audit_client::AuditClient;
use schakel_proto::v1::consent_client::ConsentClient;
use schakel_proto::v1::directory_client::DirectoryClient;
use schakel_proto::v1::exchange_client::ExchangeClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use schakel_proto::keys::{KeyRing, SignatureProblem, key_id};
pub use schakel_proto::v1 as proto;

pub mod access_report;
pub mod audit_file;
mod batch;
mod cases;
mod error;
mod witness;
pub use batch::ITEMS_PER_CALL;
pub use error::{ClientError, code_word};

/// The gateway address used when none is given: the embedded default of
/// `schakel-gateway`.
pub const DEFAULT_GATEWAY: &str = "https://127.0.0.1:7443";

/// A participant's credentials, as PEM text.
#[derive(Clone)]
pub struct Identity {
    /// The client certificate (chain), PEM.
    pub cert_pem: String,
    /// The client's private key, PEM.
    pub key_pem: String,
    /// The CA that signed the gateway's certificate, PEM.
    pub ca_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl Identity {
    /// Reads `cert.pem`, `key.pem` and `ca.pem` from an identity folder, as
    /// the example PKI in `certs-example/` lays them out.
    pub fn from_dir(dir: &Path) -> Result<Self, ClientError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| ClientError::Identity { path, source })
        };
        Ok(Self {
            cert_pem: read("cert.pem")?,
            key_pem: read("key.pem")?,
            ca_pem: read("ca.pem")?,
        })
    }
}

/// Largest message the client sends or accepts, matching the gateway's
/// largest configurable limit.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A connection to the gateway. Cheap to clone: clones share the connection.
#[derive(Clone, Debug)]
pub struct Client {
    channel: Channel,
    /// The gateway's Ed25519 public keys: fetched on first use, and again
    /// when a signature names a key they lack (the gateway rotated its key
    /// while this client was connected); unless pinned.
    gateway_keys: Arc<tokio::sync::RwLock<Option<KeyRing>>>,
    /// Whether the keys were pinned, and are never fetched.
    pinned: bool,
}

/// Checks a receipt's Ed25519 signature under the key it names, among `keys`.
pub fn verify_receipt(keys: &KeyRing, receipt: &pb::Receipt) -> Result<(), ClientError> {
    schakel_proto::receipt::check(keys, receipt).map_err(|problem| ClientError::BadReceipt {
        message_id: receipt.message_id.clone(),
        problem,
    })
}

pub use schakel_proto::payload::{self, attachment};

fn proto_duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn endpoint(gateway: &str) -> Result<Endpoint, ClientError> {
    if !gateway.starts_with("https://") {
        return Err(ClientError::Address(gateway.to_owned()));
    }
    Ok(Endpoint::from_shared(gateway.to_owned())
        .map_err(|_| ClientError::Address(gateway.to_owned()))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true))
}

impl Client {
    /// Connects to `gateway` (https://HOST:PORT) with mutual TLS as `identity`.
    pub async fn connect(gateway: &str, identity: &Identity) -> Result<Self, ClientError> {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&identity.ca_pem))
            .identity(tonic::transport::Identity::from_pem(
                &identity.cert_pem,
                &identity.key_pem,
            ));
        Self::connect_with_tls(gateway, tls).await
    }

    /// Connects with a TLS configuration of the caller's making; lets tests
    /// try a connection without a client certificate.
    pub async fn connect_with_tls(
        gateway: &str,
        tls: ClientTlsConfig,
    ) -> Result<Self, ClientError> {
        let channel = endpoint(gateway)?.tls_config(tls)?.connect().await?;
        Ok(Self {
            channel,
            gateway_keys: Arc::default(),
            pinned: false,
        })
    }

    /// Pins the gateway's public keys (as published by `Directory.GatewayKey`
    /// and distributed out of band), instead of fetching them from the
    /// gateway on first use.
    pub fn with_gateway_keys(self, keys: KeyRing) -> Self {
        Self {
            gateway_keys: Arc::new(tokio::sync::RwLock::new(Some(keys))),
            pinned: true,
            ..self
        }
    }

    /// The gateway's public keys: pinned, or fetched (again if `refresh`).
    pub(crate) async fn keys(&self, refresh: bool) -> Result<KeyRing, ClientError> {
        if (!refresh || self.pinned)
            && let Some(keys) = self.gateway_keys.read().await.as_ref()
        {
            return Ok(keys.clone());
        }
        let keys = KeyRing::from_response(&self.gateway_key().await?);
        *self.gateway_keys.write().await = Some(keys.clone());
        Ok(keys)
    }

    /// Runs `check` with the gateway's keys, and once more with keys fetched
    /// anew if it names a key they lack.
    async fn signed_by_gateway(
        &self,
        check: impl Fn(&KeyRing) -> Result<(), SignatureProblem>,
    ) -> Result<Result<(), SignatureProblem>, ClientError> {
        match check(&self.keys(false).await?) {
            Err(SignatureProblem::UnknownKey(_)) if !self.pinned => {
                Ok(check(&self.keys(true).await?))
            }
            other => Ok(other),
        }
    }

    /// Verifies a receipt with the gateway's keys.
    pub async fn verify(&self, receipt: &pb::Receipt) -> Result<(), ClientError> {
        self.signed_by_gateway(|keys| schakel_proto::receipt::check(keys, receipt))
            .await?
            .map_err(|problem| ClientError::BadReceipt {
                message_id: receipt.message_id.clone(),
                problem,
            })
    }

    async fn verify_opt(&self, receipt: Option<&pb::Receipt>) -> Result<(), ClientError> {
        match receipt {
            Some(r) => self.verify(r).await,
            None => Ok(()),
        }
    }

    /// The raw Exchange client, with message size limits raised.
    pub fn exchange(&self) -> ExchangeClient<Channel> {
        ExchangeClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Sends a message; verifies the ACCEPTED receipt.
    pub async fn send(&self, request: pb::SendRequest) -> Result<pb::SendResponse, ClientError> {
        let response = self.exchange().send(request).await?.into_inner();
        self.verify_opt(response.receipt.as_ref()).await?;
        Ok(response)
    }

    /// Leases up to `max` messages, waiting up to `wait` when the inbox is
    /// empty; `lease` zero takes the gateway's default.
    pub async fn pull(
        &self,
        max: u32,
        wait: Duration,
        lease: Duration,
    ) -> Result<Vec<pb::Delivery>, ClientError> {
        let request = pb::PullRequest {
            max_messages: max,
            wait: Some(proto_duration(wait)),
            lease: Some(proto_duration(lease)),
        };
        Ok(self.exchange().pull(request).await?.into_inner().deliveries)
    }

    /// A stream of the inbox: deliveries (leased) and withdrawals.
    pub async fn subscribe(
        &self,
        max_in_flight: u32,
        lease: Duration,
    ) -> Result<tonic::Streaming<pb::InboxEvent>, ClientError> {
        let request = pb::SubscribeRequest {
            lease: Some(proto_duration(lease)),
            max_in_flight,
        };
        Ok(self.exchange().subscribe(request).await?.into_inner())
    }

    /// Acknowledges a message; verifies the receipt. The outcome says
    /// whether it was delivered or withdrawn meanwhile.
    pub async fn ack(&self, message_id: &str) -> Result<pb::AckResponse, ClientError> {
        let request = pb::AckRequest {
            message_id: message_id.to_owned(),
        };
        let response = self.exchange().ack(request).await?.into_inner();
        self.verify_opt(response.receipt.as_ref()).await?;
        Ok(response)
    }

    /// Rejects a message; verifies the receipt.
    pub async fn reject(
        &self,
        message_id: &str,
        reason: pb::RejectReason,
        detail: &str,
    ) -> Result<pb::RejectResponse, ClientError> {
        let request = pb::RejectRequest {
            message_id: message_id.to_owned(),
            reason: reason as i32,
            detail: detail.to_owned(),
        };
        let response = self.exchange().reject(request).await?.into_inner();
        self.verify_opt(response.receipt.as_ref()).await?;
        Ok(response)
    }

    /// One sent message's status; verifies every receipt.
    pub async fn status(&self, message_id: &str) -> Result<pb::MessageStatus, ClientError> {
        let request = pb::GetStatusRequest {
            message_id: message_id.to_owned(),
        };
        let status = self.exchange().get_status(request).await?.into_inner();
        for r in &status.receipts {
            self.verify(r).await?;
        }
        Ok(status)
    }

    /// The messages of a case that the caller sent or received.
    pub async fn list_case(&self, case_id: &str) -> Result<pb::ListCaseResponse, ClientError> {
        let request = pb::ListCaseRequest {
            case_id: case_id.to_owned(),
        };
        Ok(self.exchange().list_case(request).await?.into_inner())
    }

    /// The caller's receipts after `after_cursor`, each verified; with
    /// `follow` the stream stays open for new ones.
    pub async fn receipts(
        &self,
        after_cursor: u64,
        follow: bool,
    ) -> Result<
        futures::stream::BoxStream<'static, Result<pb::ReceiptEvent, ClientError>>,
        ClientError,
    > {
        let request = pb::ReceiptsRequest {
            after_cursor,
            follow,
        };
        let stream = self.exchange().receipts(request).await?.into_inner();
        let client = self.clone();
        Ok(futures::StreamExt::boxed(futures::StreamExt::then(
            stream,
            move |item| {
                let client = client.clone();
                async move {
                    let event = item?;
                    client.verify_opt(event.receipt.as_ref()).await?;
                    Ok(event)
                }
            },
        )))
    }

    /// The underlying channel, for raw clients of other services (health,
    /// reflection).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The raw Consent client.
    pub fn consent(&self) -> ConsentClient<Channel> {
        ConsentClient::new(self.channel.clone())
    }

    /// Registers a consent; answers the record with its id.
    pub async fn grant_consent(
        &self,
        request: pb::GrantConsentRequest,
    ) -> Result<pb::ConsentRecord, ClientError> {
        Ok(self.consent().grant(request).await?.into_inner())
    }

    /// Revokes a consent this organisation registered; every undelivered
    /// message under it is withdrawn.
    pub async fn revoke_consent(
        &self,
        consent_id: &str,
        reason: &str,
    ) -> Result<pb::ConsentRecord, ClientError> {
        let request = pb::RevokeConsentRequest {
            consent_id: consent_id.to_owned(),
            reason: reason.to_owned(),
        };
        Ok(self.consent().revoke(request).await?.into_inner())
    }

    /// This organisation's consents, optionally for one child (BSN) and
    /// status: every page of them.
    pub async fn list_consents(
        &self,
        bsn: &str,
        status: pb::ConsentStatus,
    ) -> Result<Vec<pb::ConsentRecord>, ClientError> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListConsentsRequest {
                bsn: bsn.to_owned(),
                status: status as i32,
                page_size: 0,
                page_token,
            };
            let page = self.consent().list(request).await?.into_inner();
            all.extend(page.consents);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token;
        }
    }

    /// The raw Audit client (operators only).
    pub fn audit(&self) -> AuditClient<Channel> {
        AuditClient::new(self.channel.clone())
    }

    /// Audit entries matching a query, streamed in sequence order.
    pub async fn audit_query(
        &self,
        request: pb::AuditQueryRequest,
    ) -> Result<tonic::Streaming<pb::AuditEntry>, ClientError> {
        Ok(self.audit().query(request).await?.into_inner())
    }

    /// Has the gateway verify its chain over a range (0, 0: all).
    pub async fn audit_verify(
        &self,
        from: u64,
        to: u64,
    ) -> Result<pb::AuditVerifyResponse, ClientError> {
        let request = pb::AuditVerifyRequest {
            from_sequence: from,
            to_sequence: to,
        };
        Ok(self.audit().verify(request).await?.into_inner())
    }

    /// The access report about the child with `bsn`, made for `reason`;
    /// its signature is verified with the gateway's key.
    pub async fn audit_report(
        &self,
        bsn: &str,
        reason: &str,
    ) -> Result<pb::AccessReport, ClientError> {
        let request = pb::AccessReportRequest {
            child_bsn: bsn.to_owned(),
            reason: reason.to_owned(),
        };
        let report = self.audit().report(request).await?.into_inner();
        self.signed_by_gateway(|keys| schakel_proto::report::check(keys, &report))
            .await?
            .map_err(ClientError::BadReport)?;
        Ok(report)
    }

    /// The chain over a range (0, 0: all) as export records: the range first,
    /// then entries and checkpoints in order.
    pub async fn audit_export(
        &self,
        from: u64,
        to: u64,
    ) -> Result<tonic::Streaming<pb::AuditExportRecord>, ClientError> {
        let request = pb::AuditExportRequest {
            from_sequence: from,
            to_sequence: to,
        };
        Ok(self.audit().export(request).await?.into_inner())
    }

    /// The raw Directory client, for calls without a typed wrapper.
    pub fn directory(&self) -> DirectoryClient<Channel> {
        DirectoryClient::new(self.channel.clone())
    }

    /// The raw Admin client (operators only).
    pub fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel.clone())
    }

    /// Who the gateway takes this client to be.
    pub async fn whoami(&self) -> Result<pb::WhoAmIResponse, ClientError> {
        Ok(self
            .directory()
            .who_am_i(pb::WhoAmIRequest {})
            .await?
            .into_inner())
    }

    /// Participants matching one criterion.
    pub async fn lookup(
        &self,
        query: pb::lookup_request::Query,
    ) -> Result<Vec<pb::Participant>, ClientError> {
        let request = pb::LookupRequest { query: Some(query) };
        Ok(self
            .directory()
            .lookup(request)
            .await?
            .into_inner()
            .participants)
    }

    /// The gateway's public signing key.
    pub async fn gateway_key(&self) -> Result<pb::GatewayKeyResponse, ClientError> {
        Ok(self
            .directory()
            .gateway_key(pb::GatewayKeyRequest {})
            .await?
            .into_inner())
    }

    /// Adds a participant (operators only).
    pub async fn add_participant(
        &self,
        request: pb::AddParticipantRequest,
    ) -> Result<pb::Participant, ClientError> {
        Ok(self.admin().add_participant(request).await?.into_inner())
    }

    /// Changes a participant (operators only).
    pub async fn update_participant(
        &self,
        request: pb::UpdateParticipantRequest,
    ) -> Result<pb::Participant, ClientError> {
        Ok(self.admin().update_participant(request).await?.into_inner())
    }

    /// Suspends a participant (operators only).
    pub async fn suspend_participant(
        &self,
        oin: &str,
        reason: &str,
    ) -> Result<pb::Participant, ClientError> {
        let request = pb::SuspendParticipantRequest {
            oin: oin.to_owned(),
            reason: reason.to_owned(),
        };
        Ok(self
            .admin()
            .suspend_participant(request)
            .await?
            .into_inner())
    }

    /// Lifts a suspension (operators only).
    pub async fn reinstate_participant(&self, oin: &str) -> Result<pb::Participant, ClientError> {
        let request = pb::ReinstateParticipantRequest {
            oin: oin.to_owned(),
        };
        Ok(self
            .admin()
            .reinstate_participant(request)
            .await?
            .into_inner())
    }

    /// Every participant (operators only).
    pub async fn list_participants(&self) -> Result<Vec<pb::Participant>, ClientError> {
        Ok(self
            .admin()
            .list_participants(pb::ListParticipantsRequest {})
            .await?
            .into_inner()
            .participants)
    }

    /// Queue figures (operators only).
    pub async fn queue_stats(&self) -> Result<pb::QueueStatsResponse, ClientError> {
        Ok(self
            .admin()
            .queue_stats(pb::QueueStatsRequest {})
            .await?
            .into_inner())
    }
}

impl ClientError {
    /// The gRPC status, if the gateway answered with one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            ClientError::Status(s) => Some(s),
            _ => None,
        }
    }
}
