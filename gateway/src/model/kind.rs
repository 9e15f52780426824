//! The kinds of message: what routing, statutes, consents and the audit
//! trail are written in terms of.

use serde::{Deserialize, Serialize};

/// The kinds of message: the four organisations send, and the gateway's
/// own notices.
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
    /// A notice from the gateway to an organisation: something to act on.
    /// Only the gateway makes one; it has no receipts.
    Notice,
    /// The Verwijsindex's match notice to a signaller: who else signalled
    /// the same youth. Only the Verwijsindex sends one.
    Matchmelding,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 6] = [
        Kind::Signalering,
        Kind::Overdrachtsdossier,
        Kind::Consultatieverzoek,
        Kind::Consultatieantwoord,
        Kind::Notice,
        Kind::Matchmelding,
    ];

    /// The lowercase name used in configuration, logs and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Signalering => "signalering",
            Kind::Overdrachtsdossier => "overdrachtsdossier",
            Kind::Consultatieverzoek => "consultatieverzoek",
            Kind::Consultatieantwoord => "consultatieantwoord",
            Kind::Notice => "notice",
            Kind::Matchmelding => "matchmelding",
        }
    }

    /// Whether organisations send messages of this kind (and their senders
    /// get receipts): every kind but the gateway's notice.
    pub fn is_sent_by_organisations(self) -> bool {
        self != Kind::Notice
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
