//! Errors a person can act on: what happened, and what to do about it.
//! The gateway's own refusals already say both; this turns what the
//! transport and the file system report (a refused connection, a certificate
//! the other side does not trust, a missing identity file) into the same kind
//! of sentence, naming the address, the folder and the file.

use std::path::Path;

use schakel_client::ClientError;

/// What the command was talking to, to name in advice.
pub struct Context<'a> {
    /// The gateway's address, as given.
    pub gateway: &'a str,
    /// The identity folder, if one was given.
    pub identity: Option<&'a Path>,
}

/// The error as one line for a person.
pub fn describe(e: &anyhow::Error, cx: &Context) -> String {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Identity { path, source }) => unreadable_identity(path, source),
        Some(ClientError::Connect(t)) => cannot_connect(&causes(t), cx),
        Some(ClientError::Status(s)) if lost_connection(s) => {
            let mut parts = vec![s.message().to_owned()];
            let mut source = std::error::Error::source(s);
            while let Some(cause) = source {
                push_new(&mut parts, cause.to_string());
                source = cause.source();
            }
            closed_by_gateway(&parts.join(": "), cx)
        }
        _ => {
            let mut parts: Vec<String> = Vec::new();
            for cause in e.chain() {
                push_new(&mut parts, cause.to_string());
            }
            parts.join(": ")
        }
    }
}

/// The causes below `e`, each said once (transport errors repeat their
/// cause in their own text).
fn causes(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        push_new(&mut parts, s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

fn push_new(parts: &mut Vec<String>, text: String) {
    if !parts.iter().any(|p| p.contains(&text)) {
        parts.push(text);
    }
}

fn unreadable_identity(path: &Path, source: &std::io::Error) -> String {
    let folder = path.parent().unwrap_or(Path::new("."));
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
    let what = match file.as_deref() {
        Some("cert.pem") => "your organisation's certificate, with its OIN",
        Some("key.pem") => "the certificate's private key",
        _ => "the CA that signed the gateway's certificate",
    };
    if source.kind() == std::io::ErrorKind::NotADirectory {
        return format!(
            "{} is a file: -i takes the identity folder that holds cert.pem, key.pem and ca.pem (e.g. -i certs-example/school-po)",
            folder.display()
        );
    }
    if source.kind() != std::io::ErrorKind::NotFound {
        return format!(
            "cannot read {} ({what}): {source}; check that you may read it",
            path.display()
        );
    }
    format!(
        "cannot read {} ({what}): {source}. An identity folder holds cert.pem, key.pem and ca.pem; {} does not. The example identities are in certs-example/ (e.g. -i certs-example/school-po)",
        path.display(),
        folder.display()
    )
}

fn cannot_connect(causes: &str, cx: &Context) -> String {
    let lower = causes.to_ascii_lowercase();
    if lower.contains("connection refused") {
        format!(
            "nothing answers at {} (connection refused): is the gateway running? Start it with `cargo run --release -p schakel-gateway`, or give its address with --gateway or SCHAKEL_GATEWAY",
            cx.gateway
        )
    } else if lower.contains("notvalidforname") {
        format!(
            "the gateway's certificate is not issued for the host in {} ({causes}): use the name or address it was issued for (the example's: localhost, 127.0.0.1 or ::1)",
            cx.gateway
        )
    } else if lower.contains("expired") {
        format!(
            "the gateway at {} showed an expired certificate ({causes}): tell its operator",
            cx.gateway
        )
    } else if lower.contains("invalid peer certificate") {
        format!(
            "the gateway at {} showed a certificate that {} does not vouch for ({causes}): ca.pem in the identity folder must hold the CA that signed the gateway's certificate; ask the gateway's operator for it",
            cx.gateway,
            ca_file(cx)
        )
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        format!(
            "cannot find the host of {} ({causes}): check the address given with --gateway or SCHAKEL_GATEWAY",
            cx.gateway
        )
    } else if lower.contains("timed out") {
        format!(
            "the gateway at {} did not answer in time ({causes}): check the address and that a firewall lets you through",
            cx.gateway
        )
    } else {
        format!("cannot connect to the gateway at {}: {causes}", cx.gateway)
    }
}

fn ca_file(cx: &Context) -> String {
    cx.identity
        .map(|d| d.join("ca.pem").display().to_string())
        .unwrap_or_else(|| "ca.pem".into())
}

/// Whether a status was made by this side from a transport failure (it
/// carries the failure as its source) rather than sent by the gateway: a
/// status the gateway sends, such as UNAVAILABLE while it shuts down, says
/// what happened itself.
fn lost_connection(s: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        s.code(),
        Code::Unknown | Code::Cancelled | Code::Unavailable
    ) && std::error::Error::source(s).is_some()
}

/// TLS alerts with which a gateway refuses a client certificate.
const REFUSALS: [&str; 6] = [
    "unknownca",
    "badcertificate",
    "certificaterequired",
    "certificateexpired",
    "certificaterevoked",
    "accessdenied",
];

fn closed_by_gateway(causes: &str, cx: &Context) -> String {
    let cert = cx
        .identity
        .map(|d| d.join("cert.pem").display().to_string())
        .unwrap_or_else(|| "your certificate".into());
    let lower = causes.to_ascii_lowercase();
    if lower.contains("fatal alert") && REFUSALS.iter().any(|a| lower.contains(a)) {
        return format!(
            "the gateway at {} refused the certificate in {cert} ({causes}): it is not issued by a CA the gateway trusts, has expired or was revoked. The gateway's log names the cause; its operator can tell you which CA it trusts",
            cx.gateway
        );
    }
    format!(
        "the connection to the gateway at {} ended without an answer ({causes}). If this happens on every call, the gateway most likely refused the certificate in {cert} (not issued by a CA it trusts, expired, or without an OIN; its log names the cause); otherwise it restarted or closed an idle connection: try again",
        cx.gateway
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        let e = anyhow::anyhow!("tcp connect error: Connection refused")
            .context("tcp connect error: Connection refused")
            .context("transport error");
        let cx = Context {
            gateway: "https://127.0.0.1:1",
            identity: None,
        };
        assert_eq!(
            describe(&e, &cx),
            "transport error: tcp connect error: Connection refused"
        );
    }
}
