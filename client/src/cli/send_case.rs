//! `schakel send plan|plan-reply|meeting|aanvraag|besluit`: the messages of
//! a case as the parties live it (a version of the plan to every party, a
//! response to it, the meeting's invitation and minutes) and a school
//! board's request for an arrangement or a TLV with the samenwerkingsverband's
//! decision. Bodies come from flags; `--to` takes several OINs,
//! comma-separated, and then sends one copy to each in one call.

use clap::Subcommand;
use schakel_client::Client;
use schakel_client::proto as pb;
use serde_json::json;

use super::Output;
use super::send::{Common, ContactArgs, assemble, send_and_print};
use super::words::{parse, word_of};

/// The messages of a case, and the passend-onderwijs request and decision.
#[derive(Subcommand)]
pub enum CaseSendCommand {
    /// A version of the case's plan (the family plan or an OPP), its document
    /// attached (--attach), to the case's parties (--to A,B,C).
    Plan {
        #[command(flatten)]
        common: Common,
        /// The version: 1 for the first, one higher for each new one; the
        /// same version again for a party that joined later.
        #[arg(long)]
        version: u32,
        /// family_plan or opp.
        #[arg(long, default_value = "family_plan")]
        plan_type: String,
        /// The child's BSN.
        #[arg(long)]
        bsn: String,
        /// The plan's title.
        #[arg(long)]
        title: String,
        /// What changed in this version.
        #[arg(long, default_value = "")]
        changes: String,
        #[command(flatten)]
        contact: ContactArgs,
    },
    /// Your response to a version of the plan you received.
    PlanReply {
        #[command(flatten)]
        common: Common,
        /// The plan message you respond to.
        #[arg(long)]
        in_reply_to: String,
        /// agrees, comments or objects.
        #[arg(long)]
        position: String,
        /// Your comments (required unless you agree).
        #[arg(long, default_value = "")]
        comments: String,
        #[command(flatten)]
        contact: ContactArgs,
    },
    /// The case's meeting (MDO): the invitation, or the minutes afterwards,
    /// to the case's parties (--to A,B,C).
    Meeting {
        #[command(flatten)]
        common: Common,
        /// invitation or minutes.
        #[arg(long)]
        part: String,
        /// The child's BSN.
        #[arg(long)]
        bsn: String,
        /// The day of the meeting, YYYY-MM-DD.
        #[arg(long)]
        held_on: String,
        /// The time it starts, HH:MM.
        #[arg(long)]
        starts_at: String,
        /// Where, or how to join.
        #[arg(long)]
        location: String,
        /// The agenda (invitation) or what was agreed (minutes).
        #[arg(long)]
        text: String,
        #[command(flatten)]
        contact: ContactArgs,
    },
    /// A school board's request to its samenwerkingsverband for an
    /// arrangement or a TLV, the OPP attached (--attach); on the statute
    /// passend_onderwijs unless you name another basis.
    Aanvraag {
        #[command(flatten)]
        common: Common,
        /// arrangement or tlv.
        #[arg(long = "type")]
        kind: String,
        /// For a TLV: sbo, so or vso.
        #[arg(long, default_value = "")]
        tlv_for: String,
        /// The pupil's BSN.
        #[arg(long)]
        bsn: String,
        /// The pupil's given names.
        #[arg(long, default_value = "")]
        given_names: String,
        /// The pupil's family name.
        #[arg(long)]
        family_name: String,
        /// The pupil's date of birth, YYYY-MM-DD.
        #[arg(long)]
        birth_date: String,
        /// Why, and what the school did so far.
        #[arg(long)]
        reason: String,
        /// The OPP was discussed with the parents.
        #[arg(long)]
        parents_consulted: bool,
        #[command(flatten)]
        contact: ContactArgs,
    },
    /// The samenwerkingsverband's decision on a request it received.
    Besluit {
        #[command(flatten)]
        common: Common,
        /// The request you decide on.
        #[arg(long)]
        in_reply_to: String,
        /// granted or refused.
        #[arg(long)]
        outcome: String,
        /// For a TLV for so or vso that is granted: low, middle or high.
        #[arg(long)]
        category: Option<String>,
        /// For a grant: first day, YYYY-MM-DD.
        #[arg(long, default_value = "")]
        valid_from: String,
        /// For a grant: last day, YYYY-MM-DD.
        #[arg(long, default_value = "")]
        valid_until: String,
        /// The reasons.
        #[arg(long)]
        reasons: String,
        /// How to object, and by when.
        #[arg(long)]
        objection: String,
        #[command(flatten)]
        contact: ContactArgs,
    },
}

impl CaseSendCommand {
    fn common(&self) -> &Common {
        match self {
            CaseSendCommand::Plan { common, .. }
            | CaseSendCommand::PlanReply { common, .. }
            | CaseSendCommand::Meeting { common, .. }
            | CaseSendCommand::Aanvraag { common, .. }
            | CaseSendCommand::Besluit { common, .. } => common,
        }
    }
}

/// The request the command describes, and the recipients when `--to`
/// names several.
fn request(command: CaseSendCommand) -> anyhow::Result<(pb::SendRequest, Vec<String>)> {
    use pb::payload::Body;
    let (mut common, body, in_reply_to) = match command {
        CaseSendCommand::Plan {
            common,
            version,
            plan_type,
            bsn,
            title,
            changes,
            contact,
        } => {
            let plan = pb::CasePlan {
                version,
                plan_type: parse::<pb::PlanType>("--plan-type", &plan_type)? as i32,
                bsn,
                title,
                changes,
                contact: Some(contact.contact().into()),
            };
            (common, Body::CasePlan(plan), String::new())
        }
        CaseSendCommand::PlanReply {
            common,
            in_reply_to,
            position,
            comments,
            contact,
        } => {
            let response = pb::PlanResponse {
                position: parse::<pb::PlanPosition>("--position", &position)? as i32,
                comments,
                contact: Some(contact.contact().into()),
            };
            (common, Body::PlanResponse(response), in_reply_to)
        }
        CaseSendCommand::Meeting {
            common,
            part,
            bsn,
            held_on,
            starts_at,
            location,
            text,
            contact,
        } => {
            let meeting = pb::CaseMeeting {
                part: parse::<pb::MeetingPart>("--part", &part)? as i32,
                bsn,
                held_on,
                starts_at,
                location,
                text,
                contact: Some(contact.contact().into()),
            };
            (common, Body::CaseMeeting(meeting), String::new())
        }
        CaseSendCommand::Aanvraag {
            mut common,
            kind,
            tlv_for,
            bsn,
            given_names,
            family_name,
            birth_date,
            reason,
            parents_consulted,
            contact,
        } => {
            if common.consent.is_none() && common.legal_basis.is_none() {
                common.legal_basis = Some("passend_onderwijs".into());
            }
            let request = pb::ArrangementRequest {
                r#type: parse::<pb::ArrangementType>("--type", &kind)? as i32,
                pupil: Some(pb::Pupil {
                    bsn,
                    given_names,
                    family_name,
                    birth_date,
                }),
                tlv_for,
                reason,
                parents_consulted,
                contact: Some(contact.contact().into()),
            };
            (common, Body::ArrangementRequest(request), String::new())
        }
        CaseSendCommand::Besluit {
            common,
            in_reply_to,
            outcome,
            category,
            valid_from,
            valid_until,
            reasons,
            objection,
            contact,
        } => {
            let decision = pb::ArrangementDecision {
                outcome: parse::<pb::DecisionOutcome>("--outcome", &outcome)? as i32,
                category: category
                    .map(|c| parse::<pb::TlvCategory>("--category", &c))
                    .transpose()?
                    .map_or(0, |c| c as i32),
                valid_from,
                valid_until,
                reasons,
                objection,
                contact: Some(contact.contact().into()),
            };
            (common, Body::ArrangementDecision(decision), in_reply_to)
        }
    };
    if common.file.is_some() {
        anyhow::bail!("--file: this kind takes its body from flags (see --help)");
    }
    let recipients: Vec<String> = common.to.split(',').map(|o| o.trim().to_owned()).collect();
    if recipients.len() > 1 {
        common.to.clear();
    }
    let request = assemble(&common, body, in_reply_to, Vec::new())?;
    Ok((request, recipients))
}

/// Sends what the command describes: to one recipient as `send` does, or
/// one copy to each of several, each answered on its own.
pub async fn run(command: CaseSendCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    let quiet = command.common().quiet;
    let (request, recipients) = request(command)?;
    if recipients.len() == 1 {
        return send_and_print(request, quiet, client, out).await;
    }
    let oins: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let answers = client.send_to_many(request, &oins).await?;
    let mut refused = 0;
    for (oin, answer) in recipients.iter().zip(answers) {
        match answer {
            Ok(sent) if quiet => println!("{}", sent.message_id),
            Ok(sent) => out.record(
                "sent",
                json!({"recipient_oin": oin, "message_id": sent.message_id, "case_id": sent.case_id, "duplicate": sent.duplicate}),
                || format!("ACCEPTED {} to {oin}  (case {}; receipt verified)", sent.message_id, sent.case_id),
            ),
            Err(status) => {
                refused += 1;
                out.record(
                    "refused",
                    json!({"recipient_oin": oin, "code": format!("{:?}", status.code()), "message": status.message()}),
                    || format!("REFUSED to {oin}: {:?}: {}", status.code(), status.message()),
                );
            }
        }
    }
    if refused > 0 {
        anyhow::bail!(
            "{refused} of {} copies were refused (above)",
            recipients.len()
        );
    }
    Ok(())
}

/// A received case body as JSON, with its kind; None for the bodies
/// `payload.rs` prints.
pub fn body_json(body: &pb::payload::Body) -> Option<(&'static str, serde_json::Value)> {
    use pb::payload::Body;
    let contact = |c: &Option<pb::Contact>| {
        let c = c.clone().unwrap_or_default();
        json!({"name": c.name, "role": c.role, "phone": c.phone, "email": c.email})
    };
    Some(match body {
        Body::CasePlan(p) => (
            "case_plan",
            json!({"version": p.version, "plan_type": word_of::<pb::PlanType>(p.plan_type), "bsn": p.bsn, "title": p.title, "changes": p.changes, "contact": contact(&p.contact)}),
        ),
        Body::PlanResponse(r) => (
            "plan_response",
            json!({"position": word_of::<pb::PlanPosition>(r.position), "comments": r.comments, "contact": contact(&r.contact)}),
        ),
        Body::CaseMeeting(m) => (
            "case_meeting",
            json!({"part": word_of::<pb::MeetingPart>(m.part), "bsn": m.bsn, "held_on": m.held_on, "starts_at": m.starts_at, "location": m.location, "text": m.text, "contact": contact(&m.contact)}),
        ),
        Body::ArrangementRequest(a) => {
            let p = a.pupil.clone().unwrap_or_default();
            (
                "arrangement_request",
                json!({"type": word_of::<pb::ArrangementType>(a.r#type), "pupil": {"bsn": p.bsn, "given_names": p.given_names, "family_name": p.family_name, "birth_date": p.birth_date}, "tlv_for": a.tlv_for, "reason": a.reason, "parents_consulted": a.parents_consulted, "contact": contact(&a.contact)}),
            )
        }
        Body::ArrangementDecision(d) => (
            "arrangement_decision",
            json!({"outcome": word_of::<pb::DecisionOutcome>(d.outcome), "category": if d.category == 0 { String::new() } else { word_of::<pb::TlvCategory>(d.category) }, "valid_from": d.valid_from, "valid_until": d.valid_until, "reasons": d.reasons, "objection": d.objection, "contact": contact(&d.contact)}),
        ),
        _ => return None,
    })
}
