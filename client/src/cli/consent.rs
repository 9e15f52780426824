//! `schakel consent grant|revoke|list`: register the consent you obtained,
//! and withdraw it when the parents (or the young person) do.

use clap::Subcommand;
use schakel_client::Client;
use schakel_client::proto as pb;
use serde_json::json;

use super::Output;
use super::directory::parse_kind;
use super::output::{kind_name, time_text};
use super::words::parse;
use super::words::word_of;

/// Consent commands.
// Parsed once per run: the size of the grant's arguments costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum ConsentCommand {
    /// Register a consent; prints its id, to name in `send --consent ID`.
    Grant {
        /// The child's BSN.
        #[arg(long)]
        child: String,
        /// The child's date of birth, YYYY-MM-DD (the age decides who consents).
        #[arg(long)]
        birth_date: String,
        /// Who consented: parents (child under 12), parents_and_child (12 to 15) or
        /// young_person (16 and older), as the gateway names them.
        #[arg(long)]
        by: String,
        /// Who agreed in person, comma-separated: parent, guardian, young_person
        /// (default: as --by implies).
        #[arg(long, value_delimiter = ',')]
        consented_by: Vec<String>,
        /// How the consent was obtained: in_writing, orally, electronically or
        /// in_meeting; recorded with it, so that it can be shown (AVG art. 7).
        #[arg(long)]
        obtained: Option<String>,
        /// A recipient: an OIN, or a kind (school, swv, jgt, gemeente, veilig_thuis). Repeatable.
        #[arg(long = "recipient", required = true)]
        recipients: Vec<String>,
        /// Message kinds covered, comma-separated: signalering, overdrachtsdossier, consultatieverzoek.
        #[arg(long, value_delimiter = ',', required = true)]
        kinds: Vec<String>,
        /// The purpose, as told to the parents.
        #[arg(long)]
        purpose: String,
        /// The purpose from the fixed list: support_at_school, youth_care,
        /// consultation, school_placement or care_coordination. Messages under
        /// the consent name the same (`send --purpose`).
        #[arg(long)]
        purpose_code: String,
        /// Last day of validity, YYYY-MM-DD (at most 2 years after it was given, by default).
        #[arg(long)]
        until: String,
        /// First day of validity, YYYY-MM-DD (default now).
        #[arg(long)]
        from: Option<String>,
        /// The day the consent was given, YYYY-MM-DD (default today).
        #[arg(long, default_value = "")]
        given_on: String,
        /// The consent of a case's multidisciplinary meeting (MDO): the case
        /// id. Registered once, by the coordinator; every party of the case
        /// sends under it, in that case. Obtained in the meeting.
        #[arg(long, default_value = "")]
        case: String,
    },
    /// Revoke a consent you registered, or one you received messages under when the
    /// parents tell you: undelivered messages under it are withdrawn at once.
    Revoke {
        /// The consent id.
        id: String,
        /// Why (no personal data).
        #[arg(long)]
        reason: String,
    },
    /// Your consents.
    List {
        /// Only for this child (BSN).
        #[arg(long, default_value = "")]
        child: String,
        /// Only in this state: pending, active, revoked, lapsed.
        #[arg(long)]
        status: Option<String>,
    },
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// The start of a Dutch day (`end` false), or the end of it, which is the
/// start of the next (`end` true).
fn day(field: &str, value: &str, end: bool) -> anyhow::Result<prost_types::Timestamp> {
    let date = time::Date::parse(value, DATE)
        .map_err(|_| anyhow::anyhow!("--{field} {value:?}: write YYYY-MM-DD"))?;
    let date = if end {
        date.next_day()
            .ok_or_else(|| anyhow::anyhow!("--{field} {value:?}: too far ahead"))?
    } else {
        date
    };
    Ok(schakel_proto::audit::timestamp(
        schakel_proto::calendar::start_of_day_ms(date),
    ))
}

/// A purpose code by its short name, e.g. "consultation".
pub fn purpose_code(name: &str) -> anyhow::Result<pb::ConsentPurpose> {
    parse::<pb::ConsentPurpose>("purpose", name)
}

fn message_kind(name: &str) -> anyhow::Result<i32> {
    Ok(parse::<pb::MessageKind>("--kinds", name)? as i32)
}

fn giver(by: &str) -> anyhow::Result<pb::ConsentGiver> {
    // The words of earlier releases stay accepted.
    match by {
        "child" => Ok(pb::ConsentGiver::ParentsAndChild),
        "youth" => Ok(pb::ConsentGiver::YoungPerson),
        other => parse::<pb::ConsentGiver>("--by", other),
    }
}

fn record_json(c: &pb::ConsentRecord) -> serde_json::Value {
    json!({
        "consent_id": c.consent_id,
        "status": word_of::<pb::ConsentStatus>(c.status),
        "given_by": word_of::<pb::ConsentGiver>(c.given_by),
        "given_on": c.given_on,
        "consented_by": c.consented_by.iter().map(|w| word_of::<pb::ConsentConsenter>(*w)).collect::<Vec<_>>(),
        "obtained": word_of::<pb::ConsentObtained>(c.obtained),
        "child_ref": c.child_ref,
        "recipient_oins": c.recipient_oins,
        "recipient_kinds": c.recipient_kinds.iter().map(|k| kind_name(*k)).collect::<Vec<_>>(),
        "message_kinds": c.message_kinds.iter().map(|k| word_of::<pb::MessageKind>(*k)).collect::<Vec<_>>(),
        "purpose": c.purpose,
        "purpose_code": word_of::<pb::ConsentPurpose>(c.purpose_code),
        "valid_from": time_text(c.valid_from),
        "valid_until": time_text(c.valid_until),
        "lapses_on": c.lapses_on,
        "lapse_reason": c.lapse_reason,
        "reconfirm_on": c.reconfirm_on,
        "revoked_at": c.revoked_at.map(|t| time_text(Some(t))),
        "revoked_by_oin": c.revoked_by_oin,
        "revoke_reason": c.revoke_reason,
        "case_id": c.case_id,
    })
}

fn record_line(c: &pb::ConsentRecord) -> String {
    let v = record_json(c);
    let mut line = format!(
        "{}  {:<8} by {}  until {}  for {} {}  ({})",
        c.consent_id,
        v["status"].as_str().unwrap_or_default(),
        v["given_by"].as_str().unwrap_or_default(),
        v["valid_until"].as_str().unwrap_or_default(),
        v["message_kinds"],
        [
            c.recipient_oins.clone(),
            v["recipient_kinds"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect())
                .unwrap_or_default()
        ]
        .concat()
        .join(", "),
        c.purpose
    );
    if !c.lapses_on.is_empty() {
        line.push_str(&format!("  lapses on {}: {}", c.lapses_on, c.lapse_reason));
    }
    if !c.reconfirm_on.is_empty() {
        line.push_str(&format!(
            "  reconfirm with the young person on {}",
            c.reconfirm_on
        ));
    }
    if !c.revoke_reason.is_empty() {
        line.push_str(&format!(
            "  revoked by {}: {}",
            c.revoked_by_oin, c.revoke_reason
        ));
    }
    line
}

pub async fn run(command: ConsentCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    match command {
        ConsentCommand::Grant {
            child,
            birth_date,
            by,
            consented_by,
            obtained,
            recipients,
            kinds,
            purpose,
            purpose_code: code,
            until,
            from,
            given_on,
            case,
        } => {
            let (oins, kinds_of_org): (Vec<_>, Vec<_>) = recipients
                .into_iter()
                .partition(|r| r.chars().all(|c| c.is_ascii_digit()));
            let request = pb::GrantConsentRequest {
                bsn: child,
                birth_date,
                given_by: giver(&by)? as i32,
                consented_by: consented_by
                    .iter()
                    .map(|w| parse::<pb::ConsentConsenter>("--consented-by", w).map(|c| c as i32))
                    .collect::<Result<_, _>>()?,
                obtained: obtained
                    .as_deref()
                    .map(|w| parse::<pb::ConsentObtained>("--obtained", w))
                    .transpose()?
                    .map_or(0, |o| o as i32),
                given_on,
                recipient_oins: oins,
                recipient_kinds: kinds_of_org
                    .iter()
                    .map(|k| parse_kind(k).map(|k| k as i32))
                    .collect::<Result<_, _>>()?,
                message_kinds: kinds
                    .iter()
                    .map(|k| message_kind(k))
                    .collect::<Result<_, _>>()?,
                purpose,
                purpose_code: purpose_code(&code)? as i32,
                valid_from: from.as_deref().map(|f| day("from", f, false)).transpose()?,
                valid_until: Some(day("until", &until, true)?),
                case_id: case,
            };
            let record = client.grant_consent(request).await?;
            out.record("consent", record_json(&record), || {
                format!(
                    "consent {} registered\n{}",
                    record.consent_id,
                    record_line(&record)
                )
            });
        }
        ConsentCommand::Revoke { id, reason } => {
            let record = client.revoke_consent(&id, &reason).await?;
            out.record("consent", record_json(&record), || {
                format!(
                    "consent {} revoked; undelivered messages under it were withdrawn\n{}",
                    record.consent_id,
                    record_line(&record)
                )
            });
        }
        ConsentCommand::List { child, status } => {
            let status = match status.as_deref() {
                None => pb::ConsentStatus::Unspecified,
                Some(s) => parse::<pb::ConsentStatus>("--status", s)?,
            };
            for c in client.list_consents(&child, status).await? {
                out.record("consent", record_json(&c), || record_line(&c));
            }
        }
    }
    Ok(())
}
