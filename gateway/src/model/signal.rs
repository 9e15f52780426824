//! A signal's life in the Verwijsindex after it was sent: what the gateway
//! keeps about it (a postponed informing, a withdrawal, how late it may
//! lapse) and the changes its signaller sends.

use serde::{Deserialize, Serialize};

use super::ids::{MessageId, Oin};

/// What the gateway keeps about a signal besides its lapse, so that its
/// changes and match notices can be checked. Stored sealed with the child
/// reference: the lapse limit follows from the birth date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalFacts {
    /// The latest moment the signal may lapse (Unix ms): the start of the
    /// youth's 23rd birthday, in the Netherlands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lapse_limit_ms: Option<i64>,
    /// Where informing the family was postponed: the end of the day by
    /// which it is to be done (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inform_by_ms: Option<i64>,
    /// When the signaller said the family was informed after a
    /// postponement (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub informed_at_ms: Option<i64>,
    /// When the signaller withdrew the signal (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_at_ms: Option<i64>,
}

/// What a signaller changes about its signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalChange {
    /// The signal ends now.
    Withdraw,
    /// The signal lapses later: at this moment (Unix ms, the end of its new
    /// last valid day).
    Extend {
        /// The new lapse.
        lapses_at_ms: i64,
    },
    /// The family was informed after a postponement.
    Informed {
        /// The parents were told.
        parents: bool,
        /// The youth was told.
        youth: bool,
    },
}

impl SignalChange {
    /// The change in words, for audit entries.
    pub fn describe(self) -> String {
        match self {
            SignalChange::Withdraw => "withdrawn by its signaller".into(),
            SignalChange::Extend { lapses_at_ms } => format!(
                "extended by its signaller: valid until {}",
                schakel_proto::calendar::local_date_of_ms(lapses_at_ms - 1)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ),
            SignalChange::Informed { parents, youth } => format!(
                "informing done after its postponement: {}",
                match (parents, youth) {
                    (true, true) => "the parents and the youth were informed",
                    (true, false) => "the parents were informed",
                    _ => "the youth was informed",
                }
            ),
        }
    }
}

/// The signals a message refers to besides a reply's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalRef {
    /// A change of one of the sender's signals.
    Change {
        /// The signal.
        signal: MessageId,
        /// What changes.
        change: SignalChange,
    },
    /// A match notice of the Verwijsindex.
    Match {
        /// The recipient's signal.
        signal: MessageId,
        /// The other signaller's signal.
        other: MessageId,
        /// Who sent the other signal, as the notice names it.
        other_signaller: Oin,
    },
}

impl SignalRef {
    /// The signal the message is first about: the one changed, or the
    /// recipient's own.
    pub fn signal(&self) -> &MessageId {
        match self {
            SignalRef::Change { signal, .. } | SignalRef::Match { signal, .. } => signal,
        }
    }

    /// The second signal it names: a match's other signaller's.
    pub fn other(&self) -> Option<&MessageId> {
        match self {
            SignalRef::Change { .. } => None,
            SignalRef::Match { other, .. } => Some(other),
        }
    }
}
