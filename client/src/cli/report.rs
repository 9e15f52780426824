//! `schakel audit report` and `schakel audit verify-report`: the access
//! report about a child, made by the gateway and signed, shown as a
//! readable document and kept as a file anyone can verify offline.

use std::path::Path;

use schakel_client::access_report;
use schakel_client::{Client, KeyRing};
use serde_json::Value;

use super::Output;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// The report as a readable document.
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "ACCESS REPORT (AVG art. 15) about child reference {}",
        s(&doc["child_ref"])
    ));
    line(format!(
        "made {} by {} for: {}",
        s(&doc["made_at"]),
        s(&doc["made_by"]),
        s(&doc["reason"])
    ));
    line(match doc["controller"].as_str() {
        Some(c) => format!("the part of organisation {c}, as its controller"),
        None => "the whole trail".to_owned(),
    });
    let chain = &doc["chain"];
    line(format!(
        "drawn from audit entries {} to {} (head hash {})",
        chain["from_sequence"],
        chain["to_sequence"],
        s(&chain["head_hash"])
    ));
    let review = doc["for_review"].as_array().map_or(0, Vec::len);
    if review > 0 {
        line(format!(
            "\nREVIEW BEFORE HANDING OVER: {review} item(s) marked below may hold what can be withheld"
        ));
    }
    for (title, key) in [("MESSAGES", "messages"), ("NOTICES", "notices")] {
        let items = doc[key].as_array().cloned().unwrap_or_default();
        line(format!("\n{title} ({})", items.len()));
        for m in items {
            line(format!(
                "- {} {} {}  from {} ({}) to {} ({})",
                s(&m["sent_at"]),
                s(&m["kind"]),
                s(&m["message_id"]),
                s(&m["sender_oin"]),
                s(&m["sender_name"]),
                s(&m["recipient_oin"]),
                s(&m["recipient_name"])
            ));
            line(format!(
                "  basis {}, {}{}, case {}",
                s(&m["legal_basis"]),
                s(&m["state"]),
                m["final_at"]
                    .as_str()
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default(),
                s(&m["case_id"])
            ));
            for l in m["leases"].as_array().into_iter().flatten() {
                line(format!("  leased by {} at {}", s(&l["by"]), s(&l["at"])));
            }
            if let Some(r) = m["review"].as_str() {
                line(format!("  REVIEW: {r}"));
            }
        }
    }
    let consents = doc["consents"].as_array().cloned().unwrap_or_default();
    line(format!("\nCONSENTS ({})", consents.len()));
    for c in consents {
        line(format!(
            "- {} registered by {}, given by {} on {}, {} ({}), {} from {} until {}",
            s(&c["consent_id"]),
            s(&c["registered_by_oin"]),
            s(&c["given_by"]),
            s(&c["given_on"]),
            s(&c["purpose_code"]),
            s(&c["purpose"]),
            s(&c["status"]),
            s(&c["valid_from"]),
            s(&c["valid_until"])
        ));
        for h in c["history"].as_array().into_iter().flatten() {
            line(format!(
                "  {} {} by {}: {}",
                s(&h["at"]),
                s(&h["action"]),
                s(&h["by"]),
                s(&h["detail"])
            ));
        }
    }
    let audit = doc["audit"].as_array().cloned().unwrap_or_default();
    line(format!("\nAUDIT TRAIL ({} entries)", audit.len()));
    for e in audit {
        line(format!(
            "{:>7}  {}  {:<16} {}  {}  {}",
            e["sequence"],
            s(&e["at"]),
            s(&e["action"]),
            s(&e["actor"]),
            e["message_id"].as_str().unwrap_or(""),
            s(&e["detail"])
        ));
        if e["review"].is_string() {
            line("         REVIEW: names who reported to or heard from Veilig Thuis".to_owned());
        }
    }
    out
}

/// Asks the gateway for the report, shows it, and writes the signed file.
pub async fn report(
    client: &Client,
    out: &Output,
    child: &str,
    reason: &str,
    file: Option<&Path>,
) -> anyhow::Result<()> {
    let report = client.audit_report(child, reason).await?;
    let doc: Value = serde_json::from_slice(&report.document)?;
    if let Some(file) = file {
        std::fs::write(file, access_report::to_json(&report).to_string())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
        eprintln!(
            "signed report written to {}; verify it with `schakel audit verify-report --file {} --key KEY`",
            file.display(),
            file.display()
        );
    }
    out.record("access_report", doc.clone(), || render(&doc));
    Ok(())
}

/// Verifies a report file offline with the gateway's keys, and shows it.
pub fn verify_offline(file: &Path, keys: &KeyRing, out: &Output) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", file.display()))?;
    let report = access_report::from_json(&value)?;
    let doc = access_report::verify(&report, keys)?;
    out.record(
        "access_report_verdict",
        serde_json::json!({"ok": true, "document": doc}),
        || {
            format!(
                "report signature verified (key {})\n\n{}",
                report.key_id,
                render(&doc)
            )
        },
    );
    Ok(())
}
