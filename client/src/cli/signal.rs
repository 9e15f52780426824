//! `schakel signal`: a signal's life in the Verwijsindex after it was sent.
//! The signaller withdraws or extends its own signal, or says the family was
//! informed after a postponement; the Verwijsindex tells a signaller of a
//! match. Each is a message to the other side, with its verified receipt.

use clap::{Args, Subcommand};
use schakel_client::Client;
use schakel_client::proto as pb;

use super::Output;
use super::send::{ContactArgs, send_and_print};

/// What changes about a signal, or who is told of a match.
#[derive(Subcommand)]
pub enum SignalCommand {
    /// Withdraw your signal: the Verwijsindex removes it, and the gateway
    /// destroys its content (an undelivered one never reaches the index).
    Withdraw {
        #[command(flatten)]
        target: Target,
    },
    /// Keep your signal valid until a later day (at most 2 years from today,
    /// and before the youth's 23rd birthday).
    Extend {
        #[command(flatten)]
        target: Target,
        /// The new last valid day, YYYY-MM-DD.
        #[arg(long)]
        until: String,
    },
    /// Say the family was informed after you postponed it; this ends the
    /// wait for the day you gave with --inform-by.
    Informed {
        #[command(flatten)]
        target: Target,
        /// The parents were informed.
        #[arg(long)]
        parents: bool,
        /// The youth was informed.
        #[arg(long)]
        child: bool,
    },
    /// (The Verwijsindex) tell the sender of one signal that another
    /// organisation signalled the same youth, and how to reach them.
    Match {
        /// The signaller to tell: the sender of --signal.
        #[arg(long)]
        to: String,
        /// Their signal's message id.
        #[arg(long)]
        signal: String,
        /// The other organisation's signal's message id.
        #[arg(long)]
        other_signal: String,
        /// The OIN of the organisation that sent --other-signal.
        #[arg(long)]
        other_oin: String,
        /// Your own reference (default: a new UUID).
        #[arg(long)]
        reference: Option<String>,
        /// Print only the message id.
        #[arg(long, short, conflicts_with = "json")]
        quiet: bool,
        /// How to reach the other organisation's professional.
        #[command(flatten)]
        contact: ContactArgs,
    },
}

/// The signal a signaller changes, and where it went.
#[derive(Args)]
pub struct Target {
    /// The Verwijsindex the signal was sent to (its OIN).
    #[arg(long)]
    to: String,
    /// The signal's message id, as `schakel send signalering` printed it.
    #[arg(long)]
    signal: String,
    /// Your own reference (default: a new UUID); sending again with it is safe.
    #[arg(long)]
    reference: Option<String>,
    /// Print only the message id.
    #[arg(long, short, conflicts_with = "json")]
    quiet: bool,
}

/// A request of `body` to `to`, on no named basis: a signal's change and a
/// match notice travel on the basis of the signals they name.
fn request(to: String, reference: Option<String>, body: pb::payload::Body) -> pb::SendRequest {
    pb::SendRequest {
        client_reference: reference.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        recipient_oin: to,
        payload: schakel_client::payload::encode(&pb::Payload {
            body: Some(body),
            attachments: vec![],
        }),
        ..Default::default()
    }
}

/// The request `command` describes, and whether to print only its id.
fn build(command: SignalCommand) -> (pb::SendRequest, bool) {
    use pb::payload::Body;
    let change = |t: Target, kind: pb::SignalChangeType, edit: &dyn Fn(&mut pb::SignalChange)| {
        let mut c = pb::SignalChange {
            signal_id: t.signal,
            r#type: kind as i32,
            ..Default::default()
        };
        edit(&mut c);
        (request(t.to, t.reference, Body::SignalChange(c)), t.quiet)
    };
    match command {
        SignalCommand::Withdraw { target } => {
            change(target, pb::SignalChangeType::Withdraw, &|_| {})
        }
        SignalCommand::Extend { target, until } => {
            change(target, pb::SignalChangeType::Extend, &|c| {
                c.valid_until = until.clone()
            })
        }
        SignalCommand::Informed {
            target,
            parents,
            child,
        } => change(target, pb::SignalChangeType::Informed, &|c| {
            c.parents_informed = parents;
            c.child_informed = child;
        }),
        SignalCommand::Match {
            to,
            signal,
            other_signal,
            other_oin,
            reference,
            quiet,
            contact,
        } => {
            let body = Body::MatchNotice(pb::MatchNotice {
                signal_id: signal,
                other_signal_id: other_signal,
                other_signaller_oin: other_oin,
                other_contact: Some(contact.contact().into()),
            });
            (request(to, reference, body), quiet)
        }
    }
}

pub async fn run(command: SignalCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    let (request, quiet) = build(command);
    send_and_print(request, quiet, client, out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            to: "00000099600000000001".into(),
            signal: "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d".into(),
            reference: Some("r".into()),
            quiet: false,
        }
    }

    fn body(r: &pb::SendRequest) -> pb::payload::Body {
        schakel_client::payload::decode(&r.payload)
            .unwrap()
            .body
            .unwrap()
    }

    #[test]
    fn each_change_names_its_signal_and_no_basis() {
        let (r, _) = build(SignalCommand::Extend {
            target: target(),
            until: "2028-01-31".into(),
        });
        assert!(r.legal_basis.is_none());
        assert_eq!(r.client_reference, "r");
        let pb::payload::Body::SignalChange(c) = body(&r) else {
            panic!("a signal change")
        };
        assert_eq!(c.r#type, pb::SignalChangeType::Extend as i32);
        assert_eq!(c.valid_until, "2028-01-31");
        let (r, _) = build(SignalCommand::Informed {
            target: target(),
            parents: true,
            child: false,
        });
        let pb::payload::Body::SignalChange(c) = body(&r) else {
            panic!("a signal change")
        };
        assert!(c.parents_informed && !c.child_informed);
    }
}
