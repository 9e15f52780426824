//! The content rules of each kind of message: which fields it needs and what
//! they may hold. Field paths are those of the wire request, e.g.
//! `payload.signalering.valid_until`.

use schakel_proto::v1 as pb;
use time::Date;

use super::fields::{bsn, contact, date, is_brin, oin, one_line, required_date, text};
use super::{Violation, invalid};
use crate::config::LimitsConfig;
use crate::crypto::sha256;
use crate::model::Kind;

/// `date` plus whole `years`; 29 February lands on 28 February in a common
/// year. None beyond the last representable year.
pub fn add_years(date: Date, years: i32) -> Option<Date> {
    let year = date.year().checked_add(years)?;
    Date::from_calendar_date(year, date.month(), date.day())
        .or_else(|_| Date::from_calendar_date(year, date.month(), 28))
        .ok()
}

/// A signal: the child, a contact, a date and a validity of at most two
/// years that ends before the child's 23rd birthday.
pub fn signalering(s: &pb::Signalering, today: Date) -> Result<(), Violation> {
    const F: &str = "payload.signalering";
    bsn(&format!("{F}.bsn"), &s.bsn)?;
    let birth = required_date(&format!("{F}.birth_date"), &s.birth_date)?;
    if birth > today {
        return Err(invalid(
            format!("{F}.birth_date"),
            "must not be in the future",
        ));
    }
    contact(&format!("{F}.contact"), s.contact.as_ref())?;
    let signal = required_date(&format!("{F}.signal_date"), &s.signal_date)?;
    if signal > today {
        return Err(invalid(
            format!("{F}.signal_date"),
            "must not be in the future",
        ));
    }
    if signal < birth {
        return Err(invalid(
            format!("{F}.signal_date"),
            "must not be before the child's birth",
        ));
    }
    let until = required_date(&format!("{F}.valid_until"), &s.valid_until)?;
    if until < today {
        return Err(invalid(
            format!("{F}.valid_until"),
            "must not be in the past: a lapsed signal is not sent",
        ));
    }
    // signal_date is not after today (above), so valid_until is not before it.
    if add_years(signal, 2).is_none_or(|end| until > end) {
        return Err(invalid(
            format!("{F}.valid_until"),
            "a signal is valid for at most 2 years after signal_date",
        ));
    }
    if add_years(birth, 23).is_none_or(|birthday| until >= birthday) {
        return Err(invalid(
            format!("{F}.valid_until"),
            "a signal lapses before the child's 23rd birthday",
        ));
    }
    one_line(
        &format!("{F}.informing_postponed_reason"),
        &s.informing_postponed_reason,
        0,
        512,
    )
}

/// A transfer dossier: profile, school year, pupil, history, advice, tests,
/// and the parents' inzage before it is sent.
pub fn overdrachtsdossier(d: &pb::Overdrachtsdossier, today: Date) -> Result<(), Violation> {
    const F: &str = "payload.overdrachtsdossier";
    if pb::DossierProfile::try_from(d.profile).unwrap_or_default()
        == pb::DossierProfile::Unspecified
    {
        return Err(invalid(
            format!("{F}.profile"),
            "must be po_vo, po_po, vo_vo or swv_aanvraag",
        ));
    }
    let year_ok = d.school_year.split_once('-').is_some_and(|(a, b)| {
        a.len() == 4
            && b.len() == 4
            && a.parse::<u32>()
                .ok()
                .zip(b.parse::<u32>().ok())
                .is_some_and(|(a, b)| b == a + 1)
    });
    if !year_ok {
        return Err(invalid(
            format!("{F}.school_year"),
            "must be two consecutive years, e.g. 2026-2027",
        ));
    }
    let pupil = d
        .pupil
        .as_ref()
        .ok_or_else(|| invalid(format!("{F}.pupil"), "is required"))?;
    bsn(&format!("{F}.pupil.bsn"), &pupil.bsn)?;
    let p = format!("{F}.pupil");
    one_line(&format!("{p}.family_name"), &pupil.family_name, 1, 200)?;
    one_line(&format!("{p}.given_names"), &pupil.given_names, 0, 200)?;
    let birth = required_date(&format!("{p}.birth_date"), &pupil.birth_date)?;
    if birth > today {
        return Err(invalid(
            format!("{p}.birth_date"),
            "must not be in the future",
        ));
    }
    for (i, h) in d.school_history.iter().enumerate() {
        let f = format!("{F}.school_history[{i}]");
        if !is_brin(&h.brin) {
            return Err(invalid(
                format!("{f}.brin"),
                "must be 2 digits and 2 capital letters",
            ));
        }
        required_date(&format!("{f}.from_date"), &h.from_date)?;
        if !h.until_date.is_empty() {
            date(&format!("{f}.until_date"), &h.until_date)?;
        }
    }
    if let Some(a) = &d.school_advice {
        one_line(&format!("{F}.school_advice.advice"), &a.advice, 1, 64)?;
        required_date(&format!("{F}.school_advice.date"), &a.date)?;
    }
    for (i, t) in d.test_results.iter().enumerate() {
        let f = format!("{F}.test_results[{i}]");
        one_line(&format!("{f}.test_code"), &t.test_code, 1, 64)?;
        one_line(&format!("{f}.score"), &t.score, 1, 64)?;
        required_date(&format!("{f}.date"), &t.date)?;
    }
    text(&format!("{F}.support_needs"), &d.support_needs, 0, 20_000)?;
    if !d.parents_viewed {
        return Err(invalid(
            format!("{F}.parents_viewed"),
            "the parents must have been shown the dossier (inzage) before it is sent",
        ));
    }
    text(&format!("{F}.parents_comment"), &d.parents_comment, 0, 4000)?;
    contact(&format!("{F}.contact"), d.contact.as_ref())
}

/// A request for consultation: the question, urgency, a respond-by date that
/// has not passed, and a contact; the child may be left out.
pub fn consultatieverzoek(c: &pb::Consultatieverzoek, today: Date) -> Result<(), Violation> {
    const F: &str = "payload.consultatieverzoek";
    if !c.bsn.is_empty() {
        bsn(&format!("{F}.bsn"), &c.bsn)?;
    }
    text(&format!("{F}.question"), &c.question, 1, 4000)?;
    if c.bsn.is_empty() {
        for (field, value) in [
            ("question", &c.question),
            ("requested_role", &c.requested_role),
        ] {
            if let Some(what) = super::anonymous::names_the_child(value, today) {
                return Err(invalid(
                    format!("{F}.{field}"),
                    format!(
                        "an anonymous consultation (no bsn) travels without consent only while nothing in it names the child, and this holds {what}: leave it out, or name the child with its bsn under a consent of the parents"
                    ),
                ));
            }
        }
    }
    if pb::Urgency::try_from(c.urgency).unwrap_or_default() == pb::Urgency::Unspecified {
        return Err(invalid(
            format!("{F}.urgency"),
            "must be routine, soon or urgent",
        ));
    }
    one_line(&format!("{F}.requested_role"), &c.requested_role, 0, 64)?;
    let by = required_date(&format!("{F}.respond_by"), &c.respond_by)?;
    if by < today {
        return Err(invalid(
            format!("{F}.respond_by"),
            "must not be in the past",
        ));
    }
    contact(&format!("{F}.contact"), c.contact.as_ref())
}

/// A reply: its outcome, an answer when it answers, and a contact.
pub fn consultatieantwoord(a: &pb::Consultatieantwoord) -> Result<(), Violation> {
    const F: &str = "payload.consultatieantwoord";
    let outcome = pb::ReplyOutcome::try_from(a.outcome).unwrap_or_default();
    if outcome == pb::ReplyOutcome::Unspecified {
        return Err(invalid(
            format!("{F}.outcome"),
            "must be accepted, declined, answered or needs_consent",
        ));
    }
    let min = usize::from(outcome == pb::ReplyOutcome::Answered);
    text(&format!("{F}.answer"), &a.answer, min, 4000)?;
    if !a.proposed_coordinator_oin.is_empty() {
        oin(
            &format!("{F}.proposed_coordinator_oin"),
            &a.proposed_coordinator_oin,
        )?;
    }
    contact(&format!("{F}.contact"), a.contact.as_ref())
}

/// Attachments: none on a signal; within the count limit; each a plain file
/// name, a media type, and the SHA-256 of its content.
pub fn attachments(
    kind: Kind,
    list: &[pb::Attachment],
    limits: &LimitsConfig,
) -> Result<(), Violation> {
    if matches!(kind, Kind::Signalering | Kind::Matchmelding) && !list.is_empty() {
        return Err(invalid(
            "payload.attachments",
            format!(
                "a {kind} carries no attachments: it says only that there is a concern and whom to contact"
            ),
        ));
    }
    if list.len() > limits.max_attachments as usize {
        return Err(Violation::Limit(format!(
            "payload.attachments: {} attachments; the limit is {}",
            list.len(),
            limits.max_attachments
        )));
    }
    for (i, a) in list.iter().enumerate() {
        let f = format!("payload.attachments[{i}]");
        one_line(&format!("{f}.name"), &a.name, 1, 255)?;
        if a.name.contains(['/', '\\']) || a.name == "." || a.name == ".." {
            return Err(invalid(
                format!("{f}.name"),
                "must be a file name without a path",
            ));
        }
        let media_ok = a
            .media_type
            .split_once('/')
            .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty())
            && !a.media_type.contains(char::is_whitespace);
        if !media_ok {
            return Err(invalid(
                format!("{f}.media_type"),
                "must be a media type such as application/pdf",
            ));
        }
        if a.sha256.len() != 32 {
            return Err(invalid(
                format!("{f}.sha256"),
                "must be the 32-byte SHA-256 of content",
            ));
        }
        if sha256(&a.content).as_bytes() != a.sha256.as_slice() {
            return Err(invalid(
                format!("{f}.sha256"),
                "does not match the SHA-256 of content",
            ));
        }
    }
    Ok(())
}
