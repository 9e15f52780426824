//! The gateway's own certificate, replaceable while it runs. New
//! connections are served the certificate and key read last;
//! [`ServerCert::reload_if_changed`] runs at the configured interval and
//! reads both files again when either changed. A pair that cannot be read,
//! or a key that does not match its certificate, keeps the pair in force and
//! logs an error each interval until it is fixed: an operator replacing a
//! certificate never takes the gateway down by a typo.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::identity::unix_now;
use super::pem::{TlsError, not_after, read_certs, read_key};
use super::watched::Watched;
use crate::metrics::METRICS;

/// The gateway's certificate and key, reloadable.
#[derive(Debug)]
pub struct ServerCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Watched<Arc<CertifiedKey>>,
}

impl ServerCert {
    /// The pair in `cert` and `key`, which must be readable and match now.
    pub fn new(
        cert: PathBuf,
        key: PathBuf,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let current = Watched::new(
            vec![cert.clone(), key.clone()],
            "the gateway's certificate and key",
            || load(&cert, &key, &provider),
        )?;
        Ok(Self {
            cert,
            key,
            provider,
            current,
        })
    }

    /// Reads the pair again if either file changed; answers whether the
    /// certificate served changed.
    pub fn reload_if_changed(&self) -> bool {
        self.current
            .reload_if_changed(|| load(&self.cert, &self.key, &self.provider))
    }
}

/// Reads the pair, and tells the metrics how long the certificate has.
fn load(
    cert: &std::path::Path,
    key: &std::path::Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = read_certs("gateway certificate", cert)?;
    let ends = chain.first().and_then(not_after);
    let pair =
        CertifiedKey::from_der(chain, read_key(key)?, provider).map_err(|e| TlsError::Invalid {
            what: "gateway certificate and key",
            path: cert.to_owned(),
            message: e.to_string(),
        })?;
    if let Some(ends) = ends {
        METRICS.certificate("gateway", ends, unix_now());
    }
    Ok(Arc::new(pair))
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.get())
    }
}
