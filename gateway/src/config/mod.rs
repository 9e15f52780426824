//! The gateway's configuration: one TOML file, every field with a default.
//!
//! The defaults live in `gateway/schakel.toml`, which is compiled into the
//! binary and doubles as the commented reference. A loaded configuration is
//! built in three layers: those embedded defaults, then the operator's file (if
//! any), then environment variables `SCHAKEL_<SECTION>__<FIELD>`. Unknown
//! fields are errors, so that a typo never silently falls back to a default.

mod limits;
mod sections;
mod statutes;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use sections::{
    AUDIT_RETENTION_FLOOR_DAYS, AuditConfig, ConsentConfig, DirectoryConfig, ExchangeConfig,
    LONGEST_SIGNAL_DAYS, LimitsConfig, LogConfig, LogFormat, MetricsConfig, ReceiptSignatures,
    RouteConfig, RoutingConfig, ServerConfig, StorageConfig, StorageEngine, TlsConfig,
};
pub use statutes::{StatuteConfig, StatutesConfig};

/// The commented default configuration, as shipped.
pub const DEFAULT_TOML: &str = include_str!("../../schakel.toml");

/// Prefix of environment variables that override configuration fields.
pub const ENV_PREFIX: &str = "SCHAKEL_";

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file, or the merged result, is not valid.
    #[error("invalid configuration{}: {message}", origin.as_deref().map(|o| format!(" in {o}")).unwrap_or_default())]
    Invalid {
        /// Where the bad value came from, if known.
        origin: Option<String>,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The gRPC endpoint.
    pub server: ServerConfig,
    /// Certificates, keys and the client CA.
    pub tls: TlsConfig,
    /// The participant directory.
    pub directory: DirectoryConfig,
    /// The store.
    pub storage: StorageConfig,
    /// Size and count limits.
    pub limits: LimitsConfig,
    /// Expiry, leases, retention.
    pub exchange: ExchangeConfig,
    /// Who may send which kind to whom.
    pub routing: RoutingConfig,
    /// Which statutory bases carry which kinds.
    pub statutes: StatutesConfig,
    /// Consent over time: ages, terms, notices.
    pub consent: ConsentConfig,
    /// Audit checkpoints and retention.
    pub audit: AuditConfig,
    /// The metrics endpoint.
    pub metrics: MetricsConfig,
    /// Logging.
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self::from_layers(None, std::iter::empty())
            .expect("the embedded default configuration is valid")
    }
}

impl Config {
    /// Loads the configuration: embedded defaults, then `file` if given, then
    /// the `SCHAKEL_*` variables of this process's environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match file {
            Some(path) => Some((
                path.display().to_string(),
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?,
            )),
            None => None,
        };
        Self::from_layers(
            text.as_ref().map(|(o, t)| (o.as_str(), t.as_str())),
            std::env::vars(),
        )
    }

    /// Builds a configuration from the embedded defaults, an optional file
    /// (origin, text) and a set of environment variables. Separate from
    /// [`Config::load`] so that it can be tested without touching the process
    /// environment.
    pub fn from_layers(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let defaults = parse(DEFAULT_TOML, "the embedded defaults")?;
        let mut merged = defaults.clone();
        // Where each setting that is not a default came from, to name it
        // when its value does not fit.
        let mut origins: Vec<(String, String, String)> = Vec::new();
        if let Some((origin, text)) = file {
            let layer = parse(text, origin)?;
            for (section, fields) in &layer {
                for field in fields.as_table().into_iter().flat_map(|t| t.keys()) {
                    origins.push((section.clone(), field.clone(), origin.to_owned()));
                }
            }
            merge(&mut merged, layer);
        }
        for (name, value) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
            if keys.len() != 2 || keys.iter().any(String::is_empty) {
                // Variables such as SCHAKEL_GATEWAY belong to the client.
                continue;
            }
            set_env_value(&mut merged, &name, &keys[0], &keys[1], &value)?;
            origins.push((
                keys[0].clone(),
                keys[1].clone(),
                format!("environment variable {name}"),
            ));
        }
        let config: Config = merged.clone().try_into().map_err(|e: toml::de::Error| {
            culprit(&defaults, &merged, &origins).unwrap_or(ConfigError::Invalid {
                origin: None,
                message: e.message().to_owned(),
            })
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that every file the configuration names can be read, before
    /// the gateway creates anything: a gateway started in the wrong folder
    /// stops here, naming the setting, instead of leaving a data folder and
    /// a new signing key behind.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        let named = [
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
            ("tls.client_ca", &self.tls.client_ca),
            ("directory.file", &self.directory.file),
        ];
        let crls = self.tls.crls.iter().map(|p| ("tls.crls", p));
        let st = &self.storage;
        let database = [
            ("storage.postgres_ca_file", &st.postgres_ca_file),
            ("storage.postgres_client_cert", &st.postgres_client_cert),
            ("storage.postgres_client_key", &st.postgres_client_key),
        ]
        .into_iter()
        .filter(|(_, p)| {
            self.storage.engine == StorageEngine::Postgres && !p.as_os_str().is_empty()
        });
        for (setting, path) in named.into_iter().chain(crls).chain(database) {
            let problem = match std::fs::metadata(path) {
                Ok(m) if !m.is_file() => "a folder, not a file".to_owned(),
                Ok(_) => match std::fs::File::open(path) {
                    Ok(_) => continue,
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            let hint = if path.is_relative() {
                let here = std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| "the current folder".into());
                format!(
                    "; a relative path is taken from the folder the gateway starts in ({here}): start it from the folder that holds it, or give absolute paths in a configuration file (--config)"
                )
            } else {
                String::new()
            };
            return Err(ConfigError::Invalid {
                origin: None,
                message: format!("{setting}: cannot read {}: {problem}{hint}", path.display()),
            });
        }
        Ok(())
    }

    /// Checks what the types cannot.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| ConfigError::Invalid {
            origin: None,
            message: message.to_owned(),
        };
        self.storage.check().map_err(&invalid)?;
        self.server.check().map_err(|m| invalid(&m))?;
        self.limits.check().map_err(|m| invalid(&m))?;
        let x = &self.exchange;
        if x.default_expiry_days == 0 || x.default_expiry_days > x.max_expiry_days {
            return Err(invalid(
                "exchange.default_expiry_days must be 1 to max_expiry_days",
            ));
        }
        if x.default_lease_secs == 0 || x.default_lease_secs > x.max_lease_secs {
            return Err(invalid(
                "exchange.default_lease_secs must be 1 to max_lease_secs",
            ));
        }
        if self.audit.checkpoint_every == 0 || self.audit.checkpoint_interval_secs == 0 {
            return Err(invalid(
                "audit.checkpoint_every and audit.checkpoint_interval_secs must be at least 1",
            ));
        }
        if x.sweep_interval_ms == 0 {
            return Err(invalid("exchange.sweep_interval_ms must be at least 1"));
        }
        self.statutes
            .check_within_the_law()
            .map_err(|m| invalid(&m))?;
        let c = &self.consent;
        if !(18..=23).contains(&c.max_age) {
            return Err(invalid(
                "consent.max_age must be 18 to 23 (the Jeugdwet's age of a child, up to 23 for the Verwijsindex and extended youth care)",
            ));
        }
        if c.max_term_days == 0 || c.max_term_days > 3660 {
            return Err(invalid("consent.max_term_days must be 1 to 3660"));
        }
        if c.notice_days > 365 {
            return Err(invalid("consent.notice_days must be at most 365"));
        }
        let a = &self.audit;
        if a.retention_days < AUDIT_RETENTION_FLOOR_DAYS {
            return Err(invalid(&format!(
                "audit.retention_days must be at least {AUDIT_RETENTION_FLOOR_DAYS}: five years, the archive term of a withdrawn or lapsed signal (a policy floor of this gateway)"
            )));
        }
        if a.keep_entries_days != 0 && a.keep_entries_days < a.retention_days + LONGEST_SIGNAL_DAYS
        {
            return Err(invalid(&format!(
                "audit.keep_entries_days must be 0 (keep entries) or at least audit.retention_days + {LONGEST_SIGNAL_DAYS}, so that no child reference is removed before its time"
            )));
        }
        Ok(())
    }
}

fn parse(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Invalid {
            origin: Some(origin.to_owned()),
            message: e.to_string(),
        })
}

/// The one setting whose value does not fit its type, found by trying each
/// changed setting alone on top of the defaults: the error names it, its
/// value and where it came from.
fn culprit(
    defaults: &toml::Table,
    merged: &toml::Table,
    origins: &[(String, String, String)],
) -> Option<ConfigError> {
    // The last layer that set a field is the one in force.
    origins.iter().rev().find_map(|(section, field, origin)| {
        let value = merged.get(section)?.as_table()?.get(field)?;
        let mut alone = defaults.clone();
        alone
            .get_mut(section)?
            .as_table_mut()?
            .insert(field.clone(), value.clone());
        let e = alone.try_into::<Config>().err()?;
        Some(ConfigError::Invalid {
            origin: Some(origin.clone()),
            message: format!("{section}.{field} = {value}: {}", e.message()),
        })
    })
}

/// Overlays `top` on `base`, table by table.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets `[section] field` from an environment variable. The value is read as
/// a TOML value when it is one (numbers, booleans, arrays) and as a string
/// otherwise, so `SCHAKEL_SERVER__LISTEN=127.0.0.1:0` needs no quotes.
fn set_env_value(
    merged: &mut toml::Table,
    name: &str,
    section: &str,
    field: &str,
    raw: &str,
) -> Result<(), ConfigError> {
    let unknown = || ConfigError::Invalid {
        origin: Some(format!("environment variable {name}")),
        message: format!("there is no field {field} in section [{section}]"),
    };
    let table = merged
        .get_mut(section)
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(unknown)?;
    let current = table.get(field).ok_or_else(unknown)?;
    let value = if current.is_str() {
        toml::Value::String(raw.to_owned())
    } else {
        format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .ok_or_else(|| ConfigError::Invalid {
                origin: Some(format!("environment variable {name}")),
                message: format!("{raw:?} is not a valid value for {section}.{field}"),
            })?
    };
    table.insert(field.to_owned(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OrgKind;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn embedded_defaults_serve_loopback_with_the_example_pki() {
        let c = Config::default();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:7443");
        assert_eq!(c.tls.client_ca, PathBuf::from("certs-example/ca/ca.pem"));
        assert_eq!(c.storage.data_dir, PathBuf::from("schakel-data"));
        assert_eq!(c.log.format, LogFormat::Human);
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let c = Config::from_layers(
            Some(("test.toml", "[storage]\ndata_dir = \"/srv/schakel\"\n")),
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.storage.data_dir, PathBuf::from("/srv/schakel"));
        assert_eq!(c.storage.cache_capacity_mib, 64);
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:7443");
    }

    #[test]
    fn postgres_needs_its_url_and_a_client_identity_goes_whole() {
        let e = Config::from_layers(None, env(&[("SCHAKEL_STORAGE__ENGINE", "postgres")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("storage.postgres_url must be set")
                && e.contains("SCHAKEL_STORAGE__POSTGRES_URL"),
            "{e}"
        );
        let c = Config::from_layers(
            None,
            env(&[
                ("SCHAKEL_STORAGE__ENGINE", "postgres"),
                (
                    "SCHAKEL_STORAGE__POSTGRES_URL",
                    "postgres://s@db.example.nl/s",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.storage.engine, StorageEngine::Postgres);
        assert_eq!(c.storage.postgres_url, "postgres://s@db.example.nl/s");
        let e = Config::from_layers(
            None,
            env(&[("SCHAKEL_STORAGE__POSTGRES_CLIENT_CERT", "client.pem")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("go together"), "{e}");
        let e = Config::from_layers(None, env(&[("SCHAKEL_STORAGE__ENGINE", "oracle")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("SCHAKEL_STORAGE__ENGINE"), "{e}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = Config::from_layers(
            Some(("test.toml", "[server]\nlisten = \"127.0.0.1:1\"\n")),
            env(&[
                ("SCHAKEL_SERVER__LISTEN", "0.0.0.0:9443"),
                ("SCHAKEL_STORAGE__CACHE_CAPACITY_MIB", "128"),
                ("SCHAKEL_LOG__FORMAT", "json"),
                ("SCHAKEL_GATEWAY", "https://ignored.example"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:9443");
        assert_eq!(c.storage.cache_capacity_mib, 128);
        assert_eq!(c.log.format, LogFormat::Json);
    }

    #[test]
    fn a_batch_limit_the_rate_limit_or_the_frame_could_never_pass_is_refused() {
        let e = Config::from_layers(
            None,
            env(&[
                ("SCHAKEL_LIMITS__MAX_BATCH_MESSAGES", "300"),
                ("SCHAKEL_LIMITS__REQUEST_BURST", "200"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("limits.request_burst"), "{e}");
        let e = Config::from_layers(None, env(&[("SCHAKEL_LIMITS__MAX_MESSAGE_BYTES", "1024")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("limits.max_batch_messages must be at most 65"),
            "{e}"
        );
        // Without a rate limit, the burst does not bound the batch.
        Config::from_layers(
            None,
            env(&[
                ("SCHAKEL_LIMITS__MAX_BATCH_MESSAGES", "300"),
                ("SCHAKEL_LIMITS__REQUEST_BURST", "200"),
                ("SCHAKEL_LIMITS__REQUESTS_PER_SECOND", "0"),
            ]),
        )
        .unwrap();
    }

    #[test]
    fn a_batch_limit_outside_its_range_is_refused_with_its_name() {
        for bad in ["0", "10001"] {
            let e = Config::from_layers(None, env(&[("SCHAKEL_LIMITS__MAX_BATCH_MESSAGES", bad)]))
                .unwrap_err();
            assert!(e.to_string().contains("limits.max_batch_messages"), "{e}");
        }
        assert_eq!(Config::default().limits.max_batch_messages, 256);
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let e = Config::from_layers(Some(("t.toml", "[server]\nlissen = \"x\"\n")), env(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("lissen"), "{e}");
        let e = Config::from_layers(None, env(&[("SCHAKEL_SERVER__PORT", "1")])).unwrap_err();
        assert!(e.to_string().contains("SCHAKEL_SERVER__PORT"), "{e}");
    }

    #[test]
    fn a_statute_can_be_narrowed_but_not_widened() {
        let narrowed = Config::from_layers(
            Some((
                "t.toml",
                "[statutes.verwijsindex]\nfrom = [\"jgt\"]\nto = [\"verwijsindex\"]\nkinds = [\"signalering\"]\n",
            )),
            env(&[]),
        )
        .unwrap();
        assert_eq!(narrowed.statutes.verwijsindex.from, vec![OrgKind::Jgt]);
        let wider = [
            (
                "[statutes.verwijsindex]\nto = [\"verwijsindex\", \"jgt\"]\n",
                "statutes.verwijsindex.to: jgt is beyond what Jeugdwet ch. 7.1 allows (verwijsindex)",
            ),
            (
                "[statutes.meldrecht_veilig_thuis]\nkinds = [\"overdrachtsdossier\"]\n",
                "statutes.meldrecht_veilig_thuis.kinds: overdrachtsdossier is beyond what Wmo 2015 art. 5.2.6 allows",
            ),
            (
                "[statutes.overdracht_po]\nfrom = [\"school\", \"swv\"]\n",
                "statutes.overdracht_po.from: swv is beyond what WPO art. 42; WEC art. 43 allows (school)",
            ),
        ];
        for (file, message) in wider {
            let e = Config::from_layers(Some(("t.toml", file)), env(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(message), "{e}");
            assert!(e.contains("never widen it"), "{e}");
        }
    }

    #[test]
    fn the_audit_retention_has_a_floor_of_five_years() {
        let c = Config::default();
        assert_eq!(
            (c.audit.retention_days, c.exchange.retention_secs),
            (1826, 86_400)
        );
        let e = Config::from_layers(None, env(&[("SCHAKEL_AUDIT__RETENTION_DAYS", "1825")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("audit.retention_days must be at least 1826: five years")
                && e.contains("policy floor"),
            "{e}"
        );
        let e = Config::from_layers(None, env(&[("SCHAKEL_AUDIT__KEEP_ENTRIES_DAYS", "2000")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("audit.keep_entries_days must be 0"), "{e}");
        let kept = Config::from_layers(None, env(&[("SCHAKEL_AUDIT__KEEP_ENTRIES_DAYS", "2556")]));
        assert_eq!(kept.unwrap().audit.keep_entries_days, 2556);
    }

    #[test]
    fn bad_values_are_refused() {
        let e = Config::from_layers(
            None,
            env(&[("SCHAKEL_STORAGE__CACHE_CAPACITY_MIB", "lots")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("cache_capacity_mib"), "{e}");
        let e = Config::from_layers(None, env(&[("SCHAKEL_STORAGE__CACHE_CAPACITY_MIB", "0")]))
            .unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
        let e = Config::from_layers(None, env(&[("SCHAKEL_SERVER__LISTEN", "not an address")]))
            .unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
    }
}
