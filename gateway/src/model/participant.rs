//! A participant: an organisation that may use the gateway, its kind and the
//! codes it is known by.

use serde::{Deserialize, Serialize};

use super::ids::Oin;
use crate::crypto::Digest;

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
    /// Veilig Thuis: the regional advice and reporting centre for domestic
    /// violence and child abuse (Wmo 2015 art. 4.1.1), the one recipient of
    /// the reporting right of art. 5.2.6.
    #[serde(rename = "veilig_thuis")]
    VeiligThuis,
    /// The national Verwijsindex risicojongeren (Jeugdwet ch. 7.1): the one
    /// recipient of signals on the Verwijsindex basis.
    Verwijsindex,
}

impl OrgKind {
    /// Every kind, in the order they are listed to users.
    pub const ALL: [OrgKind; 7] = [
        OrgKind::School,
        OrgKind::Swv,
        OrgKind::Jgt,
        OrgKind::Gemeente,
        OrgKind::Operator,
        OrgKind::VeiligThuis,
        OrgKind::Verwijsindex,
    ];

    /// The kinds that are professional organisations working with children
    /// (everyone but the operator and the national index): those the
    /// reporting right towards Veilig Thuis applies to.
    pub const PROFESSIONAL: [OrgKind; 5] = [
        OrgKind::School,
        OrgKind::Swv,
        OrgKind::Jgt,
        OrgKind::Gemeente,
        OrgKind::VeiligThuis,
    ];

    /// The lowercase name used in files, the CLI and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::School => "school",
            OrgKind::Swv => "swv",
            OrgKind::Jgt => "jgt",
            OrgKind::Gemeente => "gemeente",
            OrgKind::Operator => "operator",
            OrgKind::VeiligThuis => "veilig_thuis",
            OrgKind::Verwijsindex => "verwijsindex",
        }
    }

    /// The names of `kinds`, comma-separated, for refusals.
    pub fn names(kinds: &[OrgKind]) -> String {
        kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A school's sector, as DUO's BRIN data name it. The law treats them
/// differently: the onderwijskundig rapport of WPO art. 42 and WEC art. 43
/// is for primary and special education.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sector {
    /// Primary education (basisonderwijs).
    Po,
    /// Special primary education (speciaal basisonderwijs).
    Sbo,
    /// Special education (speciaal onderwijs).
    So,
    /// Secondary special education (voortgezet speciaal onderwijs).
    Vso,
    /// Secondary education (voortgezet onderwijs).
    Vo,
}

impl Sector {
    /// Every sector.
    pub const ALL: [Sector; 5] = [Sector::Po, Sector::Sbo, Sector::So, Sector::Vso, Sector::Vo];

    /// The lowercase name used in files, the CLI and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Sector::Po => "po",
            Sector::Sbo => "sbo",
            Sector::So => "so",
            Sector::Vso => "vso",
            Sector::Vo => "vo",
        }
    }
}

impl std::fmt::Display for Sector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    /// The OIN: the identity in its client certificate.
    pub oin: Oin,
    /// The legal name.
    pub name: String,
    /// The kind.
    pub kind: OrgKind,
    /// Other identifiers.
    #[serde(default)]
    pub codes: Codes,
    /// A school's sector; None for other kinds, and for schools registered
    /// before the directory knew sectors (the statutes that depend on it
    /// then refuse, naming what to set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<Sector>,
    /// Active or suspended.
    #[serde(default)]
    pub status: Status,
    /// Why it was suspended.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub suspended_reason: String,
    /// Accepted certificate fingerprints (SHA-256 of the DER; written as
    /// lowercase hex); empty accepts any certificate for this OIN from the
    /// trusted CA.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pinned_cert_sha256: Vec<Digest>,
    /// When the entry last changed (Unix seconds).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub updated_at: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl Participant {
    /// A new, active participant with no codes or pins.
    pub fn new(oin: Oin, name: impl Into<String>, kind: OrgKind) -> Self {
        Self {
            oin,
            name: name.into(),
            kind,
            codes: Codes::default(),
            sector: None,
            status: Status::Active,
            suspended_reason: String::new(),
            pinned_cert_sha256: Vec::new(),
            updated_at: 0,
        }
    }

    /// Whether the participant may use the gateway now.
    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    /// Whether it runs the gateway.
    pub fn is_operator(&self) -> bool {
        self.kind == OrgKind::Operator
    }
}
