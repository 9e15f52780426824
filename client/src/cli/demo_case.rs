//! The demo's chapter on the case as the parties live it: in the
//! multidisciplinary meeting (MDO) the parents agree on a coordinator and
//! on what the parties may share; the coordinator sends the minutes and the
//! family plan to every party in one call, and the school responds to the
//! plan; the school board asks the samenwerkingsverband for a TLV, which
//! decides.

use schakel_client::Client;
use schakel_client::proto as pb;
use schakel_proto::examples;

use super::demo::{Cast, birth_date, days, grant, receipt, receive, send, step};
use super::words::word_of;

/// Sends one copy of `message` to each of `to` in one call, and shows each
/// copy and its receipt.
async fn send_to_all(
    client: &Client,
    message: pb::SendRequest,
    to: &[&str],
    what: &str,
) -> anyhow::Result<Vec<pb::SendResponse>> {
    let mut sent = Vec::new();
    for (oin, answer) in to.iter().zip(client.send_to_many(message, to).await?) {
        let answer = answer.map_err(|s| anyhow::anyhow!("the copy to {oin}: {}", s.message()))?;
        println!("   sent {what} {} to {oin}", answer.message_id);
        if let Some(r) = &answer.receipt {
            receipt(r);
        }
        sent.push(answer);
    }
    Ok(sent)
}

/// The case's consent for `purpose`, registered by `by`: the parents'
/// agreement, naming `to`, for `kinds`.
fn agreed(
    to: &[&str],
    kinds: &[pb::MessageKind],
    text: &str,
    case_id: &str,
) -> pb::GrantConsentRequest {
    let mut g =
        super::demo::consent_request(to[0], kinds[0], pb::ConsentPurpose::CareCoordination, text);
    g.recipient_oins = to.iter().map(|o| (*o).to_owned()).collect();
    g.message_kinds = kinds.iter().map(|k| *k as i32).collect();
    g.case_id = case_id.into();
    if !case_id.is_empty() {
        g.obtained = pb::ConsentObtained::InMeeting as i32;
    }
    g
}

/// The child's data in a case body: the demo's child, not the examples'.
fn about_the_child(r: &mut pb::SendRequest) {
    examples::edit_payload(r, |p| match &mut p.body {
        Some(pb::payload::Body::CasePlan(b)) => b.bsn = super::demo::BSN.into(),
        Some(pb::payload::Body::CaseMeeting(b)) => b.bsn = super::demo::BSN.into(),
        Some(pb::payload::Body::ArrangementRequest(b)) => {
            if let Some(pupil) = &mut b.pupil {
                pupil.bsn = super::demo::BSN.into();
                pupil.birth_date = birth_date();
            }
        }
        _ => {}
    });
}

/// Plays the chapter in `case`, numbering its steps from `first`; returns
/// the next step's number.
pub async fn play(
    c: &Cast,
    case: &str,
    first: u32,
    reference: impl Fn(&str) -> String,
) -> anyhow::Result<u32> {
    let (school, jgt, swv) = (&c.oin["school-po"], &c.oin["jgt"], &c.oin["swv"]);
    step(
        first,
        "The parents meet the school, the JGT and the SWV (the MDO). They agree that the JGT coordinates; the school records it.",
    );
    let coordination = grant(
        &c.school,
        agreed(
            &[jgt],
            &[pb::MessageKind::Plan],
            "De jeugd- en gezinsteamer is regisseur",
            "",
        ),
    )
    .await?;
    let view = c
        .school
        .set_case_coordinator(case, jgt, &coordination.consent_id)
        .await?;
    println!(
        "   case {case}: coordinator {}",
        view.coordinator.map(|k| k.oin).unwrap_or_default()
    );

    step(
        first + 1,
        "In the meeting the parents also agree what the parties may share. The coordinator registers that consent once, for the case, and adds the parties under it.",
    );
    let kinds = [
        pb::MessageKind::Plan,
        pb::MessageKind::Planreactie,
        pb::MessageKind::Overleg,
    ];
    let mdo = grant(
        &c.jgt,
        agreed(
            &[school, swv, jgt],
            &kinds,
            "Wat school, JGT en samenwerkingsverband in het MDO afspraken te delen",
            case,
        ),
    )
    .await?;
    for party in [school, swv] {
        c.jgt.add_case_party(case, party, &mdo.consent_id).await?;
    }
    let view = c.jgt.list_case(case).await?;
    let parties: Vec<_> = view.parties.iter().map(|p| p.oin.as_str()).collect();
    println!("   parties of the case: {}", parties.join(", "));
    let basis = examples::consent_for(&mdo.consent_id, pb::ConsentPurpose::CareCoordination);

    step(
        first + 2,
        "The coordinator sends the minutes of the meeting to both parties in one call; each gets its own copy and receipt.",
    );
    let minutes =
        pb::payload::Body::CaseMeeting(examples::case_meeting(pb::MeetingPart::Minutes, &days(0)));
    let mut message = examples::in_case(
        &reference("minutes"),
        "",
        case,
        basis.clone(),
        (minutes, vec![]),
    );
    about_the_child(&mut message);
    let to = [school.as_str(), swv.as_str()];
    let copies = send_to_all(&c.jgt, message, &to, "the minutes").await?;
    receive(&c.school, &copies[0].message_id, "the school").await?;
    receive(&c.swv, &copies[1].message_id, "the SWV").await?;

    step(
        first + 3,
        "The coordinator shares version 1 of the family plan with every party, the plan attached.",
    );
    let mut plan = examples::plan(&reference("plan-1"), "", case, basis.clone(), 1);
    about_the_child(&mut plan);
    let copies = send_to_all(&c.jgt, plan, &to, "plan version 1").await?;
    let school_copy = receive(&c.school, &copies[0].message_id, "the school").await?;
    receive(&c.swv, &copies[1].message_id, "the SWV").await?;

    step(
        first + 4,
        "The school responds to the version it had: it agrees, with a comment. The response goes to the coordinator only.",
    );
    let copy_id = school_copy.envelope.unwrap_or_default().message_id;
    let response = examples::plan_reply(
        &reference("plan-1-reply"),
        jgt,
        &copy_id,
        None,
        pb::PlanPosition::Comments,
    );
    let replied = send(&c.school, response, "planreactie").await?;
    receive(&c.jgt, &replied.message_id, "the JGT").await?;
    let view = c.jgt.list_case(case).await?;
    for m in view.messages.iter().filter(|m| m.plan_version > 0) {
        println!(
            "   {} {} -> {}: plan version {}, {}",
            word_of::<pb::MessageKind>(m.kind),
            m.sender_oin,
            m.recipient_oin,
            m.plan_version,
            super::output::receipt_status_name(m.status)
        );
    }

    step(
        first + 5,
        "The school board asks the SWV for a TLV for special secondary education, the OPP attached; the law of passend onderwijs carries it, without consent.",
    );
    let mut asked = examples::tlv_request(&reference("tlv"), swv);
    asked.case_id = case.into();
    about_the_child(&mut asked);
    examples::edit_payload(&mut asked, |p| {
        if let Some(pb::payload::Body::ArrangementRequest(r)) = &mut p.body {
            r.tlv_for = "vso".into();
        }
    });
    let asked = send(&c.school, asked, "aanvraag (tlv)").await?;
    receive(&c.swv, &asked.message_id, "the SWV").await?;
    let decided = examples::decision(
        &reference("tlv-decision"),
        school,
        &asked.message_id,
        pb::DecisionOutcome::Granted,
    );
    let decided = send(&c.swv, decided, "besluit (granted)").await?;
    receive(&c.school, &decided.message_id, "the school").await?;
    Ok(first + 6)
}
