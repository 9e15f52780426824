//! `schakel demo`: one realistic case, end to end, narrated. A primary
//! school registers the parents' consent and signals a concern to the
//! jeugd- en gezinsteam; the JGT acknowledges it and asks the
//! samenwerkingsverband for consultation, which answers; in the meeting
//! the parents agree on a coordinator and on what the parties share, and
//! the coordinator shares the minutes and the family plan with every party
//! (`demo_case`); the school board asks for a TLV, which is granted; the school
//! transfers the pupil's dossier to the secondary school; the parents
//! withdraw their consent and a queued message is withdrawn; the operator
//! follows the child's audit trail and verifies the log. Every receipt is
//! shown, verified by its proof in the audit log.
//!
//! With `--spawn` it starts a `schakel-gateway` of its own (the binary
//! beside this one) on the example PKI and a temporary data folder.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use schakel_client::proto as pb;
use schakel_client::{Client, Identity};
use schakel_proto::examples;

use super::output::{receipt_line, receipt_status_name, time_text};
use super::words::word_of;

/// The child of the case: a test BSN (it passes the elfproef) that the
/// README's walk-through and the example files do not use, eleven years old.
pub(super) const BSN: &str = "200000007";

/// The example organisations the case needs, by identity folder.
pub(super) struct Cast {
    pub(super) school: Client,
    pub(super) secondary: Client,
    pub(super) jgt: Client,
    pub(super) swv: Client,
    pub(super) operator: Client,
    pub(super) oin: std::collections::HashMap<&'static str, String>,
}

async fn cast(gateway: &str, pki: &Path) -> anyhow::Result<Cast> {
    let mut oin = std::collections::HashMap::new();
    let mut connect = async |dir: &'static str| -> anyhow::Result<Client> {
        let client = Client::connect(gateway, &Identity::from_dir(&pki.join(dir))?).await?;
        let me = client.whoami().await?.participant.unwrap_or_default();
        oin.insert(dir, me.oin);
        Ok(client)
    };
    Ok(Cast {
        school: connect("school-po").await?,
        secondary: connect("school-vo").await?,
        jgt: connect("jgt").await?,
        swv: connect("swv").await?,
        operator: connect("operator").await?,
        oin,
    })
}

pub(super) fn step(n: u32, text: &str) {
    println!("\n{n}. {text}");
}

pub(super) fn receipt(r: &pb::Receipt) {
    println!(
        "   receipt {}  ({})",
        receipt_line(r),
        super::output::verified_by(r)
    );
}

fn today() -> time::Date {
    super::send::dutch_today()
}

pub(super) fn days(n: i64) -> String {
    examples::date(today(), n)
}

/// The child's date of birth: eleven years and a hundred days ago, so that
/// the parents consent alone, and she moves to secondary school this year.
pub(super) fn birth_date() -> String {
    days(-(11 * 365 + 100))
}

pub(super) fn consent_request(
    to: &str,
    kind: pb::MessageKind,
    purpose: pb::ConsentPurpose,
    text: &str,
) -> pb::GrantConsentRequest {
    pb::GrantConsentRequest {
        bsn: BSN.into(),
        birth_date: birth_date(),
        given_by: pb::ConsentGiver::Parents as i32,
        consented_by: vec![pb::ConsentConsenter::Parent as i32],
        obtained: pb::ConsentObtained::InWriting as i32,
        recipient_oins: vec![to.into()],
        message_kinds: vec![kind as i32],
        purpose: text.into(),
        purpose_code: purpose as i32,
        valid_until: Some(schakel_proto::audit::timestamp(
            schakel_proto::calendar::ms_of(time::OffsetDateTime::now_utc())
                + 180 * 24 * 3600 * 1000,
        )),
        ..Default::default()
    }
}

fn under(consent: &pb::ConsentRecord) -> Option<pb::LegalBasis> {
    Some(pb::LegalBasis {
        basis: Some(pb::legal_basis::Basis::ConsentId(
            consent.consent_id.clone(),
        )),
        purpose: consent.purpose_code,
        necessity_declared: false,
    })
}

fn show_consent(c: &pb::ConsentRecord) {
    println!(
        "   consent {} {}: given by the {}, for {}, purpose {}, until {}",
        c.consent_id,
        word_of::<pb::ConsentStatus>(c.status),
        word_of::<pb::ConsentGiver>(c.given_by).replace('_', " "),
        c.message_kinds
            .iter()
            .map(|k| word_of::<pb::MessageKind>(*k))
            .collect::<Vec<_>>()
            .join(", "),
        word_of::<pb::ConsentPurpose>(c.purpose_code),
        time_text(c.valid_until)
    );
}

/// A signal about the child to `to`, with a fresh reference.
fn signal(reference: &str, to: &str, basis: Option<pb::LegalBasis>) -> pb::SendRequest {
    let mut r = examples::signalering(today(), reference, to);
    r.legal_basis = basis;
    examples::edit_payload(&mut r, |p| {
        if let Some(pb::payload::Body::Signalering(s)) = &mut p.body {
            s.bsn = BSN.into();
            s.birth_date = birth_date();
        }
    });
    r
}

/// Registers a consent as `client`, and shows it.
pub(super) async fn grant(
    client: &Client,
    request: pb::GrantConsentRequest,
) -> anyhow::Result<pb::ConsentRecord> {
    let consent = client.grant_consent(request).await?;
    show_consent(&consent);
    Ok(consent)
}

/// Sends `request` as `client`, and shows what was sent and its receipt.
pub(super) async fn send(
    client: &Client,
    request: pb::SendRequest,
    what: &str,
) -> anyhow::Result<pb::SendResponse> {
    let sent = client.send(request).await?;
    println!("   sent {what} {}", sent.message_id);
    if let Some(r) = &sent.receipt {
        receipt(r);
    }
    Ok(sent)
}

/// Pulls until `id` arrives in `client`'s inbox, and acknowledges it.
pub(super) async fn receive(client: &Client, id: &str, who: &str) -> anyhow::Result<pb::Delivery> {
    for _ in 0..20 {
        for d in client
            .pull(16, Duration::from_secs(1), Duration::ZERO)
            .await?
        {
            let env = d.envelope.clone().unwrap_or_default();
            if env.message_id == id {
                let kind = word_of::<pb::MessageKind>(env.kind);
                println!("   {who} pulls {kind} {id} (attempt {})", d.attempt);
                if let Some(c) = &d.consent {
                    println!(
                        "   it arrives under consent {} (purpose {}), to be used for that purpose only",
                        c.consent_id,
                        word_of::<pb::ConsentPurpose>(c.purpose_code)
                    );
                }
                let acked = client.ack(id).await?;
                println!("   {who} acknowledges it");
                if let Some(r) = &acked.receipt {
                    receipt(r);
                }
                return Ok(d);
            }
        }
    }
    anyhow::bail!("message {id} did not reach {who}'s inbox")
}

/// Plays the case against the gateway at `gateway`, with the identity
/// folders in `pki`.
pub async fn play(gateway: &str, pki: &Path) -> anyhow::Result<()> {
    let c = cast(gateway, pki).await.map_err(|e| {
        e.context(format!(
            "the demo needs the example identities (school-po, school-vo, jgt, swv, operator) in {}, known to the gateway at {gateway}",
            pki.display()
        ))
    })?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let reference = |what: &str| format!("demo-{run}-{what}");
    let (jgt, swv, vo) = (&c.oin["jgt"], &c.oin["swv"], &c.oin["school-vo"]);
    // The trail shown at the end is this run's: a demo played before, or
    // anything else about this child, stays out of it.
    let began = schakel_proto::audit::timestamp(schakel_proto::calendar::ms_of(
        time::OffsetDateTime::now_utc(),
    ));
    println!("Schakel demo at {gateway}: one child, one family, one plan.");
    println!(
        "The child: BSN {BSN} (a test number), born {}, in groep 8 of Basisschool De Regenboog.",
        birth_date()
    );

    step(
        1,
        "The parents agree that the school asks the jeugd- en gezinsteam for help. The school registers their consent.",
    );
    let consent = grant(
        &c.school,
        consent_request(
            jgt,
            pb::MessageKind::Signalering,
            pb::ConsentPurpose::CareCoordination,
            "Samen met het jeugd- en gezinsteam één plan maken voor thuis en school",
        ),
    )
    .await?;

    step(
        2,
        "The school signals its concern to the JGT: who to call, never what the problem is.",
    );
    let sent = send(
        &c.school,
        signal(&reference("signal"), jgt, under(&consent)),
        "signalering",
    )
    .await?;
    println!("   it starts case {}", sent.case_id);

    step(
        3,
        "The JGT pulls its inbox and acknowledges the signal; the school gets a DELIVERED receipt.",
    );
    receive(&c.jgt, &sent.message_id, "the JGT").await?;

    step(
        4,
        "The JGT, with the parents' consent, asks the samenwerkingsverband to think along, in the same case.",
    );
    let jgt_consent = grant(
        &c.jgt,
        consent_request(
            swv,
            pb::MessageKind::Consultatieverzoek,
            pb::ConsentPurpose::Consultation,
            "Overleg met het samenwerkingsverband over ondersteuning op school",
        ),
    )
    .await?;
    let mut request = examples::consult(today(), &reference("consult"), swv, "");
    request.legal_basis = under(&jgt_consent);
    request.case_id = sent.case_id.clone();
    examples::edit_payload(&mut request, |p| {
        if let Some(pb::payload::Body::Consultatieverzoek(q)) = &mut p.body {
            q.bsn = BSN.into();
        }
    });
    let asked = send(&c.jgt, request, "consultatieverzoek").await?;
    receive(&c.swv, &asked.message_id, "the SWV").await?;

    step(
        5,
        "The SWV answers; the reply travels under the request's basis, back to the JGT only.",
    );
    let reply = examples::reply(&reference("reply"), &c.oin["jgt"], &asked.message_id);
    let answered = send(&c.swv, reply, "consultatieantwoord").await?;
    receive(&c.jgt, &answered.message_id, "the JGT").await?;

    let next = super::demo_case::play(&c, &sent.case_id, 6, &reference).await?;

    step(
        next,
        "The pupil moves to secondary school: the school transfers the onderwijskundig rapport, which the law allows without consent.",
    );
    let mut dossier = examples::dossier(today(), &reference("dossier"), vo);
    dossier.case_id = sent.case_id.clone();
    examples::edit_payload(&mut dossier, |p| {
        if let Some(pb::payload::Body::Overdrachtsdossier(d)) = &mut p.body
            && let Some(pupil) = &mut d.pupil
        {
            pupil.bsn = BSN.into();
            pupil.birth_date = birth_date();
        }
    });
    let moved = send(
        &c.school,
        dossier,
        "overdrachtsdossier, with one attachment,",
    )
    .await?;
    receive(&c.secondary, &moved.message_id, "the secondary school").await?;

    step(
        next + 1,
        "The school signals again, but before the JGT looks, the parents withdraw their consent.",
    );
    let again = signal(&reference("signal-2"), jgt, under(&consent));
    let queued = send(&c.school, again, "signalering").await?;
    println!("   it waits in the JGT's inbox");
    let revoked = c
        .school
        .revoke_consent(&consent.consent_id, "ouders trekken toestemming in")
        .await?;
    show_consent(&revoked);
    let status = c.school.status(&queued.message_id).await?;
    println!(
        "   the queued signal is now {}; the JGT never sees it:",
        receipt_status_name(status.status)
    );
    for r in &status.receipts {
        receipt(r);
    }

    step(
        next + 2,
        "The operator follows this child's trail in the audit log, and verifies the whole log.",
    );
    let mut entries = c
        .operator
        .audit_query(pb::AuditQueryRequest {
            child_bsn: BSN.into(),
            from: Some(began),
            ..Default::default()
        })
        .await?;
    let mut count = 0;
    while let Some(e) = entries.next().await {
        let e = e?;
        count += 1;
        println!(
            "   #{:<5} {}  {:<18} {}",
            e.sequence,
            time_text(e.time),
            word_of::<pb::AuditAction>(e.action),
            if e.message_id.is_empty() {
                e.detail.clone()
            } else {
                e.message_id.clone()
            }
        );
    }
    println!(
        "   {count} entries about this child since the demo began (the log keeps a keyed reference, never the BSN)"
    );
    let verdict = c.operator.audit_verify(0, 0).await?;
    if !verdict.ok {
        anyhow::bail!(
            "the audit log does not verify at entry {}: {}",
            verdict.first_broken_sequence,
            verdict.problem
        );
    }
    println!(
        "   audit log intact: {} entries, {} signed checkpoints",
        verdict.entries_checked, verdict.checkpoints_checked
    );
    println!(
        "\nDone. Every step above is in the audit log; `schakel audit report` makes a signed access report about the child."
    );
    Ok(())
}

/// A gateway of the demo's own, on the example PKI in `pki` and a
/// temporary data folder; stopped and removed when dropped.
pub struct Spawned {
    child: std::process::Child,
    // Removed when the demo ends (dropped after the child is stopped).
    _data: tempfile::TempDir,
    /// Its address, as it announced it.
    pub url: String,
}

impl Spawned {
    /// Starts the `schakel-gateway` binary that lies beside this one.
    pub fn start(pki: &Path) -> anyhow::Result<Self> {
        use std::io::BufRead;
        let exe = std::env::current_exe()?;
        let binary = exe
            .parent()
            .map(|d| d.join("schakel-gateway"))
            .filter(|p| p.exists())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--spawn needs schakel-gateway beside schakel ({}): build both with `cargo build --release`",
                    exe.display()
                )
            })?;
        let pki = std::path::absolute(pki)?;
        // A fresh folder of this user's only (mode 0700, a random name).
        let data = tempfile::Builder::new().prefix("schakel-demo-").tempdir()?;
        let path = |p: &str| pki.join(p).display().to_string();
        let mut command = std::process::Command::new(binary);
        // Only the settings below: none of the user's own configuration.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SCHAKEL_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .arg("--log-json")
            .env("SCHAKEL_SERVER__LISTEN", "127.0.0.1:0")
            .env("SCHAKEL_METRICS__LISTEN", "")
            .env("SCHAKEL_TLS__CERT", path("gateway/cert.pem"))
            .env("SCHAKEL_TLS__KEY", path("gateway/key.pem"))
            .env("SCHAKEL_TLS__CLIENT_CA", path("ca/ca.pem"))
            .env("SCHAKEL_DIRECTORY__FILE", path("directory.toml"))
            .env("SCHAKEL_STORAGE__DATA_DIR", data.path().join("data"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().expect("piped");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let url = loop {
            let Some(line) = lines.next().transpose()? else {
                let _ = child.wait();
                anyhow::bail!("the spawned gateway stopped before it served");
            };
            if let Some(rest) = line.split("https://").nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                break format!("https://{addr}");
            }
        };
        // Keep reading its log, so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            _data: data,
            url,
        })
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
