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
    /// A version of a case's plan (the family plan, or an OPP), to a party
    /// of the case.
    Plan,
    /// A party's response to a version of the plan.
    Planreactie,
    /// The case's multidisciplinary meeting: its invitation or minutes.
    Overleg,
    /// A school board's request to its samenwerkingsverband for an
    /// arrangement or a TLV.
    Aanvraag,
    /// The samenwerkingsverband's decision on such a request.
    Besluit,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 11] = [
        Kind::Signalering,
        Kind::Overdrachtsdossier,
        Kind::Consultatieverzoek,
        Kind::Consultatieantwoord,
        Kind::Notice,
        Kind::Matchmelding,
        Kind::Plan,
        Kind::Planreactie,
        Kind::Overleg,
        Kind::Aanvraag,
        Kind::Besluit,
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
            Kind::Plan => "plan",
            Kind::Planreactie => "planreactie",
            Kind::Overleg => "overleg",
            Kind::Aanvraag => "aanvraag",
            Kind::Besluit => "besluit",
        }
    }

    /// The kind of message a reply of this kind answers, if it is a reply:
    /// it names that message in `in_reply_to` and goes to its sender.
    pub fn answers(self) -> Option<Kind> {
        match self {
            Kind::Consultatieantwoord => Some(Kind::Consultatieverzoek),
            Kind::Planreactie => Some(Kind::Plan),
            Kind::Besluit => Some(Kind::Aanvraag),
            _ => None,
        }
    }

    /// Whether a message of this kind belongs to a case it names and goes
    /// to a party of it: the plan and the meeting.
    pub fn is_of_case(self) -> bool {
        matches!(self, Kind::Plan | Kind::Overleg)
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
