//! The kinds of message: what routing, statutes, consents and the audit
//! trail are written in terms of.

use serde::{Deserialize, Serialize};

/// The four kinds of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A signal of concern.
    Signalering,
    /// A transfer dossier.
    Overdrachtsdossier,
    /// A request for consultation.
    Consultatieverzoek,
    /// A reply to a request for consultation.
    Consultatieantwoord,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [
        Kind::Signalering,
        Kind::Overdrachtsdossier,
        Kind::Consultatieverzoek,
        Kind::Consultatieantwoord,
    ];

    /// The lowercase name used in configuration, logs and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Signalering => "signalering",
            Kind::Overdrachtsdossier => "overdrachtsdossier",
            Kind::Consultatieverzoek => "consultatieverzoek",
            Kind::Consultatieantwoord => "consultatieantwoord",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
