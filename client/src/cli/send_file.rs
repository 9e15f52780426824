//! `schakel send --from-file FILE.jsonl`: every message of a JSON Lines
//! file, read as it goes and sent in SendBatch calls. Each line is answered
//! on its own (accepted, sent before, or refused with the gateway's reason);
//! every line needs its own reference, so that sending the file again after
//! a failure sends nothing twice.

use std::io::BufRead;
use std::path::Path;

use prost::Message as _;
use schakel_client::Client;
use schakel_client::proto as pb;
use serde::Deserialize;
use serde_json::json;

use super::Output;
use super::output::{code_word, receipt_json, receipt_status_name};
use super::send::{Common, ContactArgs, SendCommand, request};

/// Request bytes per batch at most, well inside the gateway's frame limit
/// (`limits.max_message_bytes`, 16 MiB by default): a larger message goes
/// alone.
const BATCH_BYTES: usize = 4 << 20;

/// One line of the file: the flags of `send` as fields, and the body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    /// signalering, overdrachtsdossier, consultatieverzoek or
    /// consultatieantwoord.
    kind: String,
    /// The recipient's OIN.
    to: String,
    /// The client reference; required in a file.
    reference: Option<String>,
    /// The gateway's case id, to continue a case.
    #[serde(default)]
    case: String,
    /// The sender's own case reference.
    #[serde(default)]
    case_ref: String,
    /// The consent the message rests on.
    consent: Option<String>,
    /// With a consent: its purpose code.
    purpose: Option<String>,
    /// The statutory basis instead (or no_personal_data).
    legal_basis: Option<String>,
    /// With meldrecht_veilig_thuis: the declaration of necessity.
    #[serde(default)]
    declare_necessity: bool,
    /// For a reply: the request it answers.
    #[serde(default)]
    in_reply_to: String,
    /// The fields of the kind, as in a `--file` (examples/messages/).
    body: serde_json::Value,
}

/// The request line `number` of `file` describes.
fn line_request(file: &Path, number: usize, text: &str) -> anyhow::Result<pb::SendRequest> {
    let line: Line = serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let reference = line.reference.filter(|r| !r.is_empty()).ok_or_else(|| {
        anyhow::anyhow!(
            "reference: required in a file: each message needs its own, so that sending the file again sends nothing twice"
        )
    })?;
    match (&line.consent, &line.legal_basis) {
        (Some(_), Some(_)) => anyhow::bail!("consent and legal_basis: give one of the two"),
        (None, None) if line.kind != "consultatieantwoord" => anyhow::bail!(
            "consent or legal_basis: every message but a reply needs one (a consent id, with purpose; or overdracht_po, verwijsindex, meldrecht_veilig_thuis, no_personal_data)"
        ),
        _ => {}
    }
    let common = Common {
        to: line.to,
        reference: Some(reference),
        case: line.case,
        case_ref: line.case_ref,
        consent: line.consent,
        purpose: line.purpose,
        legal_basis: line.legal_basis,
        declare_necessity: line.declare_necessity,
        inline: Some((
            line.body,
            file.with_file_name(format!(
                "{}:{number}",
                file.file_name().unwrap_or_default().to_string_lossy()
            )),
        )),
        ..Common::default()
    };
    let contact = ContactArgs::default;
    let command = match line.kind.as_str() {
        "signalering" => SendCommand::Signalering {
            common,
            bsn: None,
            birth_date: None,
            signal_date: None,
            valid_until: None,
            parents_informed: false,
            child_informed: false,
            informing_postponed: None,
            informing_postponed_code: None,
            inform_by: None,
            contact: contact(),
        },
        "overdrachtsdossier" => SendCommand::Dossier { common },
        "consultatieverzoek" => SendCommand::Consult {
            common,
            bsn: None,
            question: None,
            urgency: "routine".into(),
            role: None,
            respond_by: None,
            contact: contact(),
        },
        "consultatieantwoord" => SendCommand::Reply {
            common,
            in_reply_to: line.in_reply_to,
            outcome: "answered".into(),
            answer: None,
            coordinator: None,
            contact: contact(),
        },
        other => anyhow::bail!(
            "kind: unknown value {other:?}; use signalering, overdrachtsdossier, consultatieverzoek or consultatieantwoord"
        ),
    };
    request(command)
}

/// What was sent so far.
#[derive(Default)]
struct Tally {
    sent: usize,
    before: usize,
    refused: usize,
}

/// Sends `batch` (each with its line number) and reports every answer.
async fn send(
    client: &Client,
    batch: Vec<(usize, pb::SendRequest)>,
    tally: &mut Tally,
    out: &Output,
) -> anyhow::Result<()> {
    let (lines, requests): (Vec<usize>, Vec<pb::SendRequest>) = batch.into_iter().unzip();
    let references: Vec<String> = requests
        .iter()
        .map(|r| r.client_reference.clone())
        .collect();
    let answers = client.send_all(requests).await?;
    report(lines.into_iter().zip(references), answers, tally, out);
    Ok(())
}

/// Reports the gateway's answer to each line sent (its number and
/// reference).
fn report(
    sent_lines: impl Iterator<Item = (usize, String)>,
    answers: Vec<Result<pb::SendResponse, tonic::Status>>,
    tally: &mut Tally,
    out: &Output,
) {
    for ((line, reference), answer) in sent_lines.zip(answers) {
        match answer {
            Ok(sent) => {
                let receipt = sent.receipt.unwrap_or_default();
                tally.sent += 1;
                tally.before += usize::from(sent.duplicate);
                let mut value = receipt_json(&receipt);
                value["line"] = line.into();
                value["client_reference"] = reference.clone().into();
                value["duplicate"] = sent.duplicate.into();
                value["case_id"] = sent.case_id.clone().into();
                out.record("sent", value, || {
                    format!(
                        "line {line}: {} {}  (reference {reference}{}; {})",
                        receipt_status_name(receipt.status),
                        sent.message_id,
                        if sent.duplicate { ", sent before" } else { "" },
                        super::output::verified_by(&receipt),
                    )
                });
            }
            Err(status) => refused(
                out,
                tally,
                line,
                &reference,
                status.code(),
                status.message(),
            ),
        }
    }
}

/// Reports line `line` refused, by the gateway or before it was sent.
fn refused(
    out: &Output,
    tally: &mut Tally,
    line: usize,
    reference: &str,
    code: tonic::Code,
    message: &str,
) {
    tally.refused += 1;
    out.record(
        "refused",
        json!({"line": line, "client_reference": reference, "code": code_word(code), "error": message}),
        || format!("line {line}: refused ({}): {message}", code_word(code)),
    );
}

/// Sends every message of `file`, `per_batch` to a call.
pub async fn run(
    file: &Path,
    per_batch: usize,
    client: &Client,
    out: &Output,
) -> anyhow::Result<()> {
    if !(1..=10_000).contains(&per_batch) {
        anyhow::bail!(
            "--batch: between 1 and 10000 (the gateway takes at most limits.max_batch_messages, 256 by default)"
        );
    }
    let reader = std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let mut tally = Tally::default();
    let (mut batch, mut bytes) = (Vec::new(), 0);
    for (i, text) in reader.lines().enumerate() {
        let number = i + 1;
        let text = text.map_err(|e| anyhow::anyhow!("{}:{number}: {e}", file.display()))?;
        if text.trim().is_empty() {
            continue;
        }
        let request = match line_request(file, number, &text) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("{}:{number}: {e:#}", file.display());
                refused(
                    out,
                    &mut tally,
                    number,
                    "",
                    tonic::Code::InvalidArgument,
                    &message,
                );
                continue;
            }
        };
        let size = request.encoded_len();
        if !batch.is_empty() && (batch.len() >= per_batch || bytes + size > BATCH_BYTES) {
            send(client, std::mem::take(&mut batch), &mut tally, out).await?;
            bytes = 0;
        }
        bytes += size;
        batch.push((number, request));
    }
    if !batch.is_empty() {
        send(client, batch, &mut tally, out).await?;
    }
    let Tally {
        sent,
        before,
        refused,
    } = tally;
    out.record(
        "summary",
        json!({"sent": sent, "duplicates": before, "refused": refused}),
        || format!("{sent} sent ({before} of them sent before), {refused} refused"),
    );
    if refused > 0 {
        anyhow::bail!(
            "{refused} of {} messages were refused (the lines above say why): fix those lines and send the file again; what was sent is not sent twice",
            sent + refused
        );
    }
    Ok(())
}
