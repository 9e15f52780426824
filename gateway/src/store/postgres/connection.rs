//! Reaching the database: one connection, over TLS through rustls (ring)
//! unless the database is on this machine, with the server's certificate
//! checked against the CA the operator names.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// How the gateway reaches its database.
#[derive(Debug, Clone)]
pub struct Target {
    /// A libpq connection string or `postgres://` URL. `sslmode` is
    /// `disable`, `prefer`, `require`, `verify-ca` or `verify-full`; all but
    /// the first two check the server's certificate and name, as libpq's
    /// `verify-full` does. `prefer` (the
    /// default) is taken as `require`, except over a Unix socket, which has
    /// no TLS: data about children does not travel in the clear because a
    /// server did not offer TLS.
    pub url: String,
    /// The PEM file of the CA that signed the database server's
    /// certificate; needed unless `sslmode=disable`.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key (PEM), for a server that asks for
    /// one.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// A PostgreSQL failure as the store reports it: with the server's own
/// message when there is one (tokio-postgres alone says only "db error").
pub fn db_error(e: tokio_postgres::Error) -> StoreError {
    StoreError::Engine(format!("PostgreSQL: {}", detail(&e)))
}

/// What went wrong, in the server's words when it said something, and
/// otherwise with every cause (a TLS handshake's says which certificate
/// check failed).
pub fn detail(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.code().code(), db.message());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// Whether every place `config` may connect to is on this machine: a Unix
/// socket or a loopback address, the only places a connection without TLS
/// may go. A `hostaddr` is where the connection really goes, whatever
/// `host` says, so each of those must be loopback too.
fn local_only(config: &Config) -> bool {
    !config.get_hosts().is_empty()
        && config.get_hosts().iter().all(|h| match h {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
        })
        && config.get_hostaddrs().iter().all(IpAddr::is_loopback)
}

/// Whether every host of `config` is a Unix socket, where PostgreSQL
/// offers no TLS.
fn sockets_only(config: &Config) -> bool {
    !config.get_hosts().is_empty()
        && config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, Host::Unix(_)))
}

/// The rustls configuration for `target`: its CA, and its client identity
/// if it has one.
fn tls(target: &Target) -> Result<rustls::ClientConfig, StoreError> {
    let invalid = |what: String| StoreError::Engine(format!("PostgreSQL TLS: {what}"));
    let ca_file = target.ca_file.as_ref().ok_or_else(|| {
        invalid("no CA file is set to check the database server's certificate with: name the PEM file of the CA that signed it, or set sslmode=disable for a database on this machine".into())
    })?;
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            invalid(format!(
                "cannot read the CA file {}: {e}",
                ca_file.display()
            ))
        })?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(invalid(format!(
            "the CA file {} holds no usable certificate",
            ca_file.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots);
    match &target.client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_file, key_file)) => {
            let chain = CertificateDer::pem_file_iter(cert_file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    invalid(format!(
                        "cannot read the client certificate {}: {e}",
                        cert_file.display()
                    ))
                })?;
            let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
                invalid(format!(
                    "cannot read the client key {}: {e}",
                    key_file.display()
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(format!("the client certificate and key: {e}")))
        }
    }
}

/// libpq's `sslmode` values that the PostgreSQL driver does not know, and
/// what they are here: `require` checks the server's certificate against
/// the CA and its name, as `verify-full` does (so `verify-ca` gets the
/// stricter check too), and `allow` is taken as `prefer`.
const SSLMODES: [(&str, &str); 3] = [
    ("sslmode=verify-full", "sslmode=require"),
    ("sslmode=verify-ca", "sslmode=require"),
    ("sslmode=allow", "sslmode=prefer"),
];

/// Parses a libpq connection string or `postgres://` URL as operators
/// write them, `sslmode=verify-full` included.
pub fn parse_url(url: &str) -> Result<Config, String> {
    let mut url = url.to_owned();
    for (libpq, here) in SSLMODES {
        url = url.replace(libpq, here);
    }
    url.parse()
        .map_err(|e| format!("the connection string is not valid: {e}"))
}

/// Opens one connection to the database of `target`, and runs it on a task
/// of its own until the client is dropped.
pub async fn connect(target: &Target) -> Result<Client, StoreError> {
    let mut config =
        parse_url(&target.url).map_err(|e| StoreError::Engine(format!("PostgreSQL: {e}")))?;
    if config.get_ssl_mode() == SslMode::Prefer {
        // A socket never offers TLS; anywhere else, TLS or nothing.
        config.ssl_mode(if sockets_only(&config) {
            SslMode::Disable
        } else {
            SslMode::Require
        });
    }
    let client = if config.get_ssl_mode() == SslMode::Disable {
        if !local_only(&config) {
            return Err(StoreError::Engine(
                "PostgreSQL: sslmode=disable is allowed only for a database on this machine (a Unix socket or a loopback address); use TLS to reach another host".into(),
            ));
        }
        let (client, connection) = config.connect(NoTls).await.map_err(db_error)?;
        drive(connection);
        client
    } else {
        let (client, connection) = config
            .connect(MakeRustlsConnect::new(tls(target)?))
            .await
            .map_err(db_error)?;
        drive(connection);
        client
    };
    Ok(client)
}

/// Runs a connection's protocol on a task of its own; it ends when its
/// client is dropped or the server goes away.
fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the database connection ended");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        url.parse().unwrap()
    }

    #[test]
    fn only_sockets_and_loopback_are_local() {
        assert!(local_only(&config("host=/run/postgresql dbname=x")));
        assert!(local_only(&config("postgres://u@127.0.0.1/x")));
        assert!(local_only(&config("postgres://u@localhost/x")));
        assert!(local_only(&config("postgres://u@[::1]/x")));
        assert!(!local_only(&config("postgres://u@db.example.nl/x")));
        assert!(!local_only(&config("postgres://u@10.0.0.5/x")));
        assert!(!local_only(&config(
            "host=127.0.0.1,db.example.nl dbname=x"
        )));
        // hostaddr is where the connection goes, whatever host says.
        assert!(!local_only(&config(
            "postgres://u@localhost/x?hostaddr=203.0.113.7"
        )));
        assert!(local_only(&config(
            "host=localhost hostaddr=127.0.0.1 dbname=x"
        )));
    }

    #[test]
    fn only_unix_sockets_go_without_tls_by_default() {
        assert!(sockets_only(&config("host=/run/postgresql dbname=x")));
        assert!(!sockets_only(&config(
            "host=/run/postgresql,localhost dbname=x"
        )));
        assert!(!sockets_only(&config("postgres://u@127.0.0.1/x")));
    }

    #[test]
    fn libpq_sslmodes_are_accepted_and_checked_as_verify_full() {
        for mode in ["verify-full", "verify-ca", "require"] {
            let url = format!("postgres://u@db.example.nl/x?sslmode={mode}");
            assert_eq!(parse_url(&url).unwrap().get_ssl_mode(), SslMode::Require);
            let kv = format!("host=db.example.nl dbname=x sslmode={mode}");
            assert_eq!(parse_url(&kv).unwrap().get_ssl_mode(), SslMode::Require);
        }
        let allow = parse_url("host=db.example.nl sslmode=allow").unwrap();
        assert_eq!(allow.get_ssl_mode(), SslMode::Prefer);
        assert!(parse_url("postgres://u@h/x?sslmode=bogus").is_err());
    }

    #[tokio::test]
    async fn plaintext_to_another_host_is_refused_before_connecting() {
        let target = Target {
            url: "postgres://schakel@db.example.invalid/schakel?sslmode=disable".into(),
            ca_file: None,
            client_identity: None,
        };
        let e = connect(&target).await.unwrap_err().to_string();
        assert!(e.contains("sslmode=disable is allowed only"), "{e}");
    }

    #[tokio::test]
    async fn tls_without_a_ca_file_says_what_to_set() {
        let target = Target {
            url: "postgres://schakel@db.example.invalid/schakel".into(),
            ca_file: None,
            client_identity: None,
        };
        let e = connect(&target).await.unwrap_err().to_string();
        assert!(e.contains("no CA file is set"), "{e}");
    }
}
