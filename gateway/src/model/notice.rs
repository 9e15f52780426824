//! The gateway's notices: what an organisation must act on (a consent about
//! to lapse or to be reconfirmed, messages overdue, a consent revoked by
//! another organisation), scheduled when the reason arises and put in the
//! organisation's inbox when it is due.

use serde::{Deserialize, Serialize};
use time::Date;

use super::consent::iso_date;
use super::ids::{ConsentId, MessageId, Oin};

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeType {
    /// A consent lapses soon (its end, or a birthday).
    ConsentLapsing,
    /// The young person turns 16: reconfirm the consent with them.
    ConsentReconfirm,
    /// Messages were not acknowledged within 3 working days.
    MessageOverdue,
    /// Another organisation revoked a consent.
    ConsentRevoked,
    /// The day by which the family was to be informed of a signal passed.
    InformingDue,
}

impl NoticeType {
    /// The snake_case name, as audit entries name it.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeType::ConsentLapsing => "consent_lapsing",
            NoticeType::ConsentReconfirm => "consent_reconfirm",
            NoticeType::MessageOverdue => "message_overdue",
            NoticeType::ConsentRevoked => "consent_revoked",
            NoticeType::InformingDue => "informing_due",
        }
    }
}

/// What must still hold when a scheduled notice is due, for it to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Nothing: send it.
    Always,
    /// The consent is still in force (not revoked, not lapsed).
    ConsentInForce(ConsentId),
    /// The message is still undelivered (not final).
    Undelivered(MessageId),
    /// The signal is in force and the family is still not informed of it.
    InformingPending(MessageId),
}

/// A notice as it is scheduled: its content and its condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeDraft {
    /// The organisation it goes to.
    pub recipient: Oin,
    /// What it is about.
    pub notice_type: NoticeType,
    /// The consent concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<ConsentId>,
    /// The messages concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_ids: Vec<MessageId>,
    /// The day the event takes effect.
    #[serde(
        default,
        serialize_with = "write_date",
        deserialize_with = "read_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_on: Option<Date>,
    /// What happened and what to do.
    pub text: String,
    /// Who revoked the consent, for a revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<Oin>,
    /// What must still hold when it is due.
    pub condition: Condition,
}

/// A notice and when it is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// When to send it (Unix ms).
    pub at_ms: i64,
    /// The notice.
    pub notice: NoticeDraft,
}

/// Writes an optional date as "YYYY-MM-DD" (or null).
fn write_date<S: serde::Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => iso_date::serialize(d, s),
        None => s.serialize_none(),
    }
}

/// Reads an optional "YYYY-MM-DD".
fn read_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| {
        iso_date::parse(&t)
            .ok_or_else(|| serde::de::Error::custom(format!("{t:?} is not YYYY-MM-DD")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_notice_is_stored_as_json() {
        let n = NoticeDraft {
            recipient: Oin::parse("00000099100000000001").unwrap(),
            notice_type: NoticeType::ConsentLapsing,
            consent_id: Some(ConsentId::new_v7()),
            message_ids: vec![],
            due_on: Some(time::macros::date!(2027 - 01 - 31)),
            text: "t".into(),
            revoked_by: None,
            condition: Condition::Always,
        };
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["due_on"], "2027-01-31");
        assert_eq!(json["notice_type"], "consent_lapsing");
        assert_eq!(serde_json::from_value::<NoticeDraft>(json).unwrap(), n);
    }
}
