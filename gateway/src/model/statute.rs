//! The statutory bases, and what each covers in law: which kinds of
//! organisation may send on it, to which kinds, which kinds of message, and
//! under which condition. This table is the ceiling: the configuration may
//! narrow a statute, never widen it, and the rules in `policy::statutes`
//! check the conditions.

use serde::{Deserialize, Serialize};

use super::kind::Kind;
use super::participant::OrgKind;

/// A statutory basis from the fixed list in the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statute {
    /// The onderwijskundig rapport (WPO art. 42; WEC art. 43). Named
    /// `overdracht_po` since the first release, which is how it is stored
    /// and configured.
    OverdrachtPo,
    /// A signal in the Verwijsindex risicojongeren (Jeugdwet ch. 7.1).
    Verwijsindex,
    /// The reporting right towards Veilig Thuis (Wmo 2015 art. 5.2.6).
    MeldrechtVeiligThuis,
    /// Passend onderwijs (WPO art. 18a; WVO art. 17a; WEC art. 40): the
    /// samenwerkingsverband's task to decide on arrangements and TLVs.
    PassendOnderwijs,
}

/// What a statute covers in law.
#[derive(Debug)]
pub struct Law {
    /// Where it is written.
    pub citation: &'static str,
    /// The kinds of organisation that may send on it.
    pub from: &'static [OrgKind],
    /// The kinds of organisation that may receive on it.
    pub to: &'static [OrgKind],
    /// The kinds of message it carries.
    pub kinds: &'static [Kind],
    /// Its condition, in words, as refusals and the docs name it.
    pub condition: &'static str,
}

const ONDERWIJSKUNDIG_RAPPORT: Law = Law {
    citation: "WPO art. 42; WEC art. 43",
    from: &[OrgKind::School],
    to: &[OrgKind::School],
    kinds: &[Kind::Overdrachtsdossier],
    condition: "from a school of sector po, sbo, so or vso to the school the pupil goes to, with a profile that starts in primary or special education; the parents have seen the dossier",
};

const VERWIJSINDEX: Law = Law {
    citation: "Jeugdwet ch. 7.1",
    from: &[
        OrgKind::School,
        OrgKind::Swv,
        OrgKind::Jgt,
        OrgKind::Gemeente,
    ],
    to: &[OrgKind::Verwijsindex],
    kinds: &[Kind::Signalering],
    condition: "to the Verwijsindex itself; the parents informed while the youth is under 16, the youth from 12, or the reason for postponing it given",
};

const MELDRECHT: Law = Law {
    citation: "Wmo 2015 art. 5.2.6",
    from: &[
        OrgKind::School,
        OrgKind::Swv,
        OrgKind::Jgt,
        OrgKind::Gemeente,
        OrgKind::VeiligThuis,
    ],
    to: &[
        OrgKind::VeiligThuis,
        OrgKind::School,
        OrgKind::Swv,
        OrgKind::Jgt,
        OrgKind::Gemeente,
    ],
    kinds: &[
        Kind::Signalering,
        Kind::Consultatieverzoek,
        Kind::Consultatieantwoord,
    ],
    condition: "to Veilig Thuis (a signal or a question), or Veilig Thuis's own request for information and the reply to it; the sender declares the information necessary to end, or investigate a reasonable suspicion of, domestic violence or child abuse",
};

const PASSEND_ONDERWIJS: Law = Law {
    citation: "WPO art. 18a; WVO art. 17a; WEC art. 40",
    from: &[OrgKind::School, OrgKind::Swv],
    to: &[OrgKind::Swv, OrgKind::School],
    kinds: &[Kind::Aanvraag, Kind::Besluit],
    condition: "a school board's request to its samenwerkingsverband for an arrangement or a TLV, with the pupil's OPP attached and discussed with the parents; and the samenwerkingsverband's decision to the school that asked",
};

impl Statute {
    /// Every statute.
    pub const ALL: [Statute; 4] = [
        Statute::OverdrachtPo,
        Statute::Verwijsindex,
        Statute::MeldrechtVeiligThuis,
        Statute::PassendOnderwijs,
    ];

    /// The name used in configuration, the CLI and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Statute::OverdrachtPo => "overdracht_po",
            Statute::Verwijsindex => "verwijsindex",
            Statute::MeldrechtVeiligThuis => "meldrecht_veilig_thuis",
            Statute::PassendOnderwijs => "passend_onderwijs",
        }
    }

    /// What it covers in law.
    pub fn law(self) -> &'static Law {
        match self {
            Statute::OverdrachtPo => &ONDERWIJSKUNDIG_RAPPORT,
            Statute::Verwijsindex => &VERWIJSINDEX,
            Statute::MeldrechtVeiligThuis => &MELDRECHT,
            Statute::PassendOnderwijs => &PASSEND_ONDERWIJS,
        }
    }
}

impl std::fmt::Display for Statute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.law().citation)
    }
}
