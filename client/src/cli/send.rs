//! `schakel send signalering|dossier|consult|reply`: the body from flags, or
//! from a JSON file (`--file`) in the form of `payload.rs`; the case's own
//! messages are in `send_case.rs`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use schakel_client::Client;
use schakel_client::proto as pb;

use super::Output;
use super::output::receipt_json;
use super::payload::{
    Consultatieantwoord, Consultatieverzoek, Contact, Overdrachtsdossier, Signalering,
};

/// `schakel send`: one message of a kind, or a file of them.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SendArgs {
    #[command(subcommand)]
    command: Option<SendCommand>,
    /// Send every message of a JSON Lines file (one JSON object per line,
    /// docs/INTEGRATION.md "Sending a file of messages"), in batches.
    #[arg(long, value_name = "FILE.jsonl")]
    from_file: Option<PathBuf>,
    /// With --from-file: messages per SendBatch call (fewer when the
    /// gateway takes fewer, or when they are large).
    #[arg(long, default_value_t = 100, requires = "from_file")]
    batch: usize,
}

/// What to send.
#[derive(Subcommand)]
pub enum SendCommand {
    /// A signal of concern (Verwijsindex style: that there is a concern, and whom to contact).
    Signalering {
        #[command(flatten)]
        common: Common,
        /// The child's BSN.
        #[arg(long)]
        bsn: Option<String>,
        /// The child's date of birth, YYYY-MM-DD.
        #[arg(long)]
        birth_date: Option<String>,
        /// The date of the signal (default today, also when a --file leaves it out).
        #[arg(long)]
        signal_date: Option<String>,
        /// The last day the signal is valid: at most 2 years after the signal date
        /// (default one year after it, also when a --file leaves it out).
        #[arg(long)]
        valid_until: Option<String>,
        /// The parents were informed.
        #[arg(long)]
        parents_informed: bool,
        /// The child was informed.
        #[arg(long)]
        child_informed: bool,
        /// Why informing the parents or the child was postponed (impossible, or
        /// against the child's interest), in words.
        #[arg(long, requires_all = ["informing_postponed_code", "inform_by"])]
        informing_postponed: Option<String>,
        /// With --informing-postponed: unreachable or against_child_interest.
        #[arg(long, requires = "informing_postponed")]
        informing_postponed_code: Option<String>,
        /// With --informing-postponed: the day (YYYY-MM-DD) by which the family is
        /// informed; the gateway sends you a notice if you have not said so by then
        /// (`schakel signal informed`).
        #[arg(long, requires = "informing_postponed")]
        inform_by: Option<String>,
        #[command(flatten)]
        contact: ContactArgs,
    },
    /// A transfer dossier (body from --file; attachments with --attach).
    Dossier {
        #[command(flatten)]
        common: Common,
    },
    /// A request for consultation.
    Consult {
        #[command(flatten)]
        common: Common,
        /// The child's BSN; leave out for an anonymous consultation.
        #[arg(long)]
        bsn: Option<String>,
        /// The question.
        #[arg(long)]
        question: Option<String>,
        /// routine, soon or urgent.
        #[arg(long, default_value = "routine")]
        urgency: String,
        /// The role asked for.
        #[arg(long)]
        role: Option<String>,
        /// Answer needed by, YYYY-MM-DD (default two weeks from today, also when a
        /// --file leaves it out).
        #[arg(long)]
        respond_by: Option<String>,
        #[command(flatten)]
        contact: ContactArgs,
    },
    /// A reply to a consultatieverzoek you received. An outcome alone travels
    /// under the request's basis; an answer (text or attachments) carries
    /// personal data back and needs --consent of your own (covering the
    /// requester and consultatieantwoord) or a --legal-basis that covers it.
    Reply {
        #[command(flatten)]
        common: Common,
        /// The id of the request you answer.
        #[arg(long)]
        in_reply_to: String,
        /// accepted, declined, answered or needs_consent.
        #[arg(long, default_value = "answered")]
        outcome: String,
        /// The answer.
        #[arg(long)]
        answer: Option<String>,
        /// OIN of the organisation you propose as coordinator.
        #[arg(long)]
        coordinator: Option<String>,
        #[command(flatten)]
        contact: ContactArgs,
    },
    #[command(flatten)]
    Case(super::send_case::CaseSendCommand),
}

/// Fields of every send.
#[derive(Args, Default)]
pub struct Common {
    /// The recipient's OIN.
    #[arg(long)]
    pub(super) to: String,
    /// Your own reference; sending again with the same one is safe (default: a new UUID).
    #[arg(long)]
    pub(super) reference: Option<String>,
    /// To continue a case: its id as the gateway gave it (default: a new case;
    /// a reply joins its request's).
    #[arg(long, default_value = "")]
    pub(super) case: String,
    /// Your own reference for the case, kept beside the gateway's case id.
    #[arg(long, default_value = "")]
    pub(super) case_ref: String,
    /// The consent this message rests on.
    #[arg(long, conflicts_with = "legal_basis")]
    pub(super) consent: Option<String>,
    /// With --consent: the consent's purpose code (support_at_school, youth_care,
    /// consultation, school_placement, care_coordination).
    #[arg(long, requires = "consent")]
    pub(super) purpose: Option<String>,
    /// The basis instead: overdracht_po, verwijsindex, meldrecht_veilig_thuis, or
    /// no_personal_data (an anonymous consultation).
    #[arg(long)]
    pub(super) legal_basis: Option<String>,
    /// With meldrecht_veilig_thuis: declare that the information is necessary to end,
    /// or investigate a reasonable suspicion of, domestic violence or child abuse.
    #[arg(long)]
    pub(super) declare_necessity: bool,
    /// The body as JSON (the fields of the kind, as in the proto).
    #[arg(long)]
    pub(super) file: Option<PathBuf>,
    /// Attach a file (repeatable): PATH or PATH=MEDIA/TYPE.
    #[arg(long = "attach")]
    pub(super) attachments: Vec<String>,
    /// Print only the message id, for scripts: `ID=$(schakel send ... --quiet)`.
    #[arg(long, short, conflicts_with = "json")]
    pub(super) quiet: bool,
    /// A body given inline (a line of a --from-file), with where it came
    /// from for messages and attachments; takes the place of --file.
    #[arg(skip)]
    pub(super) inline: Option<(serde_json::Value, PathBuf)>,
}

/// A contact from flags.
#[derive(Args, Default)]
pub struct ContactArgs {
    /// Your name.
    #[arg(long)]
    contact_name: Option<String>,
    /// Your role, e.g. "intern begeleider".
    #[arg(long)]
    contact_role: Option<String>,
    /// Your phone number.
    #[arg(long, default_value = "")]
    contact_phone: String,
    /// Your e-mail address.
    #[arg(long, default_value = "")]
    contact_email: String,
}

impl ContactArgs {
    pub(super) fn contact(self) -> Contact {
        Contact {
            name: self.contact_name.unwrap_or_default(),
            role: self.contact_role.unwrap_or_default(),
            phone: self.contact_phone,
            email: self.contact_email,
        }
    }
}

/// A body from a JSON file, and the attachments it names: an optional
/// `"attachments"` list of the same form as `--attach` (PATH or
/// PATH=MEDIA/TYPE), with paths relative to the JSON file's folder.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<(T, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    parse_body(value, path, &path.display().to_string())
}

/// A body from its JSON `value`, read from the file `path` (whose folder
/// its attachments are relative to), named `origin` in errors.
fn parse_body<T: serde::de::DeserializeOwned>(
    mut value: serde_json::Value,
    path: &Path,
    origin: &str,
) -> anyhow::Result<(T, Vec<String>)> {
    let listed = value
        .as_object_mut()
        .and_then(|fields| fields.remove("attachments"))
        .unwrap_or_default();
    let folder = path.parent().unwrap_or(Path::new(""));
    let attachments = match listed {
        serde_json::Value::Null => vec![],
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| {
                let spec = item.as_str().ok_or_else(|| {
                    anyhow::anyhow!(
                        "{origin}: attachments: each is a file name (PATH or PATH=MEDIA/TYPE), not {item}"
                    )
                })?;
                listed_attachment(origin, folder, spec)
            })
            .collect::<anyhow::Result<_>>()?,
        other => anyhow::bail!("{origin}: attachments: a list of file names, not {other}"),
    };
    let body = serde_json::from_value(value).map_err(|e| {
        anyhow::anyhow!(
            "{origin}: {e} (the fields are those of the kind in proto/schakel/v1/payloads.proto; examples/messages/ has one file per kind)"
        )
    })?;
    Ok((body, attachments))
}

fn media_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

fn attachment(spec: &str) -> anyhow::Result<pb::Attachment> {
    let (path, media) = match spec.split_once('=') {
        Some((p, m)) => (PathBuf::from(p), Some(m.to_owned())),
        None => (PathBuf::from(spec), None),
    };
    let content =
        std::fs::read(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("{spec}: not a file name"))?;
    let media = media.unwrap_or_else(|| media_type(&path).to_owned());
    Ok(schakel_client::attachment(name, &media, content))
}

/// The legal basis from the flags. A reply may name none: it then travels
/// under the basis of the request it answers, which suffices for an outcome
/// alone.
fn legal_basis(common: &Common, is_reply: bool) -> anyhow::Result<Option<pb::LegalBasis>> {
    use pb::legal_basis::Basis;
    let basis = match (&common.consent, &common.legal_basis) {
        (None, None) if is_reply => return Ok(None),
        (Some(id), _) => Basis::ConsentId(id.clone()),
        (None, Some(name)) if name == "no_personal_data" => {
            Basis::NoPersonalData(pb::NoPersonalData {})
        }
        (None, Some(name)) => Basis::Statutory(
            super::words::parse::<pb::StatutoryBasis>("--legal-basis", name).map_err(|_| {
                let mut valid = super::words::words::<pb::StatutoryBasis>();
                valid.push("no_personal_data".into());
                anyhow::anyhow!(
                    "--legal-basis: unknown value {name:?}; use {}",
                    super::words::listing(&valid)
                )
            })? as i32,
        ),
        (None, None) => {
            anyhow::bail!("every message needs --consent ID (with --purpose) or --legal-basis NAME")
        }
    };
    let purpose = match &common.purpose {
        Some(p) => super::consent::purpose_code(p)? as i32,
        None => 0,
    };
    Ok(Some(pb::LegalBasis {
        basis: Some(basis),
        purpose,
        necessity_declared: common.declare_necessity,
    }))
}

/// Today in the Netherlands, "YYYY-MM-DD".
fn today() -> String {
    days_from_today(0)
}

/// The day `days` from today in the Netherlands, "YYYY-MM-DD".
fn days_from_today(days: i64) -> String {
    schakel_proto::examples::date(dutch_today(), days)
}

/// Today's date in the Netherlands, where the gateway counts its days.
pub fn dutch_today() -> time::Date {
    schakel_proto::calendar::dutch_today()
}

/// An attachment a JSON file names, as an `--attach` spec: its path must
/// stay inside the file's folder (no absolute path, no `..`), so that a file
/// made by someone else cannot send what lies elsewhere on this machine.
fn listed_attachment(origin: &str, folder: &Path, spec: &str) -> anyhow::Result<String> {
    let (file, media) = match spec.split_once('=') {
        Some((f, m)) => (f, Some(m)),
        None => (spec, None),
    };
    let relative = Path::new(file);
    let inside = relative.components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if !inside {
        anyhow::bail!(
            "{origin}: attachments: {file:?} must be a path inside the file's own folder (no absolute path, no ..); attach other files with --attach"
        );
    }
    let joined = folder.join(relative).display().to_string();
    Ok(match media {
        Some(m) => format!("{joined}={m}"),
        None => joined,
    })
}

/// The body `common` gives (inline or from --file), if it gives one, with
/// the attachments it names added to `attachments`.
fn given_body<T: serde::de::DeserializeOwned>(
    common: &Common,
    attachments: &mut Vec<String>,
) -> anyhow::Result<Option<T>> {
    let (body, listed) = match (&common.inline, &common.file) {
        (Some((value, origin)), _) => {
            let name = origin.display().to_string();
            parse_body(value.clone(), origin, &name)?
        }
        (None, Some(path)) => read_json(path)?,
        (None, None) => return Ok(None),
    };
    attachments.extend(listed);
    Ok(Some(body))
}

/// The day a year after `date` ("YYYY-MM-DD"); 29 February gives 28 February.
fn a_year_after(date: &str) -> anyhow::Result<String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(date, format)
        .map_err(|_| anyhow::anyhow!("signal_date {date:?}: write YYYY-MM-DD"))?;
    let next = d
        .replace_year(d.year() + 1)
        .or_else(|_| time::Date::from_calendar_date(d.year() + 1, d.month(), 28))?;
    Ok(next.format(format)?)
}

/// Builds the request a send command describes.
pub(super) fn request(command: SendCommand) -> anyhow::Result<pb::SendRequest> {
    use pb::payload::Body;
    // Attachments a --file names, beside those of --attach.
    let mut extra = Vec::new();
    let (common, body, in_reply_to) = match command {
        SendCommand::Signalering {
            common,
            bsn,
            birth_date,
            signal_date,
            valid_until,
            parents_informed,
            child_informed,
            informing_postponed,
            informing_postponed_code,
            inform_by,
            contact,
        } => {
            let mut s = match given_body::<Signalering>(&common, &mut extra)? {
                Some(body) => body,
                None => Signalering {
                    bsn: bsn.unwrap_or_default(),
                    birth_date: birth_date.unwrap_or_default(),
                    contact: contact.contact(),
                    signal_date: signal_date.unwrap_or_default(),
                    valid_until: valid_until.unwrap_or_default(),
                    parents_informed,
                    child_informed,
                    informing_postponed_reason: informing_postponed.unwrap_or_default(),
                    informing_postponed_code: informing_postponed_code.unwrap_or_default(),
                    inform_by: inform_by.unwrap_or_default(),
                },
            };
            if s.signal_date.is_empty() {
                s.signal_date = today();
            }
            if s.valid_until.is_empty() {
                s.valid_until = a_year_after(&s.signal_date)?;
            }
            (common, Body::Signalering(s.into_pb()?), String::new())
        }
        SendCommand::Dossier { common } => {
            let d = given_body::<Overdrachtsdossier>(&common, &mut extra)?
                .ok_or_else(|| anyhow::anyhow!("a dossier needs --file DOSSIER.json"))?
                .into_pb()?;
            (common, Body::Overdrachtsdossier(d), String::new())
        }
        SendCommand::Consult {
            common,
            bsn,
            question,
            urgency,
            role,
            respond_by,
            contact,
        } => {
            let mut c = match given_body::<Consultatieverzoek>(&common, &mut extra)? {
                Some(body) => body,
                None => Consultatieverzoek {
                    bsn: bsn.unwrap_or_default(),
                    question: question.unwrap_or_default(),
                    urgency,
                    requested_role: role.unwrap_or_default(),
                    respond_by: respond_by.unwrap_or_default(),
                    contact: contact.contact(),
                },
            };
            if c.respond_by.is_empty() {
                c.respond_by = days_from_today(14);
            }
            (
                common,
                Body::Consultatieverzoek(c.into_pb()?),
                String::new(),
            )
        }
        SendCommand::Reply {
            common,
            in_reply_to,
            outcome,
            answer,
            coordinator,
            contact,
        } => {
            let a = match given_body::<Consultatieantwoord>(&common, &mut extra)? {
                Some(body) => body,
                None => Consultatieantwoord {
                    outcome,
                    answer: answer.unwrap_or_default(),
                    contact: contact.contact(),
                    proposed_coordinator_oin: coordinator.unwrap_or_default(),
                },
            };
            (common, Body::Consultatieantwoord(a.into_pb()?), in_reply_to)
        }
        SendCommand::Case(_) => anyhow::bail!("a case message is built by send_case"),
    };
    assemble(&common, body, in_reply_to, extra)
}

/// The request of `body` with the envelope `common` gives, answering
/// `in_reply_to` (empty: none), with the attachments of `--attach` and
/// `extra`.
pub(super) fn assemble(
    common: &Common,
    body: pb::payload::Body,
    in_reply_to: String,
    extra: Vec<String>,
) -> anyhow::Result<pb::SendRequest> {
    let attachments = extra
        .iter()
        .chain(&common.attachments)
        .map(|a| attachment(a))
        .collect::<Result<_, _>>()?;
    let legal_basis = legal_basis(common, !in_reply_to.is_empty())?;
    Ok(pb::SendRequest {
        legal_basis,
        client_reference: common
            .reference
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        recipient_oin: common.to.clone(),
        case_id: common.case.clone(),
        case_reference: common.case_ref.clone(),
        in_reply_to,
        expires_at: None,
        payload: schakel_client::payload::encode(&pb::Payload {
            body: Some(body),
            attachments,
        }),
        sender_oin: String::new(),
    })
}

impl SendArgs {
    /// What can be told before connecting: that there is something to send,
    /// and that a file to send exists.
    pub fn check(&self) -> anyhow::Result<()> {
        match (&self.command, &self.from_file) {
            (None, None) => anyhow::bail!(
                "say what to send: `schakel send signalering|dossier|consult|reply|plan|plan-reply|meeting|aanvraag|besluit ...`, or `schakel send --from-file FILE.jsonl`"
            ),
            (_, Some(file)) if !file.is_file() => {
                anyhow::bail!("--from-file: cannot read {}: no such file", file.display())
            }
            _ => Ok(()),
        }
    }
}

pub async fn run(args: SendArgs, client: &Client, out: &Output) -> anyhow::Result<()> {
    args.check()?;
    let command = match (args.command, args.from_file) {
        (_, Some(file)) => return super::send_file::run(&file, args.batch, client, out).await,
        (Some(SendCommand::Case(command)), None) => {
            return super::send_case::run(command, client, out).await;
        }
        (Some(command), None) => command,
        (None, None) => unreachable!("checked above"),
    };
    let quiet = match &command {
        SendCommand::Signalering { common, .. }
        | SendCommand::Dossier { common }
        | SendCommand::Consult { common, .. }
        | SendCommand::Reply { common, .. } => common.quiet,
        SendCommand::Case(_) => unreachable!("sent above"),
    };
    send_and_print(request(command)?, quiet, client, out).await
}

/// Sends `request` and prints its verified ACCEPTED receipt (only the
/// message id when `quiet`): what every command that sends prints.
pub(super) async fn send_and_print(
    request: pb::SendRequest,
    quiet: bool,
    client: &Client,
    out: &Output,
) -> anyhow::Result<()> {
    let reference = request.client_reference.clone();
    let sent = client.send(request).await?;
    let receipt = sent.receipt.unwrap_or_default();
    if quiet {
        // The receipt was verified by the client all the same.
        println!("{}", sent.message_id);
        return Ok(());
    }
    let mut value = receipt_json(&receipt);
    value["client_reference"] = reference.clone().into();
    value["duplicate"] = sent.duplicate.into();
    value["case_id"] = sent.case_id.clone().into();
    out.record("sent", value, || {
        format!(
            "{} {}  (reference {reference}{}; {}, audit #{})",
            super::output::receipt_status_name(receipt.status),
            sent.message_id,
            if sent.duplicate { ", sent before" } else { "" },
            super::output::verified_by(&receipt),
            receipt.audit_sequence
        )
    });
    Ok(())
}
