//! Revocation lists that take effect while the gateway runs. The client
//! certificate verifier is rustls's own (chain, validity, CRLs), rebuilt
//! whenever a configured CRL file changes: [`Revocation::reload_if_changed`]
//! runs at a configured interval, new handshakes use the new lists at once,
//! and open streams ask [`Revocation::check`] when they decide their
//! caller's access again, so a revoked certificate loses its streams too.
//!
//! A CRL file that cannot be read or parsed at a reload keeps the lists in
//! force (the last ones known), and the failure is logged as an error each
//! interval until the file is fixed: dropping revocations because a file is
//! briefly missing would let revoked certificates back in.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use rustls::crypto::CryptoProvider;

use super::pem::{TlsError, read_crl};
use super::watched::Watched;

/// The client certificate verifier with reloadable revocation lists.
pub struct Revocation {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    crl_files: Vec<PathBuf>,
    hints: Vec<DistinguishedName>,
    current: Watched<Arc<dyn ClientCertVerifier>>,
    reloaded: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocation")
            .field("crl_files", &self.crl_files)
            .finish_non_exhaustive()
    }
}

impl Revocation {
    /// A verifier for certificates chaining to `roots`, checked against the
    /// CRLs in `crl_files`, which must all be readable now, with the
    /// signature algorithms of `provider`.
    pub fn new(
        roots: RootCertStore,
        crl_files: Vec<PathBuf>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let roots = Arc::new(roots);
        let current = Watched::new(crl_files.clone(), "the revocation lists", || {
            build(&roots, &crl_files, &provider)
        })?;
        Ok(Self {
            provider,
            hints: current.get().root_hint_subjects().to_vec(),
            roots,
            crl_files,
            current,
            reloaded: tokio::sync::watch::channel(0).0,
        })
    }

    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.current.get()
    }

    /// Reads the CRL files again if any changed since they were read;
    /// answers whether the lists in force changed.
    pub fn reload_if_changed(&self) -> bool {
        let reloaded = self
            .current
            .reload_if_changed(|| build(&self.roots, &self.crl_files, &self.provider));
        if reloaded {
            self.reloaded.send_modify(|g| *g += 1);
        }
        reloaded
    }

    /// Changes at every reload, so that open streams decide again at once.
    pub fn reloads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reloaded.subscribe()
    }

    /// How many times the lists were reloaded: a decision made under one
    /// generation holds until the next.
    pub fn generation(&self) -> u64 {
        *self.reloaded.borrow()
    }

    /// Whether `leaf`, with the `intermediates` its connection sent, still
    /// passes: chain, validity now, and the lists in force now. The answer
    /// names the reason when it does not.
    pub fn check(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), String> {
        self.verifier()
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn build(
    roots: &Arc<RootCertStore>,
    crl_files: &[PathBuf],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let crls = crl_files
        .iter()
        .map(|p| read_crl(p))
        .collect::<Result<Vec<_>, _>>()?;
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .with_crls(crls)
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))
}

impl ClientCertVerifier for Revocation {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier().supported_verify_schemes()
    }
}
