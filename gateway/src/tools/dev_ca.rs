//! The development CA: the CA of an example PKI, whose private key is kept
//! beside its certificate (`ca-key.pem`) so that `schakel-gateway pki issue`
//! can give a newly added organisation a working identity.
//!
//! It is kept apart from production by its name, which says it is not for
//! production, and by one rule: it issues only when the gateway's configured
//! client CA is this very development CA, with its key beside it. A gateway
//! on a PKIoverheid CA bundle is refused; its certificates come from a
//! PKIoverheid provider.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::*;

use super::pki::{Ca, ClientSpec, write_identity};
use crate::model::Oin;

pub use super::pki::{DEVELOPMENT_CA_KEY_FILE as KEY_FILE, DEVELOPMENT_CA_NAME as NAME};

/// How long an issued development certificate is valid, in days.
pub const VALID_DAYS: i64 = 825;

/// Why the development CA will not issue.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The configured client CA is not a development CA.
    #[error(
        "tls.client_ca ({0}) is not a development CA made by `schakel-gateway pki example`: the certificates of a production gateway come from a PKIoverheid provider, not from this command"
    )]
    NotDevelopment(String),
    /// The development CA's key is not beside its certificate.
    #[error(
        "the development CA's key {0} is missing: make a new example PKI with `schakel-gateway pki example --out FOLDER` and point tls.client_ca at FOLDER/ca/ca.pem"
    )]
    NoKey(String),
    /// The key beside the certificate is not the CA's.
    #[error("{0} is not the key of the CA in tls.client_ca")]
    WrongKey(String),
    /// A file could not be read or parsed.
    #[error("{0}")]
    Unreadable(String),
}

/// Whether `client_ca` (the gateway's tls.client_ca) is a development CA:
/// one certificate, under the development CA's name. Its key is not
/// secret, so a gateway must not trust it beyond its own machine.
pub fn is_development(client_ca: &Path) -> bool {
    development_ca(client_ca).is_ok()
}

/// The development CA that `client_ca` (the gateway's tls.client_ca) names,
/// with its kept key; refused for any other CA.
pub fn open_for(client_ca: &Path) -> Result<Ca, Refused> {
    let (cert_pem, public) = development_ca(client_ca)?;
    let key_path: PathBuf = client_ca.parent().unwrap_or(Path::new(".")).join(KEY_FILE);
    let key_pem = std::fs::read_to_string(&key_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Refused::NoKey(key_path.display().to_string()),
        _ => Refused::Unreadable(format!(
            "cannot read the development CA's key {}: {e}",
            key_path.display()
        )),
    })?;
    let ca = Ca::load(&cert_pem, &key_pem)
        .map_err(|e| Refused::Unreadable(format!("{}: {e}", key_path.display())))?;
    if ca.public_key_raw() != public {
        return Err(Refused::WrongKey(key_path.display().to_string()));
    }
    Ok(ca)
}

/// The certificate in `client_ca` (PEM) and its public key, if it is one
/// certificate under the development CA's name.
fn development_ca(client_ca: &Path) -> Result<(String, Vec<u8>), Refused> {
    let shown = client_ca.display().to_string();
    let cert_pem = std::fs::read_to_string(client_ca)
        .map_err(|e| Refused::Unreadable(format!("tls.client_ca: cannot read {shown}: {e}")))?;
    let blocks = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Refused::Unreadable(format!("tls.client_ca {shown}: not PEM: {e}")))?;
    let [block] = blocks.as_slice() else {
        // A bundle of several CAs is what production gateways have.
        return Err(Refused::NotDevelopment(shown));
    };
    let (_, cert) = X509Certificate::from_der(block)
        .map_err(|e| Refused::Unreadable(format!("tls.client_ca {shown}: {e}")))?;
    let named = cert
        .subject()
        .iter_common_name()
        .any(|cn| cn.as_str().is_ok_and(|n| n == NAME));
    if !named {
        return Err(Refused::NotDevelopment(shown));
    }
    let public = cert.public_key().subject_public_key.data.to_vec();
    // Only the certificate's own block: whatever else the file holds is
    // never copied into the identity folders this CA issues.
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let block = cert_pem
        .find(BEGIN)
        .and_then(|start| {
            cert_pem[start..]
                .find(END)
                .map(|end| format!("{}\n", &cert_pem[start..start + end + END.len()]))
        })
        .ok_or_else(|| Refused::Unreadable(format!("tls.client_ca {shown}: no certificate")))?;
    Ok((block, public))
}

/// Issues an identity folder `out` (cert.pem, key.pem, ca.pem) for `oin`
/// named `name`, from the development CA; `out` must not exist yet.
pub fn issue(ca: &Ca, oin: &Oin, name: &str, out: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let issued = ca.issue_client(&ClientSpec::valid_for(oin.as_str(), name, VALID_DAYS))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    // Made here, now, or refused: an existing folder is never written into.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} exists already: remove it, or give another folder with --out",
                out.display()
            ),
            _ => anyhow::anyhow!("cannot make {}: {e}", out.display()),
        })?;
    write_identity(out, &issued, &ca.cert_pem()).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(out);
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::pki::{keep, write_file};
    use crate::transport::identity::cert_identity;

    #[test]
    fn a_kept_development_ca_issues_and_any_other_ca_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = Ca::generate(NAME).unwrap();
        let ca_file = tmp.path().join("ca/ca.pem");
        write_file(&ca_file, &ca.cert_pem(), false).unwrap();
        assert!(matches!(open_for(&ca_file), Err(Refused::NoKey(_))));
        keep(&ca, &tmp.path().join("ca")).unwrap();

        assert!(is_development(&ca_file));
        // Another PEM block in the file is not copied into what is issued.
        let key_block = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        write_file(&ca_file, &format!("{}{key_block}", ca.cert_pem()), false).unwrap();
        let opened = open_for(&ca_file).unwrap();
        assert_eq!(opened.cert_pem().trim(), ca.cert_pem().trim());
        let oin = Oin::parse("00000099300000000042").unwrap();
        let out = tmp.path().join("new-jgt");
        issue(&opened, &oin, "Nieuw JGT", &out).unwrap();
        let pem = std::fs::read(out.join("cert.pem")).unwrap();
        let der = CertificateDer::from_pem_slice(&pem).unwrap();
        assert_eq!(cert_identity(&der).unwrap().oin, oin);
        assert!(
            issue(&opened, &oin, "again", &out).is_err(),
            "overwrote a folder"
        );

        // A key that is there but cannot be read is not called missing.
        let key_path = tmp.path().join("ca").join(KEY_FILE);
        let kept = std::fs::read(&key_path).unwrap();
        std::fs::remove_file(&key_path).unwrap();
        std::fs::create_dir(&key_path).unwrap();
        match open_for(&ca_file) {
            Err(Refused::Unreadable(m)) => assert!(m.contains("cannot read"), "{m}"),
            Err(other) => panic!("unreadable, got {other:?}"),
            Ok(_) => panic!("unreadable, but it opened"),
        }
        std::fs::remove_dir(&key_path).unwrap();
        std::fs::write(&key_path, kept).unwrap();
        open_for(&ca_file).unwrap();

        // Another CA's key beside it.
        let other = Ca::generate(NAME).unwrap();
        keep(&other, &tmp.path().join("ca")).unwrap();
        assert!(matches!(open_for(&ca_file), Err(Refused::WrongKey(_))));

        // A CA that is not a development CA, even with its key beside it.
        let production = Ca::generate("Staat der Nederlanden Private Services CA - G1").unwrap();
        write_file(&ca_file, &production.cert_pem(), false).unwrap();
        keep(&production, &tmp.path().join("ca")).unwrap();
        assert!(matches!(
            open_for(&ca_file),
            Err(Refused::NotDevelopment(_))
        ));
        assert!(!is_development(&ca_file));

        // A bundle of CAs.
        write_file(
            &ca_file,
            &format!("{}{}", ca.cert_pem(), other.cert_pem()),
            false,
        )
        .unwrap();
        assert!(matches!(
            open_for(&ca_file),
            Err(Refused::NotDevelopment(_))
        ));
    }
}
