//! A typed async client for the Schakel gateway.
//!
//! A participant system connects with its identity folder (its client
//! certificate, key and the CA that signed the gateway's certificate) and
//! calls the gateway through typed methods. The `schakel` command line is
//! built on this library, and so are the end-to-end tests.
#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use schakel_proto::v1 as pb;
use schakel_proto::v1::admin_client::AdminClient;
use schakel_proto::v1::directory_client::DirectoryClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use schakel_proto::v1 as proto;

/// The gateway address used when none is given: the embedded default of
/// `schakel-gateway`.
pub const DEFAULT_GATEWAY: &str = "https://127.0.0.1:7443";

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An identity file could not be read.
    #[error("cannot read {path}: {source}")]
    Identity {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The gateway address is not a valid URL.
    #[error("invalid gateway address {0:?}: use https://HOST:PORT")]
    Address(String),
    /// The connection could not be set up (TLS handshake, refused, ...).
    #[error("cannot connect to the gateway: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// The gateway answered with an error status.
    #[error("{:?}: {}", .0.code(), .0.message())]
    Status(tonic::Status),
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        ClientError::Status(status)
    }
}

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

/// A connection to the gateway. Cheap to clone: clones share the connection.
#[derive(Clone, Debug)]
pub struct Client {
    channel: Channel,
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
        Ok(Self { channel })
    }

    /// The underlying channel, for raw clients of other services (health,
    /// reflection).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
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
