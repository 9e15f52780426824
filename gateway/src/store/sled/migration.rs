//! The steps that bring a store written by an earlier release to the
//! current format, one format at a time. Each step may be interrupted and
//! run again: it recognises what it already did, and derives what it adds
//! from what is stored, so that a second run gives the same result.

use std::collections::HashMap;

use serde_json::Value;

use super::keys::{
    AUDIT, BY_CHILD, CASE, CONSENT, ERASE, HELD_BY_RECIPIENT, HELD_BY_SENDER, MESSAGE,
    audit_index_keys, be, decode, encode, key, overdue_key, u64_at,
};
use crate::model::{CaseId, ConsentRecord, Entry, MessageRecord, State};
use crate::policy::notices;
use crate::store::StoreError;
use crate::store::sealing::{Identifying, Sealing};

/// Writes per batch, so that a store of millions of messages is migrated in
/// bounded memory.
const BATCH: usize = 10_000;

fn corrupt(k: &[u8], message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(k).into_owned(),
        message: message.into(),
    }
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// Format 1 to 2: every message gets a case id of the gateway's, and the
/// sender's own text of format 1 becomes its case reference. Messages of one
/// sender with the same (non-empty) text form one case, as the sender meant
/// them to; a message without one is a case of its own; a reply joins the
/// case of its request and is about the request's child. An undelivered
/// message gets the moment it is overdue, and its sender's notice for then.
/// Returns how many messages it migrated.
pub fn messages_to_2(tree: &::sled::Tree) -> Result<usize, StoreError> {
    // Requests, by id: their case and child, for the replies that answer them.
    let mut requests: HashMap<String, (String, Value)> = HashMap::new();
    let mut replies = Vec::new();
    let mut batch = ::sled::Batch::default();
    let (mut pending, mut migrated) = (0, 0);
    for kv in tree.scan_prefix([MESSAGE]) {
        let (k, v) = kv?;
        let mut r: Value = serde_json::from_slice(&v).map_err(|e| corrupt(&k, e.to_string()))?;
        let id = text(&r, "id").to_owned();
        let done = r.get("case_reference").is_some();
        if !done && !text(&r, "in_reply_to").is_empty() {
            replies.push(k.to_vec());
            continue;
        }
        if !done {
            let own = text(&r, "case_id").to_owned();
            let case = if own.is_empty() {
                CaseId::derived(id.as_bytes())
            } else {
                CaseId::derived(format!("{}\0{own}", text(&r, "sender")).as_bytes())
            };
            r["case_reference"] = own.into();
            r["case_id"] = case.to_string().into();
            write(&mut batch, &k, &r, &id)?;
            (pending, migrated) = (pending + 1, migrated + 1);
        }
        if text(&r, "kind") == "consultatieverzoek" {
            let child = r.get("child_ref").cloned().unwrap_or(Value::Null);
            requests.insert(id, (text(&r, "case_id").to_owned(), child));
        }
        if pending >= BATCH {
            tree.apply_batch(std::mem::take(&mut batch))?;
            pending = 0;
        }
    }
    for k in replies {
        let Some(v) = tree.get(&k)? else { continue };
        let mut r: Value = serde_json::from_slice(&v).map_err(|e| corrupt(&k, e.to_string()))?;
        let id = text(&r, "id").to_owned();
        let own = text(&r, "case_id").to_owned();
        let (case, child) = match requests.get(text(&r, "in_reply_to")) {
            Some((case, child)) => (case.clone(), child.clone()),
            None => (CaseId::derived(id.as_bytes()).to_string(), Value::Null),
        };
        r["case_reference"] = own.into();
        r["case_id"] = case.into();
        if r.get("child_ref").is_none_or(Value::is_null) {
            r["child_ref"] = child;
        }
        write(&mut batch, &k, &r, &id)?;
        (pending, migrated) = (pending + 1, migrated + 1);
        if pending >= BATCH {
            tree.apply_batch(std::mem::take(&mut batch))?;
            pending = 0;
        }
    }
    tree.apply_batch(batch)?;
    Ok(migrated)
}

/// Format 1 to 2: the indexes that find audit entries by child and by
/// organisation, for the entries written before them. Writing an index key
/// twice changes nothing, so a second run is harmless. Returns how many
/// entries it indexed.
pub fn audit_indexes_to_2(tree: &::sled::Tree, sealing: &Sealing) -> Result<usize, StoreError> {
    let mut batch = ::sled::Batch::default();
    let (mut pending, mut indexed) = (0, 0);
    for kv in tree.scan_prefix([AUDIT]) {
        let (k, v) = kv?;
        let entry: Entry = decode(&k, &v)?;
        for index in audit_index_keys(&entry, sealing) {
            batch.insert(index, Vec::<u8>::new());
            pending += 1;
        }
        indexed += 1;
        if pending >= BATCH {
            tree.apply_batch(std::mem::take(&mut batch))?;
            pending = 0;
        }
    }
    tree.apply_batch(batch)?;
    Ok(indexed)
}

/// Format 4 to 5: what identifies a child in every message, consent and
/// audit entry is sealed under the key of the day its term ends (one whose
/// term is already over loses it), and the index by child is made again
/// with the references blinded; the index keys of format 4, which held
/// them in plain, are removed. Run again, it seals what it sealed anew.
/// Returns how many records it sealed. The store's files still hold the
/// plain copies until the store is compacted (`compaction`).
pub fn sealed_to_5(tree: &::sled::Tree, sealing: &Sealing) -> Result<usize, StoreError> {
    let mut batch = ::sled::Batch::default();
    let (mut pending, mut sealed) = (0, 0);
    let flush = |batch: &mut ::sled::Batch, pending: &mut usize| -> Result<(), StoreError> {
        if *pending >= BATCH {
            tree.apply_batch(std::mem::take(batch))?;
            *pending = 0;
        }
        Ok(())
    };
    /// The record under `k`, as `T`, written again sealed.
    fn reseal<T: Identifying>(
        sealing: &Sealing,
        k: &[u8],
        v: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        Ok(sealing.encode(&sealing.decode::<T>(k, v)?)?)
    }
    for (prefix, reseal) in [
        (
            MESSAGE,
            reseal::<MessageRecord> as fn(&Sealing, &[u8], &[u8]) -> _,
        ),
        (CONSENT, reseal::<ConsentRecord>),
    ] {
        for kv in tree.scan_prefix([prefix]) {
            let (k, v) = kv?;
            let stored = reseal(sealing, &k, &v)?;
            batch.insert(k, stored);
            (pending, sealed) = (pending + 1, sealed + 1);
            flush(&mut batch, &mut pending)?;
        }
    }
    // The index by child of format 4: `h`, the reference, the entry's
    // sequence number.
    for kv in tree.scan_prefix([BY_CHILD]) {
        let (k, _) = kv?;
        if k.len() == 1 + 32 + 8 {
            batch.remove(k);
            pending += 1;
            flush(&mut batch, &mut pending)?;
        }
    }
    // A signal's entry counts from the signal's lapse, which format 4 kept
    // in its erasure schedule only (`E`, when, the entry).
    let mut lapses = HashMap::new();
    for kv in tree.scan_prefix([ERASE]) {
        let (k, _) = kv?;
        lapses.insert(u64_at(&k, 9)?, u64_at(&k, 1)? as i64);
    }
    for kv in tree.scan_prefix([AUDIT]) {
        let (k, v) = kv?;
        let mut entry: Entry = sealing.decode(&k, &v)?;
        entry.retention_from_ms = entry.retention_from_ms.or(lapses.get(&entry.seq).copied());
        let stored = sealing.encode(&entry)?;
        batch.insert(k, stored);
        for index in audit_index_keys(&entry, sealing) {
            batch.insert(index, Vec::<u8>::new());
        }
        (pending, sealed) = (pending + 1, sealed + 1);
        flush(&mut batch, &mut pending)?;
    }
    tree.apply_batch(batch)?;
    Ok(sealed)
}

/// Adds the migrated record `r` under `k`, its place in its case, and for
/// an undelivered message the notice it schedules.
fn write(batch: &mut ::sled::Batch, k: &[u8], r: &Value, id: &str) -> Result<(), StoreError> {
    let mut record: MessageRecord =
        serde_json::from_value(r.clone()).map_err(|e| corrupt(k, e.to_string()))?;
    if !record.state.is_final() && record.overdue_at_ms.is_none() {
        record.overdue_at_ms = notices::overdue_at_ms(record.created_at_ms);
        if let Some(at_ms) = record.overdue_at_ms {
            batch.insert(overdue_key(at_ms, &record.id), Vec::<u8>::new());
        }
    }
    batch.insert(k, encode(&record)?);
    batch.insert(
        key(CASE, &[record.case_id.as_str().as_bytes(), id.as_bytes()]),
        Vec::<u8>::new(),
    );
    Ok(())
}

/// Format 3 to 4: the payload bytes held undelivered (waiting or leased),
/// per recipient (`b`) and per sender (`B`), counted from the messages, for
/// the byte quotas. Run again, it writes the same sums. Returns the bytes it
/// found held.
pub fn held_bytes_to_4(tree: &::sled::Tree) -> Result<u64, StoreError> {
    let mut held: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut total = 0u64;
    for kv in tree.scan_prefix([MESSAGE]) {
        let (k, v) = kv?;
        let r: MessageRecord = decode(&k, &v)?;
        if !matches!(r.state, State::Ready | State::Leased) {
            continue;
        }
        total = total.saturating_add(r.payload_bytes);
        for k in [
            key(HELD_BY_RECIPIENT, &[r.recipient.as_str().as_bytes()]),
            key(HELD_BY_SENDER, &[r.sender.as_str().as_bytes()]),
        ] {
            let sum = held.entry(k).or_default();
            *sum = sum.saturating_add(r.payload_bytes);
        }
    }
    let mut batch = ::sled::Batch::default();
    for (k, bytes) in held {
        batch.insert(k, be(bytes).to_vec());
    }
    tree.apply_batch(batch)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(id: &str, sender: &str, case: &str, kind: &str, reply_to: &str, child: Value) -> Value {
        serde_json::json!({
            "id": id, "sender": sender, "recipient": "00000099300000000001",
            "client_reference": id, "kind": kind, "case_id": case, "in_reply_to": reply_to,
            "legal_basis": {"statute": "meldrecht_veilig_thuis"}, "child_ref": child,
            "created_at_ms": 1, "expires_at_ms": 2, "payload_digest": "00".repeat(32),
            "request_digest": "00".repeat(32), "payload_bytes": 1, "state": "ready",
            "attempts": 0, "lease_until_ms": null, "queue_seq": 1, "final_at_ms": null,
            "payload_purged": false, "final_detail": "",
        })
    }

    #[test]
    fn cases_are_given_once_and_replies_join_their_request() {
        let dir = tempfile::tempdir().unwrap();
        let tree = ::sled::open(dir.path()).unwrap().open_tree("t").unwrap();
        let ids = [
            "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c81",
            "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c82",
            "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c83",
            "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c84",
        ];
        let school = "00000099100000000001";
        let child = Value::String("07".repeat(32));
        let records = [
            old(
                ids[0],
                school,
                "zaak-1",
                "consultatieverzoek",
                "",
                child.clone(),
            ),
            old(ids[1], school, "zaak-1", "signalering", "", child.clone()),
            old(ids[2], school, "", "signalering", "", Value::Null),
            old(
                ids[3],
                "00000099300000000001",
                "eigen",
                "consultatieantwoord",
                ids[0],
                Value::Null,
            ),
        ];
        for r in &records {
            let k = key(MESSAGE, &[text(r, "id").as_bytes()]);
            tree.insert(k, serde_json::to_vec(r).unwrap()).unwrap();
        }
        assert_eq!(messages_to_2(&tree).unwrap(), 4);
        let read = |id: &str| -> MessageRecord {
            let v = tree.get(key(MESSAGE, &[id.as_bytes()])).unwrap().unwrap();
            serde_json::from_slice(&v).unwrap()
        };
        let [a, b, c, reply] = ids.map(read);
        assert_eq!(a.case_id, b.case_id, "one sender's case text is one case");
        assert_eq!(a.case_reference, "zaak-1");
        assert_ne!(c.case_id, a.case_id);
        assert_eq!(reply.case_id, a.case_id, "a reply joins its request");
        assert_eq!(reply.case_reference, "eigen");
        assert_eq!(reply.child_ref, a.child_ref, "and is about its child");
        // The undelivered ones are overdue three working days after they
        // were sent, and their senders are told then.
        assert_eq!(a.overdue_at_ms, notices::overdue_at_ms(1));
        assert_eq!(tree.scan_prefix([super::super::keys::NOTICE]).count(), 4);
        let in_case = tree
            .scan_prefix(key(CASE, &[a.case_id.as_str().as_bytes()]))
            .count();
        assert_eq!(in_case, 3);
        // Run again (as after an interrupted start): nothing changes.
        assert_eq!(messages_to_2(&tree).unwrap(), 0);
        assert_eq!(read(ids[3]), reply);
    }
}
