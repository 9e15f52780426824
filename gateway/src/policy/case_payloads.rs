//! The content rules of the case's own messages: a version of its plan, a
//! party's response to it, its meeting (invitation and minutes), and a
//! school board's request for an arrangement or a TLV with the
//! samenwerkingsverband's decision. Each names the field and the rule that
//! failed; a document that must travel (the plan, the OPP) is an
//! attachment, which [`needs_document`] asks for.

use schakel_proto::v1 as pb;
use time::Date;

use super::fields::{bsn, contact, one_line, required_date, text};
use super::{Violation, invalid};

/// A version of a case's plan: a version from 1, its type, the child, a
/// title and what changed.
pub fn case_plan(p: &pb::CasePlan) -> Result<(), Violation> {
    const F: &str = "payload.case_plan";
    if p.version == 0 {
        return Err(invalid(
            format!("{F}.version"),
            "must be 1 or more: 1 for the first version of the case's plan",
        ));
    }
    if pb::PlanType::try_from(p.plan_type).unwrap_or_default() == pb::PlanType::Unspecified {
        return Err(invalid(
            format!("{F}.plan_type"),
            "must be family_plan or opp",
        ));
    }
    bsn(&format!("{F}.bsn"), &p.bsn)?;
    one_line(&format!("{F}.title"), &p.title, 1, 200)?;
    text(&format!("{F}.changes"), &p.changes, 0, 4000)?;
    contact(&format!("{F}.contact"), p.contact.as_ref())
}

/// A response to a version of the plan: a position, and comments unless it
/// agrees.
pub fn plan_response(r: &pb::PlanResponse) -> Result<(), Violation> {
    const F: &str = "payload.plan_response";
    let position = pb::PlanPosition::try_from(r.position).unwrap_or_default();
    if position == pb::PlanPosition::Unspecified {
        return Err(invalid(
            format!("{F}.position"),
            "must be agrees, comments or objects",
        ));
    }
    let min = usize::from(position != pb::PlanPosition::Agrees);
    text(&format!("{F}.comments"), &r.comments, min, 4000)?;
    contact(&format!("{F}.contact"), r.contact.as_ref())
}

/// The meeting: an invitation for a day not past, or the minutes of a day
/// not to come; a time, a place and the agenda or agreements.
pub fn case_meeting(m: &pb::CaseMeeting, today: Date) -> Result<(), Violation> {
    const F: &str = "payload.case_meeting";
    let part = pb::MeetingPart::try_from(m.part).unwrap_or_default();
    bsn(&format!("{F}.bsn"), &m.bsn)?;
    let held_on = required_date(&format!("{F}.held_on"), &m.held_on)?;
    match part {
        pb::MeetingPart::Unspecified => {
            return Err(invalid(
                format!("{F}.part"),
                "must be invitation or minutes",
            ));
        }
        pb::MeetingPart::Invitation if held_on < today => {
            return Err(invalid(
                format!("{F}.held_on"),
                "an invitation is for a meeting that has not passed",
            ));
        }
        pb::MeetingPart::Minutes if held_on > today => {
            return Err(invalid(
                format!("{F}.held_on"),
                "the minutes are of a meeting that was held: not a day to come",
            ));
        }
        _ => {}
    }
    let time_ok = m.starts_at.split_once(':').is_some_and(|(h, min)| {
        h.len() == 2
            && min.len() == 2
            && h.parse::<u8>().is_ok_and(|h| h < 24)
            && min.parse::<u8>().is_ok_and(|m| m < 60)
    });
    if !time_ok {
        return Err(invalid(
            format!("{F}.starts_at"),
            "must be HH:MM, e.g. 14:30",
        ));
    }
    one_line(&format!("{F}.location"), &m.location, 1, 200)?;
    text(&format!("{F}.text"), &m.text, 1, 4000)?;
    contact(&format!("{F}.contact"), m.contact.as_ref())
}

/// A school board's request: what it asks, the pupil, for a TLV the kind of
/// school, the reason, and that the parents were consulted on the OPP.
pub fn arrangement_request(r: &pb::ArrangementRequest) -> Result<(), Violation> {
    const F: &str = "payload.arrangement_request";
    match pb::ArrangementType::try_from(r.r#type).unwrap_or_default() {
        pb::ArrangementType::Unspecified => {
            return Err(invalid(format!("{F}.type"), "must be arrangement or tlv"));
        }
        pb::ArrangementType::Tlv if !matches!(r.tlv_for.as_str(), "sbo" | "so" | "vso") => {
            return Err(invalid(
                format!("{F}.tlv_for"),
                "a TLV is for a school of sbo, so or vso: name which",
            ));
        }
        pb::ArrangementType::Arrangement if !r.tlv_for.is_empty() => {
            return Err(invalid(
                format!("{F}.tlv_for"),
                "an arrangement is support at the pupil's own school: leave tlv_for empty",
            ));
        }
        _ => {}
    }
    let pupil = r
        .pupil
        .as_ref()
        .ok_or_else(|| invalid(format!("{F}.pupil"), "is required"))?;
    let p = format!("{F}.pupil");
    bsn(&format!("{p}.bsn"), &pupil.bsn)?;
    one_line(&format!("{p}.family_name"), &pupil.family_name, 1, 200)?;
    one_line(&format!("{p}.given_names"), &pupil.given_names, 0, 200)?;
    required_date(&format!("{p}.birth_date"), &pupil.birth_date)?;
    text(&format!("{F}.reason"), &r.reason, 1, 4000)?;
    if !r.parents_consulted {
        return Err(invalid(
            format!("{F}.parents_consulted"),
            "the school discusses the OPP with the parents before it asks (WPO art. 40a; WEC art. 41a; WVO art. 26): set it once it did",
        ));
    }
    contact(&format!("{F}.contact"), r.contact.as_ref())
}

/// The decision: granted or refused, for a grant its period (and a
/// category only for a TLV for so or vso), the reasons, and how to object.
pub fn arrangement_decision(d: &pb::ArrangementDecision) -> Result<(), Violation> {
    const F: &str = "payload.arrangement_decision";
    let outcome = pb::DecisionOutcome::try_from(d.outcome).unwrap_or_default();
    match outcome {
        pb::DecisionOutcome::Unspecified => {
            return Err(invalid(
                format!("{F}.outcome"),
                "must be granted or refused",
            ));
        }
        pb::DecisionOutcome::Granted => {
            let from = required_date(&format!("{F}.valid_from"), &d.valid_from)?;
            let until = required_date(&format!("{F}.valid_until"), &d.valid_until)?;
            if until <= from {
                return Err(invalid(
                    format!("{F}.valid_until"),
                    "must be after valid_from",
                ));
            }
        }
        pb::DecisionOutcome::Refused => {
            if d.category != 0 || !d.valid_from.is_empty() || !d.valid_until.is_empty() {
                return Err(invalid(
                    F,
                    "a refusal has no category or period: leave category, valid_from and valid_until empty",
                ));
            }
        }
    }
    text(&format!("{F}.reasons"), &d.reasons, 1, 4000)?;
    text(&format!("{F}.objection"), &d.objection, 1, 1000)?;
    contact(&format!("{F}.contact"), d.contact.as_ref())
}

/// A plan and a request for an arrangement carry their document (the plan,
/// the OPP) as an attachment: at least one.
pub fn needs_document(
    body: &pb::payload::Body,
    attachments: &[pb::Attachment],
) -> Result<(), Violation> {
    let what = match body {
        pb::payload::Body::CasePlan(_) => "a plan carries its document",
        pb::payload::Body::ArrangementRequest(_) => {
            "a request for an arrangement or a TLV carries the pupil's OPP"
        }
        _ => return Ok(()),
    };
    if attachments.is_empty() {
        return Err(invalid(
            "payload.attachments",
            format!("{what} as an attachment: attach it"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use schakel_proto::examples;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 12 - 07);

    fn field_of(e: Violation) -> String {
        e.to_string()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn a_plan_names_its_version_type_child_and_title() {
        let good = examples::case_plan(1);
        assert!(case_plan(&good).is_ok());
        type Change = fn(&mut pb::CasePlan);
        let cases: [(Change, &str); 4] = [
            (|p| p.version = 0, "payload.case_plan.version"),
            (|p| p.plan_type = 0, "payload.case_plan.plan_type"),
            (|p| p.bsn = "123".into(), "payload.case_plan.bsn"),
            (|p| p.title = "a\nb".into(), "payload.case_plan.title"),
        ];
        for (change, field) in cases {
            let mut p = good.clone();
            change(&mut p);
            assert_eq!(field_of(case_plan(&p).unwrap_err()), field);
        }
    }

    #[test]
    fn a_response_that_does_not_agree_says_why() {
        let mut r = examples::plan_response(pb::PlanPosition::Agrees);
        r.comments.clear();
        assert!(plan_response(&r).is_ok());
        r.position = pb::PlanPosition::Objects as i32;
        assert_eq!(
            field_of(plan_response(&r).unwrap_err()),
            "payload.plan_response.comments"
        );
        r.position = 0;
        assert_eq!(
            field_of(plan_response(&r).unwrap_err()),
            "payload.plan_response.position"
        );
    }

    #[test]
    fn an_invitation_is_for_a_day_to_come_and_minutes_of_a_day_past() {
        let invite = examples::case_meeting(pb::MeetingPart::Invitation, "2026-12-14");
        assert!(case_meeting(&invite, TODAY).is_ok());
        let late = examples::case_meeting(pb::MeetingPart::Invitation, "2026-12-01");
        assert_eq!(
            field_of(case_meeting(&late, TODAY).unwrap_err()),
            "payload.case_meeting.held_on"
        );
        let minutes = examples::case_meeting(pb::MeetingPart::Minutes, "2026-12-01");
        assert!(case_meeting(&minutes, TODAY).is_ok());
        let early = examples::case_meeting(pb::MeetingPart::Minutes, "2026-12-14");
        assert!(case_meeting(&early, TODAY).is_err());
        let mut bad_time = invite.clone();
        bad_time.starts_at = "25:00".into();
        assert_eq!(
            field_of(case_meeting(&bad_time, TODAY).unwrap_err()),
            "payload.case_meeting.starts_at"
        );
    }

    #[test]
    fn a_request_names_the_school_for_a_tlv_and_the_parents_were_consulted() {
        let tlv = examples::arrangement_request(pb::ArrangementType::Tlv, "so");
        assert!(arrangement_request(&tlv).is_ok());
        let mut r = tlv.clone();
        r.tlv_for = "vo".into();
        assert_eq!(
            field_of(arrangement_request(&r).unwrap_err()),
            "payload.arrangement_request.tlv_for"
        );
        let mut r = tlv.clone();
        r.parents_consulted = false;
        assert_eq!(
            field_of(arrangement_request(&r).unwrap_err()),
            "payload.arrangement_request.parents_consulted"
        );
        let arrangement = examples::arrangement_request(pb::ArrangementType::Arrangement, "");
        assert!(arrangement_request(&arrangement).is_ok());
    }

    #[test]
    fn a_decision_gives_its_reasons_how_to_object_and_for_a_grant_its_period() {
        let granted = examples::arrangement_decision(pb::DecisionOutcome::Granted);
        assert!(arrangement_decision(&granted).is_ok());
        let mut d = granted.clone();
        d.objection.clear();
        assert_eq!(
            field_of(arrangement_decision(&d).unwrap_err()),
            "payload.arrangement_decision.objection"
        );
        let mut d = granted.clone();
        d.valid_until = d.valid_from.clone();
        assert_eq!(
            field_of(arrangement_decision(&d).unwrap_err()),
            "payload.arrangement_decision.valid_until"
        );
        let refused = examples::arrangement_decision(pb::DecisionOutcome::Refused);
        assert!(arrangement_decision(&refused).is_ok());
        let mut d = refused;
        d.category = pb::TlvCategory::High as i32;
        assert!(arrangement_decision(&d).is_err());
    }

    #[test]
    fn a_plan_and_a_request_carry_their_document() {
        let plan = pb::payload::Body::CasePlan(examples::case_plan(1));
        let e = needs_document(&plan, &[]).unwrap_err().to_string();
        assert!(
            e.starts_with("payload.attachments: a plan carries its document"),
            "{e}"
        );
        let minutes = pb::payload::Body::CaseMeeting(examples::case_meeting(
            pb::MeetingPart::Minutes,
            "2026-12-01",
        ));
        assert!(needs_document(&minutes, &[]).is_ok());
    }
}
