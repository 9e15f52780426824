//! Reading the PEM (and DER) files the TLS configuration is made of:
//! certificates, the private key, revocation lists; and why one could not
//! be used.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which file it is.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file holds nothing usable.
    #[error("{what} {path}: {message}")]
    Invalid {
        /// Which file it is.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the combination.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Reads every certificate in a PEM file.
pub fn read_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(what, path)?;
    let certs = rustls_pemfile_certs(&bytes).map_err(|message| TlsError::Invalid {
        what,
        path: path.to_owned(),
        message,
    })?;
    if certs.is_empty() {
        return Err(TlsError::Invalid {
            what,
            path: path.to_owned(),
            message: "holds no PEM certificate".into(),
        });
    }
    Ok(certs)
}

fn rustls_pemfile_certs(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_reader_iter(&mut BufReader::new(bytes))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// Reads the private key, warning if others than its owner can read it.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    use rustls_pki_types::pem::PemObject;
    use std::os::unix::fs::PermissionsExt;
    let bytes = read("private key", path)?;
    // Warn rather than refuse: a git checkout of the example PKI cannot keep
    // mode 0600, and the example must run out of the box.
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the TLS private key is readable by others than its owner: chmod 600 it");
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Invalid {
        what: "private key",
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Reads one CRL, PEM or DER.
pub fn read_crl(path: &Path) -> Result<CertificateRevocationListDer<'static>, TlsError> {
    use rustls_pki_types::pem::PemObject;
    let bytes = read("CRL", path)?;
    if bytes.starts_with(b"-----") {
        CertificateRevocationListDer::from_pem_slice(&bytes).map_err(|e| TlsError::Invalid {
            what: "CRL",
            path: path.to_owned(),
            message: e.to_string(),
        })
    } else {
        Ok(CertificateRevocationListDer::from(bytes))
    }
}

/// A certificate's notAfter, Unix seconds, if it parses.
pub fn not_after(der: &CertificateDer<'_>) -> Option<i64> {
    use x509_parser::prelude::FromDer as _;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// What a file looked like when it was read (modified time and length):
/// a change to either means it is read again.
pub type Stamp = Option<(std::time::SystemTime, u64)>;

/// The [`Stamp`] of `path` now.
pub fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}
