//! Generates certificate authorities, gateway and organisation certificates
//! shaped like PKIoverheid ones: the OIN in the Subject serialNumber, the legal
//! name in organizationName.
//!
//! Used for the example PKI in `certs-example/` (`schakel-gateway pki example`)
//! and by the tests, which make a fresh PKI for every gateway they start. This
//! is test and demonstration material: production certificates come from a
//! PKIoverheid CA.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The key usages a [`ClientSpec`] names.
pub use rcgen::KeyUsagePurpose;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::model::{Codes, Oin, OrgKind, Participant, Sector};
use crate::service::directory::write_seed_file;

/// The name (organizationName and commonName) of every development CA: the
/// example PKI's, whose key is kept (the development CA module issues with it).
pub const DEVELOPMENT_CA_NAME: &str = "Schakel ontwikkel-CA (DEVELOPMENT, NIET VOOR PRODUCTIE)";

/// The file beside a development CA's certificate that holds its key.
pub const DEVELOPMENT_CA_KEY_FILE: &str = "ca-key.pem";

/// OID of the X.520 serialNumber attribute, where PKIoverheid puts the OIN.
const SERIAL_NUMBER_OID: [u64; 4] = [2, 5, 4, 5];

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: String,
    /// The certificate's serial number, for revocation lists.
    pub serial: u64,
}

/// What to put in a client certificate.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// The OIN for the Subject serialNumber; `None` leaves it out (to test
    /// that such certificates are refused).
    pub oin: Option<String>,
    /// The organisation's legal name (organizationName and commonName).
    pub org_name: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The key usages (digitalSignature, as a TLS client key needs).
    pub key_usages: Vec<KeyUsagePurpose>,
}

impl ClientSpec {
    /// A certificate for `oin` valid from yesterday for `days` days.
    pub fn valid_for(oin: &str, org_name: &str, days: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            oin: Some(oin.to_owned()),
            org_name: org_name.to_owned(),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(days),
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
        }
    }
}

/// A certificate authority that can issue gateway and client certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

fn random_serial() -> u64 {
    // Keep it positive and non-zero as RFC 5280 asks.
    (u64::from_be_bytes(crate::crypto::random_bytes::<8>()) >> 1) | 1
}

fn distinguished_name(pairs: Vec<(DnType, DnValue)>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "NL");
    for (t, v) in pairs {
        dn.push(t, v);
    }
    dn
}

impl Ca {
    /// Generates a new self-signed CA, valid from yesterday for ten years,
    /// that may have one level of issuing CAs below it (as PKIoverheid's
    /// roots have domain and issuing CAs).
    pub fn generate(name: &str) -> Result<Self, rcgen::Error> {
        let params = Self::ca_params(name, 1)?;
        let key = KeyPair::generate()?;
        let cert_pem = params.self_signed(&key)?.pem();
        Ok(Self {
            issuer: Issuer::new(params, key),
            cert_pem,
        })
    }

    /// An issuing CA below this one, which issues certificates itself; a
    /// client presents its certificate with this CA's after it.
    pub fn issue_intermediate(&self, name: &str) -> Result<Self, rcgen::Error> {
        let mut params = Self::ca_params(name, 0)?;
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert_pem = params.signed_by(&key, &self.issuer)?.pem();
        Ok(Self {
            issuer: Issuer::new(params, key),
            cert_pem,
        })
    }

    fn ca_params(name: &str, path_length: u8) -> Result<CertificateParams, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        params.serial_number = Some(SerialNumber::from(random_serial()));
        params.distinguished_name = distinguished_name(vec![
            (DnType::OrganizationName, name.into()),
            (DnType::CommonName, name.into()),
        ]);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_length));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.key_identifier_method = KeyIdMethod::Sha256;
        Ok(params)
    }

    /// A CA from its certificate and private key, both PEM, as
    /// [`Ca::key_pem`] wrote them.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, rcgen::Error> {
        let key = KeyPair::from_pem(key_pem)?;
        Ok(Self {
            issuer: Issuer::from_ca_cert_pem(cert_pem, key)?,
            cert_pem: cert_pem.to_owned(),
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The CA's public key, as a certificate's subjectPublicKey holds it.
    pub fn public_key_raw(&self) -> &[u8] {
        self.issuer.key().public_key_raw()
    }

    /// The CA's private key, PEM: only a development CA keeps it.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    fn issue(&self, mut params: CertificateParams) -> Result<Issued, rcgen::Error> {
        let serial = random_serial();
        params.serial_number = Some(SerialNumber::from(serial));
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial,
        })
    }

    /// Issues a TLS server certificate for `hosts` (DNS names or IP
    /// addresses), valid from yesterday for ten years.
    pub fn issue_server(&self, hosts: &[&str]) -> Result<Issued, rcgen::Error> {
        let mut params =
            CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())?;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        // The names it serves are in the subject alternative names; the
        // common name only says what it is.
        params.distinguished_name =
            distinguished_name(vec![(DnType::CommonName, "Schakel gateway".into())]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// Issues a client certificate shaped like a PKIoverheid organisation
    /// certificate.
    pub fn issue_client(&self, spec: &ClientSpec) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        let mut dn = vec![(DnType::OrganizationName, spec.org_name.as_str().into())];
        if let Some(oin) = &spec.oin {
            dn.push((
                DnType::CustomDnType(SERIAL_NUMBER_OID.to_vec()),
                DnValue::PrintableString(oin.as_str().try_into()?),
            ));
        }
        dn.push((DnType::CommonName, spec.org_name.as_str().into()));
        params.distinguished_name = distinguished_name(dn);
        params.key_usages = spec.key_usages.clone();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    /// A CRL, valid for a week, that revokes the given serial numbers.
    pub fn crl_pem(&self, revoked: &[u64]) -> Result<String, rcgen::Error> {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(1),
            next_update: now + Duration::days(7),
            crl_number: SerialNumber::from(random_serial()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: now - Duration::minutes(1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer)?.pem()
    }
}

/// Writes `contents` to `path`, with mode 0600 if it is a secret.
pub fn write_file(path: &Path, contents: &str, secret: bool) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)?;
    file.write_all(contents.as_bytes())
}

/// Keeps a development CA's private key beside its certificate in
/// `ca_dir`, mode 0600.
pub fn keep(ca: &Ca, ca_dir: &Path) -> std::io::Result<()> {
    write_file(&ca_dir.join(DEVELOPMENT_CA_KEY_FILE), &ca.key_pem(), true)
}

/// Writes an identity folder as the client expects it: cert.pem, key.pem
/// (mode 0600) and ca.pem (the CA that signs the gateway's certificate).
pub fn write_identity(dir: &Path, issued: &Issued, ca_pem: &str) -> std::io::Result<()> {
    write_file(&dir.join("cert.pem"), &issued.cert_pem, false)?;
    write_file(&dir.join("key.pem"), &issued.key_pem, true)?;
    write_file(&dir.join("ca.pem"), ca_pem, false)
}

/// One example organisation: its folder name and its directory entry.
#[derive(Debug, Clone)]
pub struct ExampleOrg {
    /// Folder name under certs-example/.
    pub dir: &'static str,
    /// Its directory entry.
    pub participant: Participant,
}

fn org(dir: &'static str, oin: &str, name: &str, kind: OrgKind, codes: Codes) -> ExampleOrg {
    ExampleOrg {
        dir,
        participant: Participant {
            codes,
            sector: None,
            ..Participant::new(
                Oin::parse(oin).expect("the example OINs are 20 digits"),
                name,
                kind,
            )
        },
    }
}

fn school(dir: &'static str, oin: &str, name: &str, codes: Codes, sector: Sector) -> ExampleOrg {
    let mut o = org(dir, oin, name, OrgKind::School, codes);
    o.participant.sector = Some(sector);
    o
}

/// The example organisations: two schools (PO and VO), an SWV, a JGT, a
/// gemeente, Veilig Thuis, the Verwijsindex and an operator, all with OINs in
/// the test range (prefix 00000099).
pub fn example_orgs() -> Vec<ExampleOrg> {
    vec![
        school(
            "school-po",
            "00000099100000000001",
            "Basisschool De Regenboog (voorbeeld)",
            Codes {
                brin: "99AA".into(),
                vestiging: "00".into(),
                ..Codes::default()
            },
            Sector::Po,
        ),
        school(
            "school-vo",
            "00000099100000000002",
            "Voorbeeld College (voorbeeld)",
            Codes {
                brin: "99BB".into(),
                vestiging: "01".into(),
                ..Codes::default()
            },
            Sector::Vo,
        ),
        org(
            "swv",
            "00000099200000000001",
            "Samenwerkingsverband PO Voorbeeldregio (voorbeeld)",
            OrgKind::Swv,
            Codes {
                swv_number: "PO 9901".into(),
                ..Codes::default()
            },
        ),
        org(
            "jgt",
            "00000099300000000001",
            "Jeugd- en gezinsteam Voorbeeldstad (voorbeeld)",
            OrgKind::Jgt,
            Codes {
                agb: "99000001".into(),
                ..Codes::default()
            },
        ),
        org(
            "gemeente",
            "00000099400000000001",
            "Gemeente Voorbeeldstad (voorbeeld)",
            OrgKind::Gemeente,
            Codes {
                gemeentecode: "GM9999".into(),
                ..Codes::default()
            },
        ),
        org(
            "veilig-thuis",
            "00000099500000000001",
            "Veilig Thuis Voorbeeldregio (voorbeeld)",
            OrgKind::VeiligThuis,
            Codes::default(),
        ),
        org(
            "verwijsindex",
            "00000099600000000001",
            "Verwijsindex risicojongeren (voorbeeld)",
            OrgKind::Verwijsindex,
            Codes::default(),
        ),
        org(
            "operator",
            "00000099900000000001",
            "Schakel beheer (voorbeeld)",
            OrgKind::Operator,
            Codes::default(),
        ),
    ]
}

/// Writes a complete PKI into `out`: `ca/ca.pem`, `gateway/{cert,key}.pem`
/// for localhost, 127.0.0.1 and ::1, one identity folder per example
/// organisation, and `directory.toml`. The CA is a development CA whose key
/// is kept beside it, so that `pki issue` (the development CA module) can add
/// organisations. Returns the CA, so that tests can issue further
/// certificates from it.
pub fn generate_example(out: &Path) -> anyhow::Result<(Ca, Vec<ExampleOrg>)> {
    let ca = Ca::generate(DEVELOPMENT_CA_NAME)?;
    let ca_pem = ca.cert_pem();
    write_file(&out.join("ca/ca.pem"), &ca_pem, false)?;
    keep(&ca, &out.join("ca"))?;
    let gateway = ca.issue_server(&["localhost", "127.0.0.1", "::1"])?;
    write_file(&out.join("gateway/cert.pem"), &gateway.cert_pem, false)?;
    write_file(&out.join("gateway/key.pem"), &gateway.key_pem, true)?;
    let orgs = example_orgs();
    for o in &orgs {
        let issued = ca.issue_client(&ClientSpec::valid_for(
            o.participant.oin.as_str(),
            &o.participant.name,
            3650,
        ))?;
        write_identity(&out.join(o.dir), &issued, &ca_pem)?;
    }
    let participants: Vec<Participant> = orgs.iter().map(|o| o.participant.clone()).collect();
    let header = "# Example participant directory for the example PKI in this folder.\n\
                  # EXAMPLE MATERIAL, NOT FOR PRODUCTION: OINs are in the test range 00000099.\n\
                  # Generated by `schakel-gateway pki example`; see README.md beside this file.\n\n";
    write_file(
        &out.join("directory.toml"),
        &format!("{header}{}", write_seed_file(&participants)?),
        false,
    )?;
    Ok((ca, orgs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::identity::cert_identity;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn client_certificates_carry_the_oin_where_pkioverheid_puts_it() {
        let ca = Ca::generate("Test CA").unwrap();
        let issued = ca
            .issue_client(&ClientSpec::valid_for("00000099100000000001", "School", 1))
            .unwrap();
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        assert_eq!(
            cert_identity(&der).unwrap().oin.as_str(),
            "00000099100000000001"
        );
    }

    #[test]
    fn the_example_pki_has_every_kind_and_a_valid_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (_, orgs) = generate_example(dir.path()).unwrap();
        let kinds: std::collections::BTreeSet<_> =
            orgs.iter().map(|o| o.participant.kind).collect();
        assert_eq!(kinds.len(), OrgKind::ALL.len());
        let seeded =
            crate::service::directory::read_seed_file(&dir.path().join("directory.toml")).unwrap();
        assert_eq!(seeded.len(), orgs.len());
        assert!(
            seeded
                .iter()
                .all(|p| p.oin.as_str().starts_with("00000099"))
        );
        for o in &orgs {
            assert!(dir.path().join(o.dir).join("key.pem").exists());
        }
    }
}
