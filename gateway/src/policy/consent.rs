//! When a consent is valid and what it covers: the age rules (who must give
//! it), the scope of a grant, and the conditions a message must meet to
//! travel under it. Each refusal says which condition failed.

use time::Date;

use super::fields::{BSN_RULE, case_id, date, oin};
use super::payloads::add_years;
use super::{Violation, bsn, invalid};
use crate::clock::{local_date_of_ms, start_of_day_ms};
use crate::config::ConsentConfig;
use crate::crypto::ChildRef;
use crate::model::{
    AgeMark, CaseId, ConsentRecord, ConsentState, Consenter, Giver, Kind, Obtained, Oin, OrgKind,
    Participant, Purpose,
};

/// The most organisations one consent names: those around one child, not a
/// directory. A grant naming more is refused, so that one caller cannot
/// make a consent (and every answer listing it) arbitrarily large.
pub const MAX_RECIPIENT_OINS: usize = 50;

/// Full years between `birth` and `on`.
pub fn age_on(birth: Date, on: Date) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month() as u8, on.day()) < (birth.month() as u8, birth.day()) {
        age -= 1;
    }
    age
}

/// Who must consent for a child of `age` full years: under 12 the parents,
/// 12 to 15 parents and child together, from 16 the young person alone.
pub fn required_giver(age: i32) -> Giver {
    match age {
        ..12 => Giver::Parents,
        12..=15 => Giver::ParentsAndChild,
        _ => Giver::YoungPerson,
    }
}

/// A consent to register, as the registering organisation states it.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The child's BSN (turned into a child reference before storing).
    pub bsn: String,
    /// The child's date of birth, "YYYY-MM-DD" (checked, never stored).
    pub birth_date: String,
    /// Who gave it.
    pub given_by: Option<Giver>,
    /// Who agreed in person (empty: as `given_by` implies).
    pub consented_by: Vec<Consenter>,
    /// How it was obtained (None: not stated).
    pub obtained: Option<Obtained>,
    /// The date it was given, "YYYY-MM-DD" (empty: today).
    pub given_on: String,
    /// Recipients by OIN.
    pub recipient_oins: Vec<String>,
    /// Recipients by kind.
    pub recipient_kinds: Vec<OrgKind>,
    /// Message kinds.
    pub message_kinds: Vec<Kind>,
    /// The purpose.
    pub purpose: String,
    /// The purpose from the fixed list.
    pub purpose_code: Option<Purpose>,
    /// Start (Unix ms; None: now).
    pub valid_from_ms: Option<i64>,
    /// End (Unix ms).
    pub valid_until_ms: Option<i64>,
    /// The case of the meeting it was obtained in (empty: none).
    pub case_id: String,
}

/// A grant that passed every rule.
#[derive(Debug, Clone)]
pub struct CheckedGrant {
    /// The child's BSN.
    pub bsn: String,
    /// The child's date of birth (kept only as a keyed reference).
    pub birth_date: Date,
    /// Who gave it, as the age rules ask.
    pub given_by: Giver,
    /// Who agreed in person, as `given_by` asks.
    pub consented_by: Vec<Consenter>,
    /// How it was obtained.
    pub obtained: Option<Obtained>,
    /// The date it was given.
    pub given_on: Date,
    /// Recipients by OIN.
    pub recipient_oins: Vec<Oin>,
    /// Recipients by kind.
    pub recipient_kinds: Vec<OrgKind>,
    /// Message kinds.
    pub message_kinds: Vec<Kind>,
    /// The purpose, trimmed.
    pub purpose: String,
    /// The purpose from the fixed list.
    pub purpose_code: Purpose,
    /// Start (Unix ms).
    pub valid_from_ms: i64,
    /// End (Unix ms).
    pub valid_until_ms: i64,
    /// The birthday on which it lapses, if before its end.
    pub lapse: Option<AgeMark>,
    /// The 16th birthday, for a consent of parents and child.
    pub reconfirm: Option<AgeMark>,
    /// The case of the meeting it was obtained in.
    pub case_id: Option<CaseId>,
}

/// The birthday on which a child born on `birth` turns `age`.
fn birthday(birth: Date, age: u8) -> Option<AgeMark> {
    let on = add_years(birth, i32::from(age))?;
    Some(AgeMark {
        on,
        at_ms: start_of_day_ms(on),
        age,
    })
}

/// The age at which parental authority ends (BW 1:233): a consent given
/// with the parents ends with it.
pub const AGE_OF_MAJORITY: u8 = 18;

/// When a consent of `given_by` for a child born on `birth` lapses because
/// of age, and when it is to be reconfirmed: the 12th birthday for the
/// parents alone; for parents and child the 16th (a lapse if `rules` say
/// so, else a reconfirmation) and at the latest the 18th, when parental
/// authority ends; a young person's own consent stays theirs past 18, up
/// to the maximum age.
pub fn age_marks(
    birth: Date,
    given_by: Giver,
    rules: &ConsentConfig,
) -> (Option<AgeMark>, Option<AgeMark>) {
    let limit = birthday(birth, rules.max_age);
    let (lapse, reconfirm) = match given_by {
        Giver::Parents => (birthday(birth, 12), None),
        Giver::ParentsAndChild if rules.lapse_at_16 => (birthday(birth, 16), None),
        Giver::ParentsAndChild => (
            birthday(birth, AGE_OF_MAJORITY.min(rules.max_age)),
            birthday(birth, 16),
        ),
        Giver::YoungPerson => (limit, None),
    };
    (lapse.or(limit), reconfirm)
}

/// Who agreed in person, checked against `given_by`: the parents are one
/// or more holders of authority (parent or guardian); parents and child
/// are at least one of them and the young person; the young person alone
/// is only the young person. None stated: as `given_by` implies.
pub fn consenters(given_by: Giver, stated: &[Consenter]) -> Result<Vec<Consenter>, Violation> {
    if stated.is_empty() {
        return Ok(Consenter::implied_by(given_by));
    }
    let mut who: Vec<Consenter> = Vec::new();
    for c in stated {
        if !who.contains(c) {
            who.push(*c);
        }
    }
    let authority = who
        .iter()
        .any(|c| matches!(c, Consenter::Parent | Consenter::Guardian));
    let young = who.contains(&Consenter::YoungPerson);
    let fits = match given_by {
        Giver::Parents => authority && !young,
        Giver::ParentsAndChild => authority && young,
        Giver::YoungPerson => young && !authority,
    };
    if fits {
        return Ok(who);
    }
    let rule = match given_by {
        Giver::Parents => {
            "a consent of the parents is given by a parent or guardian with authority, not by the child"
        }
        Giver::ParentsAndChild => {
            "a consent of parents and child names a parent or guardian and the young person"
        }
        Giver::YoungPerson => "a consent of the young person alone names only the young person",
    };
    Err(invalid("consented_by", rule))
}

/// Whether a message naming the birth reference `born` may travel under
/// `c`: the child's date of birth in the message must be the one the
/// consent was registered with (a consent registered before it was kept
/// cannot say, and is not held to it). `field` names where the message
/// gives it.
pub fn born_as_registered(
    c: &ConsentRecord,
    born: Option<&ChildRef>,
    field: &str,
) -> Result<(), Unmet> {
    match (c.birth_ref.as_ref(), born) {
        (Some(registered), Some(named)) if registered != named => Err(Unmet(format!(
            "{field} is not the date of birth consent {} was registered with; check the child's data, or register the consent again",
            c.id
        ))),
        _ => Ok(()),
    }
}

impl Grant {
    /// Checks the grant against the age rules, the term and its scope, on
    /// `today` at `now_ms`.
    pub fn check(
        self,
        rules: &ConsentConfig,
        today: Date,
        now_ms: i64,
    ) -> Result<CheckedGrant, Violation> {
        if !bsn::is_valid(&self.bsn) {
            return Err(invalid("bsn", BSN_RULE));
        }
        if self.birth_date.is_empty() {
            return Err(invalid(
                "birth_date",
                "is required, to check who must consent",
            ));
        }
        let birth = date("birth_date", &self.birth_date)?;
        let given_on = if self.given_on.is_empty() {
            today
        } else {
            date("given_on", &self.given_on)?
        };
        if given_on > today {
            return Err(invalid("given_on", "must not be in the future"));
        }
        if birth > given_on {
            return Err(invalid(
                "birth_date",
                "must be before the date the consent was given",
            ));
        }
        let given_by = self.given_by.ok_or_else(|| {
            invalid(
                "given_by",
                "is required: parents, parents_and_child or young_person",
            )
        })?;
        let age = age_on(birth, given_on);
        let required = required_giver(age);
        if given_by != required {
            return Err(invalid(
                "given_by",
                format!(
                    "a child of {age} on {given_on} consents as {} (under 12: the parents; 12 to 15: parents and child; from 16: the young person alone)",
                    required.as_str()
                ),
            ));
        }
        let age_today = age_on(birth, today);
        if age_today >= i32::from(rules.max_age) {
            return Err(invalid(
                "birth_date",
                format!(
                    "the young person is {age_today}: the gateway carries consents for those under {} (consent.max_age)",
                    rules.max_age
                ),
            ));
        }
        let (lapse, reconfirm) = age_marks(birth, given_by, rules);
        if let Some(l) = lapse.filter(|l| l.on <= today) {
            return Err(invalid(
                "given_by",
                format!(
                    "this consent lapsed on {}, when {}; register one given by {}",
                    l.on,
                    l.lapse_reason(given_by),
                    required_giver(age_today).as_str()
                ),
            ));
        }
        if self.recipient_oins.is_empty() && self.recipient_kinds.is_empty() {
            return Err(invalid(
                "recipient_oins",
                "name at least one recipient organisation or kind of organisation",
            ));
        }
        if self.recipient_oins.len() > MAX_RECIPIENT_OINS {
            return Err(invalid(
                "recipient_oins",
                format!(
                    "at most {MAX_RECIPIENT_OINS} organisations; a consent names the organisations around one child (name kinds of organisation for more)"
                ),
            ));
        }
        let recipient_oins = self
            .recipient_oins
            .iter()
            .map(|o| oin("recipient_oins", o))
            .collect::<Result<Vec<_>, _>>()?;
        if self.recipient_kinds.contains(&OrgKind::Operator) {
            return Err(invalid(
                "recipient_kinds",
                "the operator receives no messages about children",
            ));
        }
        if self.message_kinds.is_empty() {
            return Err(invalid(
                "message_kinds",
                "name at least one kind of message",
            ));
        }
        let purpose = self.purpose.trim();
        if purpose.is_empty() || self.purpose.chars().count() > 512 {
            return Err(invalid(
                "purpose",
                "must be 1 to 512 characters, as told to the parents",
            ));
        }
        let purpose_code = self.purpose_code.ok_or_else(|| {
            invalid(
                "purpose_code",
                "is required: support_at_school, youth_care, consultation, school_placement or care_coordination; messages under the consent name the same",
            )
        })?;
        let from = self.valid_from_ms.unwrap_or(now_ms);
        let until = self.valid_until_ms.ok_or_else(|| {
            invalid(
                "valid_until",
                "is required: a consent is given for a period",
            )
        })?;
        if until <= from {
            return Err(invalid("valid_until", "must be after valid_from"));
        }
        if until <= now_ms {
            return Err(invalid("valid_until", "must be in the future"));
        }
        let last_day = given_on + time::Duration::days(i64::from(rules.max_term_days));
        if last_day
            .next_day()
            .is_none_or(|after| until > start_of_day_ms(after))
        {
            return Err(invalid(
                "valid_until",
                format!(
                    "a consent lasts at most {} days after it was given (consent.max_term_days): until the end of {last_day} at the latest",
                    rules.max_term_days
                ),
            ));
        }
        let consented_by = consenters(given_by, &self.consented_by)?;
        let case_id = case_id("case_id", &self.case_id)?;
        let obtained = match (&case_id, self.obtained) {
            (Some(_), None | Some(Obtained::InMeeting)) => Some(Obtained::InMeeting),
            (Some(_), Some(other)) => {
                return Err(invalid(
                    "obtained",
                    format!(
                        "a consent for a case's parties is obtained in the case's multidisciplinary meeting (in_meeting), not {}; register a consent obtained otherwise without case_id",
                        other.as_str()
                    ),
                ));
            }
            (None, how) => how,
        };
        if self.message_kinds.contains(&Kind::Notice) {
            return Err(invalid(
                "message_kinds",
                "notices come from the gateway; a consent covers the kinds organisations send",
            ));
        }
        if self.message_kinds.contains(&Kind::Matchmelding) {
            return Err(invalid(
                "message_kinds",
                "a matchmelding travels on the Verwijsindex's statute only, never under a consent",
            ));
        }
        Ok(CheckedGrant {
            purpose: purpose.to_owned(),
            purpose_code,
            bsn: self.bsn,
            birth_date: birth,
            given_by,
            consented_by,
            obtained,
            given_on,
            recipient_oins,
            recipient_kinds: self.recipient_kinds,
            message_kinds: self.message_kinds,
            valid_from_ms: from,
            valid_until_ms: until,
            lapse: lapse.filter(|l| l.at_ms < until),
            reconfirm: reconfirm.filter(|r| r.at_ms < until),
            case_id,
        })
    }
}

/// The reason given for a revocation: one line of at most 256 characters.
pub fn revocation_reason(reason: &str) -> Result<String, Violation> {
    super::fields::reason("reason", reason)
}

/// A condition of a consent that a message does not meet; its text names
/// the consent and the condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unmet(pub String);

/// Why `c` cannot carry a message at `now_ms`, if it cannot: revoked,
/// lapsed (at its end, or at a birthday) or not yet valid.
pub fn unusable(c: &ConsentRecord, now_ms: i64) -> Option<Unmet> {
    let when = |ms: i64| {
        local_date_of_ms(ms)
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let why = match c.state(now_ms) {
        ConsentState::Active => return None,
        ConsentState::Revoked => format!(
            "consent {} was revoked on {}",
            c.id,
            when(c.revoked_at_ms.unwrap_or_default())
        ),
        ConsentState::Lapsed => match c.ends_by_age() {
            Some(l) => format!(
                "consent {} lapsed on {}: {}",
                c.id,
                l.on,
                c.lapse_reason(&l)
            ),
            None => format!("consent {} lapsed on {}", c.id, when(c.valid_until_ms)),
        },
        ConsentState::Pending => format!(
            "consent {} is not valid until {}",
            c.id,
            when(c.valid_from_ms)
        ),
    };
    Some(Unmet(why))
}

/// Where a message goes, as far as a meeting's consent asks: the case it
/// continues, and whether its sender takes part in that case now (a party
/// whose own basis holds).
#[derive(Debug, Clone, Copy, Default)]
pub struct InCase<'a> {
    /// The case the message names (None: it starts one).
    pub case: Option<&'a CaseId>,
    /// Whether the sender is a current party of that case.
    pub sender_is_party: bool,
    /// Whether the sender ever was a party of that case (it may learn
    /// why the consent no longer carries its messages).
    pub sender_was_party: bool,
}

/// Whether `sender` may send under `c` at all, before anything of the
/// consent's state is told: its registrant; for a meeting's consent, a
/// party (current or past) of its case, in that case only.
fn sender_may_use(c: &ConsentRecord, sender: &Oin, in_case: InCase<'_>) -> Result<(), Unmet> {
    let Some(case) = &c.case_id else {
        if c.registered_by == *sender {
            return Ok(());
        }
        return Err(Unmet(format!(
            "consent {} was registered by another organisation; only the organisation that registered a consent sends under it",
            c.id
        )));
    };
    if in_case.case != Some(case) {
        return Err(Unmet(format!(
            "consent {} was obtained in a case's meeting: a message under it continues that case (case_id)",
            c.id
        )));
    }
    if !in_case.sender_was_party {
        return Err(Unmet(format!(
            "consent {} is for the parties of its case, and you take no part in it; ask the case's coordinator to add you",
            c.id
        )));
    }
    Ok(())
}

/// A meeting's consent carries the messages of the case's current parties
/// only (its registrant's too): one whose part ended sends no more under
/// it.
fn party_now(c: &ConsentRecord, in_case: InCase<'_>) -> Result<(), Unmet> {
    if c.case_id.is_some() && !in_case.sender_is_party {
        return Err(Unmet(format!(
            "consent {} is for the current parties of its case, and your part in it ended; ask the case's coordinator to add you again",
            c.id
        )));
    }
    Ok(())
}

/// Checks that `c` carries a message of `kind` from `sender` (in the case
/// `in_case` tells of) to `recipient` about the child `child_ref` (None:
/// the message names no child, as an anonymous consultation), serving
/// `purpose`, at `now_ms`. The error names the condition.
pub fn covers(
    c: &ConsentRecord,
    (sender, in_case): (&Oin, InCase<'_>),
    recipient: &Participant,
    (kind, purpose): (Kind, Option<Purpose>),
    child_ref: Option<&ChildRef>,
    now_ms: i64,
) -> Result<(), Unmet> {
    let unmet = |why: String| Err(Unmet(why));
    sender_may_use(c, sender, in_case)?;
    if let Some(reason) = unusable(c, now_ms) {
        return Err(reason);
    }
    party_now(c, in_case)?;
    if child_ref.is_some_and(|r| Some(*r) != c.child_ref) {
        return unmet(format!("consent {} is for another child", c.id));
    }
    let to_covered =
        c.recipient_oins.contains(&recipient.oin) || c.recipient_kinds.contains(&recipient.kind);
    if !to_covered {
        return unmet(format!(
            "consent {} does not cover recipient {} (a {})",
            c.id, recipient.oin, recipient.kind
        ));
    }
    if !c.message_kinds.contains(&kind) {
        return unmet(format!("consent {} does not cover a {kind}", c.id));
    }
    match (c.purpose_code, purpose) {
        (Some(p), Some(q)) if p == q => {}
        (None, None) => {}
        (Some(p), None) => {
            return unmet(format!(
                "consent {} serves the purpose {p}: a message under it names that purpose (legal_basis.purpose)",
                c.id
            ));
        }
        (Some(p), Some(q)) => {
            return unmet(format!("consent {} serves the purpose {p}, not {q}", c.id));
        }
        (None, Some(q)) => {
            return unmet(format!(
                "consent {} was registered before purposes were bound and serves no purpose code; name none, not {q}",
                c.id
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "consent_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "consent_meeting_tests.rs"]
mod meeting_tests;
