//! A consent: who may send what about one child, to whom, for which purpose
//! and period, as registered by the organisation that obtained it.

use serde::{Deserialize, Serialize};
use time::Date;

use super::ids::{CaseId, ConsentId, Oin};
use super::kind::Kind;
use super::participant::OrgKind;
use crate::crypto::ChildRef;

/// Who gave a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Giver {
    /// The holders of parental authority (child under 12).
    Parents,
    /// Parents and child together (child 12 to 15).
    ParentsAndChild,
    /// The young person alone (16 or older).
    YoungPerson,
}

impl Giver {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Giver::Parents => "parents",
            Giver::ParentsAndChild => "parents_and_child",
            Giver::YoungPerson => "young_person",
        }
    }
}

/// Who consented, in person. The law asks the holders of parental
/// authority (a parent, or a guardian the court appointed) and, from 12,
/// the young person too; a consent must show which of them agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consenter {
    /// A parent with parental authority.
    Parent,
    /// A guardian (voogd) with authority over the child.
    Guardian,
    /// The child or young person.
    YoungPerson,
}

impl Consenter {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Consenter::Parent => "parent",
            Consenter::Guardian => "guardian",
            Consenter::YoungPerson => "young_person",
        }
    }

    /// Who consents for `given_by` when the registrant did not say: a
    /// parent for the parents; a parent and the young person together.
    pub fn implied_by(given_by: Giver) -> Vec<Consenter> {
        match given_by {
            Giver::Parents => vec![Consenter::Parent],
            Giver::ParentsAndChild => vec![Consenter::Parent, Consenter::YoungPerson],
            Giver::YoungPerson => vec![Consenter::YoungPerson],
        }
    }
}

/// How a consent was obtained: the controller must be able to show that
/// consent was given (AVG art. 7(1)), and how says what proof exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Obtained {
    /// On a signed form.
    InWriting,
    /// In a conversation, recorded by the professional.
    Orally,
    /// Through a digital form or portal with authentication.
    Electronically,
    /// In a multidisciplinary meeting (MDO), recorded in its minutes.
    InMeeting,
}

impl Obtained {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Obtained::InWriting => "in_writing",
            Obtained::Orally => "orally",
            Obtained::Electronically => "electronically",
            Obtained::InMeeting => "in_meeting",
        }
    }
}

/// The purpose a consent serves, from the contract's fixed list, so that a
/// message under it can be bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Support at school (passend onderwijs).
    SupportAtSchool,
    /// Finding or coordinating youth care.
    YouthCare,
    /// Consultation about the child.
    Consultation,
    /// A placement or a move to another school.
    SchoolPlacement,
    /// One family, one plan: the family plan and its coordination.
    CareCoordination,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 5] = [
        Purpose::SupportAtSchool,
        Purpose::YouthCare,
        Purpose::Consultation,
        Purpose::SchoolPlacement,
        Purpose::CareCoordination,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SupportAtSchool => "support_at_school",
            Purpose::YouthCare => "youth_care",
            Purpose::Consultation => "consultation",
            Purpose::SchoolPlacement => "school_placement",
            Purpose::CareCoordination => "care_coordination",
        }
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a consent at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// Not valid yet.
    Pending,
    /// In force.
    Active,
    /// Withdrawn.
    Revoked,
    /// Past its end.
    Lapsed,
}

/// A birthday that changes what a consent covers: the day, the moment it
/// starts in the Netherlands, and the age the child reaches. Only such days
/// are kept, never the date of birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeMark {
    /// The birthday.
    #[serde(with = "iso_date")]
    pub on: Date,
    /// When it starts in the Netherlands (Unix ms).
    pub at_ms: i64,
    /// The age the child reaches on it.
    pub age: u8,
}

impl AgeMark {
    /// Why a consent of `given_by` lapses on this birthday, in words.
    pub fn lapse_reason(&self, given_by: Giver) -> String {
        match (self.age, given_by) {
            (12, _) => "the child turns 12: a consent of the parents alone no longer covers messages; from 12 the child consents with the parents".into(),
            (16, _) => "the young person turns 16 and decides alone from then on".into(),
            (18, Giver::Parents | Giver::ParentsAndChild) => "the young person turns 18: parental authority ends, and with it a consent given with the parents; the young adult consents alone".into(),
            (age, _) => format!("the young person turns {age}, the most consent.max_age allows: the gateway carries no consent past it"),
        }
    }
}

/// A stored consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// UUID v7.
    pub id: ConsentId,
    /// The organisation that registered it.
    pub registered_by: Oin,
    /// Keyed hash of the child's BSN; None once the consent's term is over
    /// and its record no longer names the child.
    #[serde(default)]
    pub child_ref: Option<ChildRef>,
    /// Who gave it.
    pub given_by: Giver,
    /// The date it was given.
    #[serde(with = "iso_date")]
    pub given_on: Date,
    /// Recipients covered by OIN.
    pub recipient_oins: Vec<Oin>,
    /// Recipients covered by kind.
    pub recipient_kinds: Vec<OrgKind>,
    /// Message kinds covered.
    pub message_kinds: Vec<Kind>,
    /// The purpose, as told to the parents.
    pub purpose: String,
    /// The purpose from the fixed list; None for consents registered
    /// before purposes were bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_code: Option<Purpose>,
    /// Start of validity (Unix ms).
    pub valid_from_ms: i64,
    /// End of validity (Unix ms).
    pub valid_until_ms: i64,
    /// When it was registered (Unix ms).
    pub created_at_ms: i64,
    /// When it was revoked (Unix ms).
    pub revoked_at_ms: Option<i64>,
    /// Why it was revoked.
    pub revoke_reason: String,
    /// Who revoked it: its registrant, or an organisation that received
    /// messages under it. None for consents revoked before this was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<Oin>,
    /// The birthday on which it lapses because of the child's age, if
    /// before its end. None for consents registered before ages were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lapse: Option<AgeMark>,
    /// For a consent of parents and child: the 16th birthday, from which
    /// the young person decides alone and it is to be reconfirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconfirm: Option<AgeMark>,
    /// Who agreed in person. Empty for consents registered before it was
    /// kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consented_by: Vec<Consenter>,
    /// How it was obtained; None when the registrant did not say, or for
    /// consents registered before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obtained: Option<Obtained>,
    /// A keyed reference of the child's date of birth with its BSN, so that
    /// a message naming another birth date is refused under it without the
    /// date being kept. None for consents registered before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_ref: Option<ChildRef>,
    /// For a consent obtained in a case's multidisciplinary meeting: the
    /// case whose parties send under it. None: only its registrant does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<CaseId>,
}

impl ConsentRecord {
    /// When it ends: its valid_until, or the start of the birthday on
    /// which it lapses, whichever comes first.
    pub fn ends_at_ms(&self) -> i64 {
        self.lapse
            .map_or(self.valid_until_ms, |l| l.at_ms.min(self.valid_until_ms))
    }

    /// Why it ends on the birthday `l`, in words.
    pub fn lapse_reason(&self, l: &AgeMark) -> String {
        l.lapse_reason(self.given_by)
    }

    /// Whether it ends on a birthday rather than at its valid_until.
    pub fn ends_by_age(&self) -> Option<AgeMark> {
        self.lapse.filter(|l| l.at_ms < self.valid_until_ms)
    }

    /// Its state at `now_ms`.
    pub fn state(&self, now_ms: i64) -> ConsentState {
        if self.revoked_at_ms.is_some() {
            ConsentState::Revoked
        } else if now_ms < self.valid_from_ms {
            ConsentState::Pending
        } else if now_ms >= self.ends_at_ms() {
            ConsentState::Lapsed
        } else {
            ConsentState::Active
        }
    }
}

/// Serde for a date written "YYYY-MM-DD", as stored consents hold it.
pub mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]");

    /// Parses "YYYY-MM-DD".
    pub fn parse(text: &str) -> Option<Date> {
        Date::parse(text, FORMAT).ok()
    }

    /// Writes "YYYY-MM-DD".
    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(d)
    }

    /// Reads "YYYY-MM-DD".
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not YYYY-MM-DD")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent() -> ConsentRecord {
        crate::model::examples::consent(crate::model::examples::oin(2), 100, 200)
    }

    #[test]
    fn the_state_follows_the_period_and_revocation() {
        let mut c = consent();
        assert_eq!(c.state(99), ConsentState::Pending);
        assert_eq!(c.state(100), ConsentState::Active);
        assert_eq!(c.state(199), ConsentState::Active);
        assert_eq!(c.state(200), ConsentState::Lapsed);
        c.revoked_at_ms = Some(150);
        assert_eq!(c.state(120), ConsentState::Revoked);
    }

    #[test]
    fn a_consent_ends_at_the_birthday_it_lapses_on() {
        let mut c = consent();
        c.lapse = Some(AgeMark {
            on: time::macros::date!(2026 - 12 - 01),
            at_ms: 150,
            age: 12,
        });
        assert_eq!(c.ends_at_ms(), 150);
        assert_eq!(c.state(149), ConsentState::Active);
        assert_eq!(c.state(150), ConsentState::Lapsed);
        assert!(
            c.lapse_reason(&c.ends_by_age().unwrap())
                .contains("turns 12")
        );
        c.lapse.as_mut().unwrap().at_ms = 500;
        assert_eq!((c.ends_at_ms(), c.ends_by_age()), (200, None));
    }

    #[test]
    fn the_date_it_was_given_is_stored_as_text() {
        let json = serde_json::to_value(consent()).unwrap();
        assert_eq!(json["given_on"], "2026-01-31");
        let mut bad = json.clone();
        bad["given_on"] = "31-01-2026".into();
        assert!(serde_json::from_value::<ConsentRecord>(bad).is_err());
        assert_eq!(
            serde_json::from_value::<ConsentRecord>(json).unwrap(),
            consent()
        );
    }
}
