//! The access report (AVG art. 15): everything the gateway knows about one
//! child, for the organisations that answer a family's request. Every
//! message and reply about the child (found through the audit index, and
//! the rest of their cases), who leased each and when, every consent with
//! its history, every notice, and every audit entry about the child (the
//! operators' reads of it included). Items that may have to be withheld (a
//! reporter's identity in a message to or from Veilig Thuis) are marked for
//! review. The document is JSON, signed with the key that signs receipts and
//! checkpoints, and names the range of the chain it was drawn from.
//!
//! Each organisation is a controller of its own part, and answers the
//! family for it: an organisation's report holds only the messages it sent
//! or received, the consents it registered or used, and the audit entries
//! it made or that name it or its messages. The operator's report holds the
//! whole trail.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::ServiceError;
use super::audit_log::{AuditLog, Read};
use crate::crypto::{ChildRef, Signature};
use crate::model::{
    Action, ConsentId, ConsentRecord, Entry, Kind, LegalBasis, MessageId, MessageRecord, Oin,
    OrgKind,
};
use crate::policy::fields;
use crate::store::{AuditKey, Store, StoreError};

/// The format named in every report.
pub const REPORT_FORMAT: &str = "schakel-access-report-v1";

/// Why an item is marked for review before the report is handed over.
const REVIEW_VEILIG_THUIS: &str = "a message to or from Veilig Thuis: the identity of a professional who reported may be withheld from the family (AVG art. 15(4), UAVG art. 41); review before handing over";

/// Whose part of the trail a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole trail, for the operator.
    Whole,
    /// The part of one organisation, a controller answering for itself.
    Controller(Oin),
}

impl Scope {
    /// Whether `m` is in this part: the organisation sent or received it.
    fn holds_message(&self, m: &MessageRecord) -> bool {
        match self {
            Scope::Whole => true,
            Scope::Controller(o) => m.sender == *o || m.recipient == *o,
        }
    }

    /// Whether `c` is in this part: the organisation registered it, or one
    /// of `messages` (already in the part) travelled under it.
    fn holds_consent(&self, c: &ConsentRecord, messages: &[MessageRecord]) -> bool {
        match self {
            Scope::Whole => true,
            Scope::Controller(o) => {
                c.registered_by == *o || messages.iter().any(|m| m.consent_id() == Some(&c.id))
            }
        }
    }

    /// Whether `e` is in this part: an entry about a message is when the
    /// message is (one of `messages`), whoever acted (a recipient that
    /// revokes a consent acts on other recipients' messages); any other
    /// entry when the organisation made it or it names the organisation.
    fn holds_entry(&self, e: &Entry, messages: &BTreeSet<&MessageId>) -> bool {
        match (self, &e.message_id) {
            (Scope::Whole, _) => true,
            (Scope::Controller(_), Some(m)) => messages.contains(m),
            (Scope::Controller(o), None) => {
                e.actor.as_str() == o.as_str() || e.counterpart == o.as_str()
            }
        }
    }

    /// Whether the whole record of `c` is shown: to the operator and to its
    /// registrant; another organisation sees what a recipient is shown of
    /// it (its scope), not whom else it names nor why it was revoked.
    fn shows_whole_consent(&self, c: &ConsentRecord) -> bool {
        match self {
            Scope::Whole => true,
            Scope::Controller(o) => c.registered_by == *o,
        }
    }

    /// The controller's OIN, or null for the whole trail.
    fn json(&self) -> Value {
        match self {
            Scope::Whole => Value::Null,
            Scope::Controller(o) => Value::String(o.to_string()),
        }
    }
}

/// A signed access report.
#[derive(Debug, Clone)]
pub struct SignedReport {
    /// The report as JSON.
    pub document: Vec<u8>,
    /// The gateway's signature over it (`schakel_proto::report`).
    pub signature: Signature,
    /// The signing key's id.
    pub key_id: String,
}

/// A moment as RFC 3339 text (UTC), or null.
fn when(ms: Option<i64>) -> Value {
    ms.and_then(|ms| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    })
    .and_then(|t| t.format(&Rfc3339).ok())
    .map_or(Value::Null, Value::String)
}

/// The text of an optional id.
fn text<T: ToString>(v: Option<&T>) -> Value {
    v.map_or(Value::Null, |v| Value::String(v.to_string()))
}

impl AuditLog {
    /// The access report about the child with `bsn`, made for `reader` for
    /// `reason`, covering `scope`; the read is recorded first, so the
    /// report shows it too.
    pub async fn report(
        &self,
        reader: &Oin,
        scope: &Scope,
        bsn: &str,
        reason: &str,
    ) -> Result<SignedReport, ServiceError> {
        let child = self.child_ref(bsn)?;
        let reason = fields::reason("reason", reason)?;
        self.record_read(reader, Read::Report(child, &reason))
            .await?;
        let store = self.store();
        let (head, _) = store.audit_head().await?;
        let entries = entries_about(store, &child, head, self.now_ms()).await?;
        let mut messages = messages_of(store, &entries).await?;
        messages.retain(|m| scope.holds_message(m));
        let mut consents = consents_of(store, &entries, &messages).await?;
        consents.retain(|c| scope.holds_consent(c, &messages));
        let ids: BTreeSet<&MessageId> = messages.iter().map(|m| &m.id).collect();
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| scope.holds_entry(e, &ids))
            .collect();
        let mut names: BTreeMap<Oin, (String, OrgKind)> = BTreeMap::new();
        for m in &messages {
            for oin in [&m.sender, &m.recipient] {
                if !names.contains_key(oin)
                    && let Some(p) = store.participant(oin).await?
                {
                    names.insert(oin.clone(), (p.name, p.kind));
                }
            }
        }
        let flagged: Vec<&MessageId> = messages
            .iter()
            .filter(|m| review(m, &names).is_some())
            .map(|m| &m.id)
            .collect();
        let start = store.audit_start().await?;
        let first = store.audit_entries(start, 1).await?;
        let last = store.audit_entries(head, 1).await?;
        let document = json!({
            "format": REPORT_FORMAT,
            "made_at": when(Some(self.now_ms())),
            "made_by": reader.to_string(),
            "controller": scope.json(),
            "reason": reason,
            "child_ref": child.to_hex(),
            "erased": erased(store.sealing()),
            "chain": {
                "from_sequence": start,
                "to_sequence": head,
                "prev_hash": first.first().map(|e| e.prev_hash.to_hex()),
                "head_hash": last.first().map(|e| e.hash().to_hex()),
            },
            "messages": messages
                .iter()
                .filter(|m| m.kind != Kind::Notice)
                .map(|m| message_json(m, &entries, &names))
                .collect::<Vec<_>>(),
            "notices": messages
                .iter()
                .filter(|m| m.kind == Kind::Notice)
                .map(|m| message_json(m, &entries, &names))
                .collect::<Vec<_>>(),
            "consents": consents
                .iter()
                .map(|c| consent_json(c, &entries, self.now_ms(), scope.shows_whole_consent(c)))
                .collect::<Vec<_>>(),
            "audit": entries
                .iter()
                .map(|e| entry_json(e, &flagged))
                .collect::<Vec<_>>(),
            "for_review": flagged.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "audit_for_review": entries
                .iter()
                .filter(|e| under_review(e, &flagged))
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
        });
        let document = serde_json::to_vec_pretty(&document)
            .map_err(|e| StoreError::Engine(format!("encoding the report: {e}")))?;
        let key_id = self.signer().key_id().to_owned();
        let signature = self
            .signer()
            .sign_bytes(&schakel_proto::report::signing_bytes(&key_id, &document));
        Ok(SignedReport {
            document,
            signature,
            key_id,
        })
    }
}

/// What the report cannot hold: the records whose term is over no longer
/// name a child, so what they held about this one is not in it.
fn erased(sealing: &crate::store::sealing::Sealing) -> Value {
    let last = sealing.keys().first_day() - 1;
    let through = crate::crypto::date_of_day(last);
    json!({
        "through": through,
        "retention_days": sealing.retention_days(),
        "what": format!(
            "What identifies a child is kept {} days after the term of its record starts (a message's expiry or its signal's lapse, a consent's planned end, an audit entry or its signal's lapse), then erased: the keys of every term that ended by {through} are destroyed, so no record, entry or copy of one from then names a child. What they held about this child is not in this report.",
            sealing.retention_days()
        ),
    })
}

/// Every audit entry about `child` up to `head`, in order, as the terms
/// of `now_ms` still let them name it.
async fn entries_about(
    store: &dyn Store,
    child: &ChildRef,
    head: u64,
    now_ms: i64,
) -> Result<Vec<Entry>, StoreError> {
    let about = AuditKey::Child(*child);
    let mut out: Vec<Entry> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.seq);
        let page = store
            .audit_entries_about(&about, after, super::audit_chain::PAGE, now_ms)
            .await?;
        let done = page.len() < super::audit_chain::PAGE;
        out.extend(page.into_iter().filter(|e| e.seq <= head));
        if done {
            return Ok(out);
        }
    }
}

/// The messages the entries name, and every other message of their cases
/// (a reply of release 0.1.0 named no child of its own), oldest first.
async fn messages_of(
    store: &dyn Store,
    entries: &[Entry],
) -> Result<Vec<MessageRecord>, StoreError> {
    let ids: BTreeSet<&MessageId> = entries
        .iter()
        .filter_map(|e| e.message_id.as_ref())
        .collect();
    let mut found: BTreeMap<MessageId, MessageRecord> = BTreeMap::new();
    let mut cases = BTreeSet::new();
    for id in ids {
        if let Some(m) = store.message(id).await? {
            if m.kind != Kind::Notice {
                cases.insert(m.case_id.clone());
            }
            found.insert(m.id.clone(), m);
        }
    }
    for case in cases {
        for m in store.case_messages(&case).await? {
            found.entry(m.id.clone()).or_insert(m);
        }
    }
    let mut out: Vec<_> = found.into_values().collect();
    out.sort_by_key(|m| m.created_at_ms);
    Ok(out)
}

/// The consents the entries and the messages name.
async fn consents_of(
    store: &dyn Store,
    entries: &[Entry],
    messages: &[MessageRecord],
) -> Result<Vec<ConsentRecord>, StoreError> {
    let from_entries = entries.iter().filter_map(|e| match &e.legal_basis {
        Some(LegalBasis::Consent(id)) => Some(id),
        _ => None,
    });
    let ids: BTreeSet<&ConsentId> = from_entries
        .chain(messages.iter().filter_map(MessageRecord::consent_id))
        .collect();
    let mut out = Vec::new();
    for id in ids {
        if let Some(c) = store.consent(id).await? {
            out.push(c);
        }
    }
    Ok(out)
}

/// Why `m` is to be reviewed before the report is handed over, if it is.
fn review(m: &MessageRecord, names: &BTreeMap<Oin, (String, OrgKind)>) -> Option<&'static str> {
    let vt = |o: &Oin| {
        names
            .get(o)
            .is_some_and(|(_, k)| *k == OrgKind::VeiligThuis)
    };
    (vt(&m.sender) || vt(&m.recipient)).then_some(REVIEW_VEILIG_THUIS)
}

fn message_json(
    m: &MessageRecord,
    entries: &[Entry],
    names: &BTreeMap<Oin, (String, OrgKind)>,
) -> Value {
    let name = |o: &Oin| names.get(o).map(|(n, _)| n.clone());
    let leases: Vec<_> = entries
        .iter()
        .filter(|e| e.action == Action::Leased && e.message_id.as_ref() == Some(&m.id))
        .map(|e| json!({"by": e.actor.to_string(), "at": when(Some(e.time_ms))}))
        .collect();
    json!({
        "message_id": m.id.to_string(),
        "kind": m.kind.as_str(),
        "case_id": m.case_id.to_string(),
        "in_reply_to": text(m.in_reply_to.as_ref()),
        "sender_oin": m.sender.to_string(),
        "sender_name": name(&m.sender),
        "recipient_oin": m.recipient.to_string(),
        "recipient_name": name(&m.recipient),
        "legal_basis": m.legal_basis.to_string(),
        "consent_id": text(m.consent_id()),
        "state": format!("{:?}", m.state).to_lowercase(),
        "sent_at": when(Some(m.created_at_ms)),
        "final_at": when(m.final_at_ms),
        "payload_destroyed": m.payload_purged,
        "leases": leases,
        "review": review(m, names),
    })
}

fn consent_json(c: &ConsentRecord, entries: &[Entry], now_ms: i64, whole: bool) -> Value {
    let history: Vec<_> = entries
        .iter()
        .filter(|e| {
            matches!(e.action, Action::ConsentGranted | Action::ConsentRevoked)
                && e.legal_basis == Some(LegalBasis::Consent(c.id.clone()))
        })
        .map(|e| {
            json!({"action": format!("{:?}", e.action), "at": when(Some(e.time_ms)), "by": e.actor.to_string(), "detail": e.detail})
        })
        .collect();
    let mut doc = json!({
        "consent_id": c.id.to_string(),
        "registered_by_oin": c.registered_by.to_string(),
        "given_by": c.given_by.as_str(),
        "consented_by": c.consented_by.iter().map(|w| w.as_str()).collect::<Vec<_>>(),
        "obtained": c.obtained.map_or("not stated", |o| o.as_str()),
        "given_on": c.given_on.to_string(),
        "purpose_code": c.purpose_code.map(|p| p.as_str()),
        "purpose": c.purpose,
        "recipient_oins": c.recipient_oins.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "recipient_kinds": c.recipient_kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "message_kinds": c.message_kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "valid_from": when(Some(c.valid_from_ms)),
        "valid_until": when(Some(c.ends_at_ms())),
        "status": format!("{:?}", c.state(now_ms)).to_lowercase(),
        "revoked_at": when(c.revoked_at_ms),
        "revoked_by_oin": text(c.revoked_by.as_ref()),
        "revoke_reason": c.revoke_reason,
        "history": history,
    });
    if !whole {
        for private in [
            "recipient_oins",
            "recipient_kinds",
            "revoked_by_oin",
            "revoke_reason",
        ] {
            doc[private] = Value::Null;
        }
    }
    doc
}

/// Whether `e` is about a message marked for review: its actor or
/// counterpart may be the reporter whose identity may be withheld.
fn under_review(e: &Entry, flagged: &[&MessageId]) -> bool {
    e.message_id.as_ref().is_some_and(|m| flagged.contains(&m))
}

fn entry_json(e: &Entry, flagged: &[&MessageId]) -> Value {
    json!({
        "sequence": e.seq,
        "at": when(Some(e.time_ms)),
        "actor": e.actor.to_string(),
        "action": format!("{:?}", e.action),
        "message_id": text(e.message_id.as_ref()),
        "counterpart": e.counterpart,
        "case_id": text(e.case_id.as_ref()),
        "detail": e.detail,
        "review": under_review(e, flagged).then_some(REVIEW_VEILIG_THUIS),
    })
}
