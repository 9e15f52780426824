//! The participant directory: who may use the gateway, as what kind of
//! organisation, and under which codes.
//!
//! The store is the source of truth. A TOML file seeds it at every start, but
//! only with participants the store does not know yet: once an operator has
//! changed or suspended a participant through the Admin service, a restart
//! with the original file does not undo that. Every change is durable before
//! the call that made it returns.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

/// The kind of organisation, as routing policy and consent scopes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgKind {
    /// A school (PO or VO), or one vestiging of it.
    School,
    /// A samenwerkingsverband passend onderwijs.
    Swv,
    /// A jeugd- en gezinsteam.
    Jgt,
    /// A municipality.
    Gemeente,
    /// The party that runs the gateway.
    Operator,
}

impl OrgKind {
    /// The lowercase name used in files, the CLI and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::School => "school",
            OrgKind::Swv => "swv",
            OrgKind::Jgt => "jgt",
            OrgKind::Gemeente => "gemeente",
            OrgKind::Operator => "operator",
        }
    }
}

impl std::fmt::Display for OrgKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a participant may use the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// May send and receive.
    #[default]
    Active,
    /// Refused from its next call on.
    Suspended,
}

/// The codes an organisation is known by besides its OIN. Empty means absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Codes {
    /// BRIN: 2 digits and 2 capital letters.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub brin: String,
    /// Vestiging: 2 digits.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub vestiging: String,
    /// AGB code: 8 digits.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub agb: String,
    /// CBS gemeentecode: "GM" and 4 digits.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gemeentecode: String,
    /// SWV number: "PO" or "VO", a space, 4 digits.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub swv_number: String,
}

/// One organisation in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// The OIN, 20 digits: the identity in its client certificate.
    pub oin: String,
    /// The legal name.
    pub name: String,
    /// The kind.
    pub kind: OrgKind,
    /// Other identifiers.
    #[serde(default)]
    pub codes: Codes,
    /// Active or suspended.
    #[serde(default)]
    pub status: Status,
    /// Why it was suspended.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub suspended_reason: String,
    /// Accepted certificate fingerprints (SHA-256 of the DER, lowercase hex);
    /// empty accepts any certificate for this OIN from the trusted CA.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pinned_cert_sha256: Vec<String>,
    /// When the entry last changed (Unix seconds).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub updated_at: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// A rule that a participant entry broke. The text names the field and the
/// rule, so that it can go straight into an INVALID_ARGUMENT status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct InvalidField {
    /// The field.
    pub field: &'static str,
    /// The rule it broke.
    pub rule: String,
}

fn invalid(field: &'static str, rule: impl Into<String>) -> InvalidField {
    InvalidField {
        field,
        rule: rule.into(),
    }
}

/// Checks that `oin` is an OIN: exactly 20 ASCII digits.
pub fn check_oin(field: &'static str, oin: &str) -> Result<(), InvalidField> {
    if oin.len() == 20 && oin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid(field, "must be an OIN of exactly 20 digits"))
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

impl Participant {
    /// Checks every field and the codes its kind needs.
    pub fn validate(&self) -> Result<(), InvalidField> {
        check_oin("oin", &self.oin)?;
        let name = self.name.trim();
        if name.is_empty() || self.name.chars().count() > 200 {
            return Err(invalid("name", "must be 1 to 200 characters"));
        }
        let c = &self.codes;
        if !c.brin.is_empty() {
            let b = c.brin.as_bytes();
            if !(b.len() == 4
                && b[..2].iter().all(u8::is_ascii_digit)
                && b[2..].iter().all(u8::is_ascii_uppercase))
            {
                return Err(invalid(
                    "codes.brin",
                    "must be 2 digits and 2 capital letters, e.g. 12AB",
                ));
            }
        }
        if !c.vestiging.is_empty() && !digits(&c.vestiging, 2) {
            return Err(invalid("codes.vestiging", "must be 2 digits"));
        }
        if !c.vestiging.is_empty() && c.brin.is_empty() {
            return Err(invalid("codes.vestiging", "needs codes.brin"));
        }
        if !c.agb.is_empty() && !digits(&c.agb, 8) {
            return Err(invalid("codes.agb", "must be 8 digits"));
        }
        let gemeentecode_ok = c
            .gemeentecode
            .strip_prefix("GM")
            .is_some_and(|n| digits(n, 4));
        if !c.gemeentecode.is_empty() && !gemeentecode_ok {
            return Err(invalid(
                "codes.gemeentecode",
                "must be GM and 4 digits, e.g. GM0546",
            ));
        }
        if !c.swv_number.is_empty() {
            let ok = c
                .swv_number
                .strip_prefix("PO ")
                .or_else(|| c.swv_number.strip_prefix("VO "))
                .is_some_and(|n| digits(n, 4));
            if !ok {
                return Err(invalid(
                    "codes.swv_number",
                    "must be PO or VO, a space and 4 digits, e.g. PO 2801",
                ));
            }
        }
        match self.kind {
            OrgKind::School if c.brin.is_empty() => {
                return Err(invalid("codes.brin", "is required for a school"));
            }
            OrgKind::Swv if c.swv_number.is_empty() => {
                return Err(invalid(
                    "codes.swv_number",
                    "is required for a samenwerkingsverband",
                ));
            }
            OrgKind::Gemeente if c.gemeentecode.is_empty() => {
                return Err(invalid("codes.gemeentecode", "is required for a gemeente"));
            }
            _ => {}
        }
        for pin in &self.pinned_cert_sha256 {
            if !(pin.len() == 64
                && pin
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            {
                return Err(invalid(
                    "pinned_cert_sha256",
                    "each pin must be 64 lowercase hex characters",
                ));
            }
        }
        Ok(())
    }

    /// Whether the participant may use the gateway now.
    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }
}

/// The seed file: a list of `[[participant]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    participant: Vec<Participant>,
}

/// Why the directory could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The seed file could not be read or parsed.
    #[error("directory file {path}: {message}")]
    SeedFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An entry is not valid.
    #[error("invalid participant: {0}")]
    Invalid(#[from] InvalidField),
    /// The OIN is already in the directory.
    #[error("participant {0} already exists")]
    Exists(String),
    /// The OIN is not in the directory.
    #[error("participant {0} is not in the directory")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads and checks a seed file.
pub fn read_seed_file(path: &Path) -> Result<Vec<Participant>, DirectoryError> {
    let seed_err = |message: String| DirectoryError::SeedFile {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| seed_err(e.to_string()))?;
    let seed: SeedFile = toml::from_str(&text).map_err(|e| seed_err(e.to_string()))?;
    let mut seen = std::collections::HashSet::new();
    for p in &seed.participant {
        p.validate()
            .map_err(|e| seed_err(format!("participant {}: {e}", p.oin)))?;
        if !seen.insert(p.oin.clone()) {
            return Err(seed_err(format!("participant {} is listed twice", p.oin)));
        }
    }
    Ok(seed.participant)
}

/// Renders participants as a seed file, for the example PKI.
pub fn write_seed_file(participants: &[Participant]) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        participant: &'a [Participant],
    }
    toml::to_string(&Out {
        participant: participants,
    })
    .expect("participants serialise")
}

/// A search in the directory: one criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// By OIN.
    Oin(String),
    /// By BRIN.
    Brin(String),
    /// By AGB code.
    Agb(String),
    /// By gemeentecode.
    Gemeentecode(String),
    /// By SWV number.
    SwvNumber(String),
    /// By kind.
    Kind(OrgKind),
}

impl Query {
    fn matches(&self, p: &Participant) -> bool {
        match self {
            Query::Oin(v) => &p.oin == v,
            Query::Brin(v) => &p.codes.brin == v,
            Query::Agb(v) => &p.codes.agb == v,
            Query::Gemeentecode(v) => &p.codes.gemeentecode == v,
            Query::SwvNumber(v) => &p.codes.swv_number == v,
            Query::Kind(k) => p.kind == *k,
        }
    }
}

/// The directory over the store.
#[derive(Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
}

fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The audit entry of a directory change.
fn change_entry(actor: &str, p: &Participant, detail: String) -> crate::audit::Draft {
    crate::audit::Draft {
        actor: actor.to_owned(),
        action: Some(crate::audit::Action::DirectoryChanged),
        counterpart: p.oin.clone(),
        detail,
        ..crate::audit::Draft::default()
    }
}

impl Directory {
    /// A directory backed by `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Adds the seed file's participants that the store does not know yet;
    /// returns how many were added.
    pub async fn seed(&self, participants: Vec<Participant>) -> Result<usize, DirectoryError> {
        let mut added = 0;
        for mut p in participants {
            p.updated_at = now_secs();
            let draft = change_entry(
                crate::audit::GATEWAY_ACTOR,
                &p,
                "added from the directory file".into(),
            );
            if self.store.insert_participant(&p, draft, now_ms()).await? {
                added += 1;
            }
        }
        Ok(added)
    }

    /// The participant with this OIN, if any.
    pub async fn get(&self, oin: &str) -> Result<Option<Participant>, DirectoryError> {
        Ok(self.store.participant(oin).await?)
    }

    /// Every participant, ordered by OIN.
    pub async fn all(&self) -> Result<Vec<Participant>, DirectoryError> {
        Ok(self.store.participants().await?)
    }

    /// Participants matching `query`, ordered by OIN.
    pub async fn lookup(&self, query: &Query) -> Result<Vec<Participant>, DirectoryError> {
        if let Query::Oin(oin) = query {
            return Ok(self.get(oin).await?.into_iter().collect());
        }
        Ok(self
            .all()
            .await?
            .into_iter()
            .filter(|p| query.matches(p))
            .collect())
    }

    /// Adds a new participant; `actor` is the operator.
    pub async fn add(
        &self,
        actor: &str,
        mut p: Participant,
    ) -> Result<Participant, DirectoryError> {
        p.validate()?;
        p.status = Status::Active;
        p.suspended_reason.clear();
        p.updated_at = now_secs();
        let draft = change_entry(actor, &p, format!("added as {}: {}", p.kind, p.name));
        if !self.store.insert_participant(&p, draft, now_ms()).await? {
            return Err(DirectoryError::Exists(p.oin));
        }
        Ok(p)
    }

    /// Replaces name, kind, codes and pins of an existing participant; its
    /// status stays as it is.
    pub async fn update(&self, actor: &str, p: Participant) -> Result<Participant, DirectoryError> {
        p.validate()?;
        let detail = format!(
            "changed: {} ({}), {} pinned certificates",
            p.name,
            p.kind,
            p.pinned_cert_sha256.len()
        );
        self.change(actor, &p.oin.clone(), detail, move |cur| {
            cur.name = p.name;
            cur.kind = p.kind;
            cur.codes = p.codes;
            cur.pinned_cert_sha256 = p.pinned_cert_sha256;
        })
        .await
    }

    /// Suspends a participant; it is refused from its next call on.
    pub async fn suspend(
        &self,
        actor: &str,
        oin: &str,
        reason: &str,
    ) -> Result<Participant, DirectoryError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 256 {
            return Err(invalid("reason", "must be 1 to 256 characters").into());
        }
        let reason = reason.to_owned();
        self.change(actor, oin, format!("suspended: {reason}"), move |cur| {
            cur.status = Status::Suspended;
            cur.suspended_reason = reason;
        })
        .await
    }

    /// Lifts a suspension.
    pub async fn reinstate(&self, actor: &str, oin: &str) -> Result<Participant, DirectoryError> {
        self.change(actor, oin, "reinstated".into(), |cur| {
            cur.status = Status::Active;
            cur.suspended_reason.clear();
        })
        .await
    }

    async fn change(
        &self,
        actor: &str,
        oin: &str,
        detail: String,
        edit: impl FnOnce(&mut Participant),
    ) -> Result<Participant, DirectoryError> {
        let mut cur = self
            .store
            .participant(oin)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(oin.to_owned()))?;
        edit(&mut cur);
        cur.updated_at = now_secs();
        let draft = change_entry(actor, &cur, detail);
        self.store.put_participant(&cur, draft, now_ms()).await?;
        Ok(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn school() -> Participant {
        Participant {
            oin: "00000099100000000001".into(),
            name: "Basisschool De Regenboog".into(),
            kind: OrgKind::School,
            codes: Codes {
                brin: "99AA".into(),
                vestiging: "00".into(),
                ..Codes::default()
            },
            status: Status::Active,
            suspended_reason: String::new(),
            pinned_cert_sha256: vec![],
            updated_at: 0,
        }
    }

    #[test]
    fn a_valid_school_passes() {
        school().validate().unwrap();
    }

    #[test]
    fn each_rule_names_its_field() {
        type Edit = fn(&mut Participant);
        let cases: Vec<(Edit, &str)> = vec![
            (|p| p.oin = "123".into(), "oin"),
            (|p| p.oin = "0000009910000000000X".into(), "oin"),
            (|p| p.name = "  ".into(), "name"),
            (|p| p.codes.brin = "AB12".into(), "codes.brin"),
            (|p| p.codes.vestiging = "1".into(), "codes.vestiging"),
            (|p| p.codes.agb = "1234".into(), "codes.agb"),
            (
                |p| p.codes.gemeentecode = "0546".into(),
                "codes.gemeentecode",
            ),
            (|p| p.codes.swv_number = "2801".into(), "codes.swv_number"),
            (|p| p.codes = Codes::default(), "codes.brin"),
            (
                |p| p.pinned_cert_sha256 = vec!["XYZ".into()],
                "pinned_cert_sha256",
            ),
            (
                |p| {
                    p.kind = OrgKind::Gemeente;
                },
                "codes.gemeentecode",
            ),
            (
                |p| {
                    p.kind = OrgKind::Swv;
                },
                "codes.swv_number",
            ),
        ];
        for (edit, field) in cases {
            let mut p = school();
            edit(&mut p);
            assert_eq!(p.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn the_seed_file_round_trips_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.toml");
        std::fs::write(&path, write_seed_file(&[school()])).unwrap();
        assert_eq!(read_seed_file(&path).unwrap(), vec![school()]);
        std::fs::write(&path, write_seed_file(&[school(), school()])).unwrap();
        let e = read_seed_file(&path).unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
    }
}
