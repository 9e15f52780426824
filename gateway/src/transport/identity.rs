//! Who is calling: the OIN in the client certificate, looked up in the
//! directory, as a [`Caller`] for every service.
//!
//! The TLS layer has already proved that the certificate chains to the
//! trusted CA, is within its validity and is not revoked. This adds what
//! rustls cannot know: the certificate must carry an OIN (20 digits) in its
//! Subject serialNumber, as PKIoverheid certificates do; that OIN must be an
//! active participant; and where the directory pins certificates for it, this
//! must be one of them. It runs on every call, so a suspension takes effect
//! at the next call on every gateway instance.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use rustls_pki_types::CertificateDer;
use x509_parser::prelude::*;

use super::AccessError;
use super::rate_limit::RateLimiter;
use super::revocation::Revocation;
use crate::crypto::{Digest, sha256};
use crate::model::{Oin, Participant};
use crate::service::Caller;
use crate::service::directory::Directory;
use crate::service::refusals::{Cause, Refusals};

/// What a client certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// The OIN from the Subject serialNumber.
    pub oin: Oin,
    /// SHA-256 of the DER.
    pub sha256: Digest,
    /// notAfter, Unix seconds.
    pub not_after: i64,
}

fn unauthenticated(message: impl Into<String>) -> AccessError {
    AccessError::Unauthenticated(message.into())
}

/// Reads the OIN and fingerprint from a DER certificate. The OIN must stand in
/// the Subject's serialNumber attribute (OID 2.5.4.5), exactly once, as 20
/// digits.
pub fn cert_identity(der: &[u8]) -> Result<CertIdentity, AccessError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| unauthenticated("the client certificate cannot be parsed"))?;
    // A TLS client key signs the handshake: PKIoverheid authentication
    // certificates carry digitalSignature, and one without it is not meant
    // for this.
    let signs = cert
        .key_usage()
        .ok()
        .flatten()
        .is_some_and(|ku| ku.value.digital_signature());
    if !signs {
        return Err(unauthenticated(
            "the client certificate lacks the digitalSignature key usage; ask your CA for an authentication certificate",
        ));
    }
    let mut serials = cert
        .subject()
        .iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER);
    let attr = serials.next().ok_or_else(|| {
        unauthenticated(
            "the client certificate has no OIN: its Subject lacks a serialNumber attribute",
        )
    })?;
    if serials.next().is_some() {
        return Err(unauthenticated(
            "the client certificate's Subject has more than one serialNumber attribute",
        ));
    }
    let oin = attr
        .as_str()
        .map_err(|_| unauthenticated("the client certificate's serialNumber is not a string"))?;
    let oin = Oin::parse(oin).map_err(|e| {
        unauthenticated(format!(
            "the client certificate has no valid OIN: certificate subject serialNumber: {e}"
        ))
    })?;
    Ok(CertIdentity {
        oin,
        sha256: sha256(der),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// What a refusal keeps of a call's path: the path itself if it is shaped
/// like an RPC name (letters, at most two digits in a row, not longer than
/// [`MAX_RPC_LABEL`]), or a fixed text: a path is the caller's to choose,
/// and must carry neither bulk nor a BSN into the audit log.
pub fn rpc_label(path: &str) -> &str {
    let mut digits = 0;
    let shaped = path.len() <= MAX_RPC_LABEL
        && path.starts_with('/')
        && path.chars().all(|c| {
            digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
            (c.is_ascii_alphanumeric() || c == '.' || c == '/' || c == '_') && digits <= 2
        });
    if shaped {
        path
    } else {
        "(a path that is no call of this gateway)"
    }
}

/// The longest path a refusal keeps as it is.
pub const MAX_RPC_LABEL: usize = 96;

/// Turns a connection's peer certificates into a [`Caller`].
pub struct Resolver {
    directory: Directory,
    refusals: Refusals,
    limiter: Arc<RateLimiter>,
    revocation: Arc<Revocation>,
    /// Certificates that passed the revocation lists of one generation, so
    /// that every call is checked against the lists in force without
    /// verifying the chain again on each.
    passed: Mutex<(u64, HashSet<Digest>)>,
}

/// The most certificates [`Resolver`] remembers as passed; past it, it
/// forgets them all and checks each again once.
const MAX_PASSED: usize = 65_536;

impl Resolver {
    /// A resolver over `directory`, recording refusals of known participants
    /// with `refusals`, limiting each participant's rate with `limiter`, and
    /// deciding again on certificates with the revocation lists in force in
    /// `revocation`.
    pub fn new(
        directory: Directory,
        refusals: Refusals,
        limiter: Arc<RateLimiter>,
        revocation: Arc<Revocation>,
    ) -> Self {
        Self {
            directory,
            refusals,
            limiter,
            revocation,
            passed: Mutex::default(),
        }
    }

    /// Whether the certificate `chain` (leaf first, as the connection sent
    /// it; the leaf's digest is `digest`) is still within its
    /// validity and on no revocation list in force now: checked on every
    /// call, so that a connection opened before a revocation or an expiry
    /// makes no further call.
    fn still_valid(
        &self,
        chain: &[CertificateDer<'_>],
        digest: &Digest,
        oin: &Oin,
        not_after: i64,
    ) -> Result<(), AccessError> {
        if unix_now() > not_after {
            return Err(unauthenticated(format!(
                "the client certificate of OIN {oin} expired; reconnect with a valid certificate"
            )));
        }
        let generation = self.revocation.generation();
        {
            let passed = self.passed.lock().unwrap_or_else(PoisonError::into_inner);
            if passed.0 == generation && passed.1.contains(digest) {
                return Ok(());
            }
        }
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or_else(|| unauthenticated("a client certificate is required"))?;
        self.revocation.check(leaf, intermediates).map_err(|e| {
            unauthenticated(format!(
                "the client certificate of OIN {oin} is no longer accepted: {e}"
            ))
        })?;
        let mut passed = self.passed.lock().unwrap_or_else(PoisonError::into_inner);
        if passed.0 != generation || passed.1.len() >= MAX_PASSED {
            *passed = (generation, HashSet::new());
        }
        passed.1.insert(*digest);
        Ok(())
    }

    /// Counts a refusal of `oin` with certificate `cert` (written to the
    /// audit log once per interval) and answers it.
    fn refused(
        &self,
        oin: &Oin,
        cert: &Digest,
        cause: Cause,
        rpc: &str,
        message: String,
    ) -> AccessError {
        self.refusals
            .count(Some(oin), Some(cert), cause, rpc, &message);
        match cause {
            Cause::NotPinned => AccessError::NotPinned(message),
            _ => AccessError::PermissionDenied(message),
        }
    }

    /// The directory entry of `oin`, if it may call now with the
    /// certificate whose SHA-256 is `cert`: it is a participant, active, and
    /// `cert` is one of its pins if it has any.
    async fn admitted(
        &self,
        oin: &Oin,
        cert: &Digest,
        rpc: &str,
    ) -> Result<Participant, AccessError> {
        let participant = self.directory.get(oin).await.map_err(|e| {
            tracing::error!(error = %e, "directory lookup failed");
            AccessError::Unavailable("the directory is not available; try again".into())
        })?;
        let Some(participant) = participant else {
            let message = format!(
                "OIN {oin} is not a participant of this gateway: its operator adds organisations (schakel admin add)"
            );
            return Err(self.refused(oin, cert, Cause::UnknownOin, rpc, message));
        };
        if !participant.is_active() {
            let message = format!(
                "participant {} ({}) is suspended",
                participant.name, participant.oin
            );
            return Err(self.refused(oin, cert, Cause::Suspended, rpc, message));
        }
        if let Some(message) = not_pinned(&participant, cert) {
            return Err(self.refused(oin, cert, Cause::NotPinned, rpc, message));
        }
        Ok(participant)
    }

    /// Decides again whether `caller`, with certificate `leaf`, may go on
    /// with the call it opened: for a stream, which lives longer than the
    /// check at its start. The certificate must still be within its
    /// validity and not on a revocation list in force now.
    pub async fn recheck(
        &self,
        caller: &Caller,
        chain: &[CertificateDer<'static>],
    ) -> Result<(), AccessError> {
        self.still_valid(
            chain,
            &caller.cert_sha256,
            caller.oin(),
            caller.cert_not_after,
        )?;
        self.admitted(caller.oin(), &caller.cert_sha256, &caller.rpc)
            .await
            .map(|_| ())
    }

    /// Why the certificate `chain` (leaf first) is refused now, if it is,
    /// on grounds of the certificate itself: no OIN, expired, revoked, or
    /// not pinned for its OIN. A suspension or an unknown OIN is not such
    /// a ground (the participant may be reinstated or added), and a
    /// directory that cannot be read refuses nothing here.
    pub async fn certificate_refused(
        &self,
        chain: &[CertificateDer<'static>],
    ) -> Option<AccessError> {
        let leaf = chain.first()?;
        let id = match cert_identity(leaf) {
            Ok(id) => id,
            Err(e) => return Some(e),
        };
        if let Err(e) = self.still_valid(chain, &id.sha256, &id.oin, id.not_after) {
            return Some(e);
        }
        let participant = self.directory.get(&id.oin).await.ok()??;
        not_pinned(&participant, &id.sha256).map(AccessError::NotPinned)
    }

    /// The directory's changes and the revocation lists' reloads, for
    /// whoever waits to recheck a caller.
    pub fn changes(
        &self,
    ) -> (
        tokio::sync::watch::Receiver<u64>,
        tokio::sync::watch::Receiver<u64>,
    ) {
        (self.directory.changes(), self.revocation.reloads())
    }

    /// Admits a call that needs a verified certificate but no directory
    /// entry (health, reflection): within the rate limit of its certificate.
    pub fn admit_public(
        &self,
        peer_certs: Option<&[CertificateDer<'static>]>,
    ) -> Result<(), AccessError> {
        let leaf = peer_certs
            .and_then(|c| c.first())
            .ok_or_else(|| unauthenticated("a client certificate is required"))?;
        self.limiter.check_certificate(&sha256(leaf))
    }

    /// Resolves the leaf certificate of a verified TLS connection making the
    /// call at `path`. The certificate is decided first, from memory (an
    /// OIN, within its validity, on no revocation list); the call then takes
    /// from the certificate's own rate bucket before the directory is read;
    /// only a certificate admitted by the directory (active, pinned where
    /// pins are set) takes from its organisation's bucket, so that a refused
    /// certificate cannot spend the budget of the one its organisation
    /// uses. Every refusal is counted, not written.
    pub async fn resolve(
        &self,
        peer_certs: Option<&[CertificateDer<'static>]>,
        path: &str,
    ) -> Result<Caller, AccessError> {
        let rpc = rpc_label(path);
        let leaf = peer_certs
            .and_then(|c| c.first())
            .ok_or_else(|| unauthenticated("a client certificate is required"))?;
        let id = cert_identity(leaf).inspect_err(|e| {
            let digest = sha256(leaf);
            self.refusals
                .count(None, Some(&digest), Cause::NoOin, rpc, &e.to_string());
        })?;
        let chain = peer_certs.unwrap_or_default();
        self.still_valid(chain, &id.sha256, &id.oin, id.not_after)?;
        self.limiter.check_certificate(&id.sha256)?;
        let participant = self.admitted(&id.oin, &id.sha256, rpc).await?;
        self.limiter.check_organisation(&id.oin)?;
        Ok(Caller {
            participant,
            cert_sha256: id.sha256,
            cert_not_after: id.not_after,
            rpc: rpc.to_owned(),
        })
    }
}

/// Why certificate `cert` may not call for `participant`, if it may not:
/// the participant pins certificates, and this is none of them.
fn not_pinned(participant: &Participant, cert: &Digest) -> Option<String> {
    (!participant.pinned_cert_sha256.is_empty() && !participant.pinned_cert_sha256.contains(cert))
        .then(|| {
            format!(
                "this certificate (SHA-256 {cert}) is not one pinned for OIN {}",
                participant.oin
            )
        })
}

/// The system's time, Unix seconds, as certificates count it.
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_a_path_only_if_it_is_shaped_like_a_call() {
        for kept in ["/schakel.v1.Exchange/Pull", "/grpc.health.v1.Health/Check"] {
            assert_eq!(rpc_label(kept), kept);
        }
        let long = format!("/schakel.v1.Exchange/{}", "A".repeat(12_000));
        for replaced in [
            long.as_str(),
            "/schakel.v1.Exchange/Pull123456782",
            "/schakel.v1.Exchange/Pull?bsn=1",
            "schakel.v1.Exchange/Pull",
            "/schakel.v1.Exchange/Pull\n",
        ] {
            assert_eq!(
                rpc_label(replaced),
                "(a path that is no call of this gateway)"
            );
        }
    }
}
