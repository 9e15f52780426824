//! Writing a copy of another engine's store ([`crate::store::copy`]) into
//! an empty database: every item as it is, the audit chain with its
//! sequence numbers and hashes, in one transaction, so that a copy cut off
//! half-way leaves the database as empty as it found it.

use futures::future::try_join_all;
use tokio_postgres::types::Json;

use super::PostgresStore;
use super::session::Session;
use super::tx::{entry_rows, insert_message, insert_receipt};
use crate::model::GENESIS_HASH;
use crate::store::StoreError;
use crate::store::copy::{Item, Part, Source, Tally};
use crate::store::sealing::Sealing;

/// Items written in one round of pipelined statements.
const BATCH_ITEMS: usize = 256;
/// Payload bytes held for one round, at most (a round of large dossiers
/// is cut short).
const BATCH_BYTES: usize = 32 << 20;

/// Where the chain stands after the entries copied so far.
struct Chain {
    head_seq: u64,
    head_hash: Vec<u8>,
    start_seq: Option<u64>,
    erased_through: u64,
    tree_first: u64,
}

/// Counts the payload bytes held undelivered per inbox and per sender.
const HELD_BYTES: &str = "
    UPDATE inbox_counts c SET bytes = coalesce(
        (SELECT sum((m.record->>'payload_bytes')::bigint) FROM messages m
         WHERE m.recipient = c.recipient AND m.record->>'state' IN ('ready', 'leased')), 0);
    INSERT INTO sender_bytes (sender, bytes)
    SELECT sender, sum((record->>'payload_bytes')::bigint) FROM messages
    WHERE record->>'state' IN ('ready', 'leased') GROUP BY sender;";

/// How many of each the database holds.
async fn tally_in(db: &Session) -> Result<Tally, StoreError> {
    let row = db
        .one(
            "SELECT (SELECT count(*) FROM participants), (SELECT count(*) FROM consents),
                    (SELECT count(*) FROM messages), (SELECT count(*) FROM payloads),
                    (SELECT count(*) FROM receipts), (SELECT count(*) FROM audit),
                    (SELECT count(*) FROM checkpoints), (SELECT count(*) FROM notices),
                    (SELECT count(*) FROM inbox_counts), (SELECT count(*) FROM cases),
                    (SELECT count(*) FROM audit_nodes), (SELECT count(*) FROM tree_heads)",
            &[],
        )
        .await?;
    let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
    Ok(Tally {
        participants: n(0),
        consents: n(1),
        messages: n(2),
        payloads: n(3),
        receipts: n(4),
        entries: n(5),
        checkpoints: n(6),
        notices: n(7),
        inboxes: n(8),
        cases: n(9),
        tree_nodes: n(10),
        tree_heads: n(11),
    })
}

/// Writes one item.
async fn write(db: &Session, sealing: &Sealing, item: &Item) -> Result<(), StoreError> {
    match item {
        Item::Participant(p) => {
            db.execute(
                "INSERT INTO participants (oin, record) VALUES ($1, $2)",
                &[&p.oin.as_str(), &Json(p)],
            )
            .await?;
        }
        Item::Case(record) => {
            db.execute(
                "INSERT INTO cases (id, record) VALUES ($1, $2)",
                &[&record.id.as_str(), &Json(&sealing.to_value(record)?)],
            )
            .await?;
        }
        Item::Consent { record, ends_at_ms } => {
            db.execute(
                "INSERT INTO consents (id, registrant, ends_at_ms, record) VALUES ($1, $2, $3, $4)",
                &[
                    &record.id.as_str(),
                    &record.registered_by.as_str(),
                    ends_at_ms,
                    &Json(&sealing.to_value(record)?),
                ],
            )
            .await?;
        }
        Item::Message(m) => {
            insert_message(db, sealing, &m.record, &m.columns).await?;
            if let Some(sealed) = &m.sealed {
                db.execute(
                    "INSERT INTO payloads (message_id, sealed) VALUES ($1, $2)",
                    &[&m.record.id.as_str(), sealed],
                )
                .await?;
            }
        }
        Item::Receipt {
            sender,
            cursor,
            receipt,
        } => insert_receipt(db, sender, *cursor, receipt).await?,
        Item::Entry {
            entry,
            erase_from_ms,
        } => entry_rows(db, sealing, entry, *erase_from_ms).await?,
        Item::ErasedThrough(_) => {}
        Item::Checkpoint(c) => {
            db.execute(
                "INSERT INTO checkpoints (seq, checkpoint) VALUES ($1, $2)",
                &[&(c.seq as i64), &Json(c)],
            )
            .await?;
        }
        Item::TreeNode { level, index, hash } => {
            super::tree::write_nodes(db, &[(*level, *index, *hash)]).await?;
        }
        Item::TreeHead(head) => {
            db.execute(
                "INSERT INTO tree_heads (size, head) VALUES ($1, $2)",
                &[&(head.size as i64), &Json(head)],
            )
            .await?;
        }
        Item::TreeFirst(_) => {}
        Item::Notice { due_ms, id, notice } => {
            db.execute(
                "INSERT INTO notices (due_ms, id, notice) VALUES ($1, $2, $3)",
                &[due_ms, id, &notice.as_ref().map(Json)],
            )
            .await?;
        }
        Item::Counts {
            recipient,
            ready,
            leased,
        } => {
            db.execute(
                "INSERT INTO inbox_counts (recipient, ready, leased) VALUES ($1, $2, $3)",
                &[&recipient.as_str(), &(*ready as i64), &(*leased as i64)],
            )
            .await?;
        }
    }
    Ok(())
}

/// The payload bytes an item holds.
fn bytes_of(item: &Item) -> usize {
    match item {
        Item::Message(m) => m.sealed.as_ref().map_or(0, Vec::len),
        _ => 0,
    }
}

impl PostgresStore {
    /// How many of each the database holds now.
    pub async fn tally(&self) -> Result<Tally, StoreError> {
        tally_in(self.reader().await?.as_ref()).await
    }

    /// Writes the items `parts` brings into this store's database, which
    /// must hold nothing yet, in one transaction, committed once their end
    /// has come and what arrived is what was sent; `progress` is told what
    /// was written after every round. The audit head row stays locked
    /// until the end, so no gateway writes meanwhile. Answers the tally of
    /// what was written.
    pub async fn import(
        &self,
        mut parts: Source,
        mut progress: impl FnMut(&Tally),
    ) -> Result<Tally, StoreError> {
        // A connection of its own: if anything fails, dropping it ends the
        // transaction, which PostgreSQL then rolls back.
        let db = Session::open(&self.inner.target).await?;
        db.batch("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
        let head: i64 = db
            .one("SELECT seq FROM audit_head FOR UPDATE", &[])
            .await?
            .get(0);
        let held = tally_in(&db).await?;
        if head != 0 || held.total() != 0 {
            return Err(StoreError::Engine(format!(
                "database {:?} is not empty: it holds {held}. Copy into a new, empty database, and start no gateway on it before the copy is done",
                db.database()
            )));
        }
        let mut chain = Chain {
            head_seq: 0,
            head_hash: GENESIS_HASH.0.to_vec(),
            start_seq: None,
            erased_through: 0,
            tree_first: 1,
        };
        let mut tally = Tally::default();
        let mut round = Vec::with_capacity(BATCH_ITEMS);
        let mut bytes = 0;
        loop {
            let next = match parts.recv().await.transpose()? {
                Some(Part::Item(item)) => Some(*item),
                Some(Part::End(sent)) if sent == tally => None,
                Some(Part::End(sent)) => {
                    return Err(StoreError::Engine(format!(
                        "the copy's source sent {sent}, but {tally} arrived: nothing was written"
                    )));
                }
                None => {
                    return Err(StoreError::Engine(
                        "the copy's source stopped before its end: nothing was written".into(),
                    ));
                }
            };
            let done = next.is_none();
            if let Some(item) = next {
                match &item {
                    Item::Entry { entry, .. } => {
                        chain.start_seq.get_or_insert(entry.seq);
                        chain.head_seq = entry.seq;
                        chain.head_hash = entry.hash().0.to_vec();
                    }
                    Item::ErasedThrough(through) => chain.erased_through = *through,
                    Item::TreeFirst(first) => chain.tree_first = *first,
                    _ => {}
                }
                bytes += bytes_of(&item);
                tally.count(&item);
                round.push(item);
                if round.len() < BATCH_ITEMS && bytes < BATCH_BYTES {
                    continue;
                }
            }
            // One round: every statement of the round sent before the
            // first answer is awaited (tokio-postgres pipelines them).
            let sealing = &self.inner.sealing;
            try_join_all(round.iter().map(|item| write(&db, sealing, item))).await?;
            round.clear();
            bytes = 0;
            progress(&tally);
            if done {
                break;
            }
        }
        db.execute(
            "UPDATE audit_head SET seq = $1, hash = $2, start_seq = $3, erased_through = $4, tree_first = $5, tree_size = $1::bigint - $5::bigint + 1",
            &[
                &(chain.head_seq as i64),
                &chain.head_hash,
                &(chain.start_seq.unwrap_or(1) as i64),
                &(chain.erased_through as i64),
                &(chain.tree_first as i64),
            ],
        )
        .await?;
        // The tree's right edge, from the nodes copied.
        super::tree::set_edge(&db).await?;
        // The bytes held undelivered, counted from the messages copied (as
        // schema version 2 counted them in a database of version 1).
        db.batch(HELD_BYTES).await?;
        db.batch("COMMIT").await?;
        self.refresh_size().await;
        Ok(tally)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::SigningKey;
    use crate::model::{
        Action, ConsentId, Draft, Kind, LegalBasis, MessageId, OrgKind, Outcome, Participant,
    };
    use crate::store::contract::fixtures::*;
    use crate::store::postgres::scratch::Scratch;
    use crate::store::sled::SledStore;
    use crate::store::sled::payloads::FILE_FROM_BYTES;
    use crate::store::{Store, Take};
    use schakel_proto::v1 as pb;

    /// What a filled store holds, to read back.
    struct Filled {
        ids: Vec<MessageId>,
        consent: ConsentId,
    }

    /// Fills `store` with something of everything a copy must carry: a
    /// message waiting, one leased, one delivered whose payload waits for
    /// its retention, a large payload, a signal waiting for its lapse, a
    /// consent with a notice scheduled, a participant, a checkpoint, and
    /// child references erased up to a point of the chain.
    async fn fill(store: &dyn Store) -> Filled {
        let notice = scheduled(NOW + 30 * MINUTE, "lapsing");
        let consent = ConsentId::new_v7();
        store
            .grant_consent(
                &crate::store::contract::fixtures::consent(&consent, NOW + 60 * MINUTE),
                Draft::new(oin(SENDER), Action::ConsentGranted),
                vec![notice],
                NOW,
            )
            .await
            .unwrap();
        let p = Participant::new(oin(4), "Wijkteam", OrgKind::Jgt);
        store
            .insert_participant(&p, Draft::new(oin(9), Action::DirectoryChanged), NOW)
            .await
            .unwrap();
        let leased = accept(store, message("leased", statute(), 1), NOW).await;
        lease_ids(store, 1, NOW, MINUTE).await;
        let delivered = accept(store, message("delivered", statute(), 2), NOW).await;
        lease_ids(store, 1, NOW, MINUTE).await;
        store
            .finish(&oin(RECIPIENT), &delivered, Outcome::Delivered, NOW, MINUTE)
            .await
            .unwrap();
        let basis = LegalBasis::Consent(consent.clone());
        let waiting = accept(store, message("waiting", basis, 3), NOW).await;
        let large = message_of("large", statute(), 4, FILE_FROM_BYTES + 10);
        let large = accept(store, large, NOW).await;
        let mut signal = message("signal", statute(), 5);
        signal.record.kind = Kind::Signalering;
        signal.record.lapses_at_ms = Some(NOW + 100 * MINUTE);
        let signal = accept(store, signal, NOW).await;
        store.erase_child_refs(NOW + 1, 100, NOW + 2).await.unwrap();
        let late = accept(store, message("late", statute(), 6), NOW + 3).await;
        store.checkpoint(NOW + 4).await.unwrap();
        store
            .append_audit(vec![Draft::new(oin(7), Action::AccessRefused)], NOW + 5)
            .await
            .unwrap();
        Filled {
            ids: vec![leased, delivered, waiting, large, signal, late],
            consent,
        }
    }

    /// Everything `store` answers about what `filled` put in it, as text
    /// (the answers do not all compare).
    async fn reads(store: &dyn Store, filled: &Filled) -> Vec<String> {
        reads_as(store, filled, |_| {}).await
    }

    /// A receipt without what depends on its entry's hash: the entries the
    /// steps made after the copy have salts of their own.
    fn without_proof(r: &mut pb::Receipt) {
        r.audit_entry_hash.clear();
        r.inclusion_proof.clear();
        r.tree_head = None;
    }

    /// What [`reads`] reads, each receipt passed through `edit` first.
    async fn reads_as(
        store: &dyn Store,
        filled: &Filled,
        mut edit: impl FnMut(&mut pb::Receipt),
    ) -> Vec<String> {
        use crate::store::receipts::Receipts as _;
        let (head, _) = store.audit_head().await.unwrap();
        let mut out = vec![
            format!("{:?}", store.audit_head().await.unwrap()),
            format!("{:?}", store.audit_start().await.unwrap()),
            format!("{:?}", store.audit_entries(1, usize::MAX).await.unwrap()),
            format!("{:?}", store.audit_checkpoints(1, head).await.unwrap()),
            format!("{:?}", store.participants().await.unwrap()),
            format!("{:?}", store.consents_of(&oin(SENDER)).await.unwrap()),
            format!("{:?}", store.consent(&filled.consent).await.unwrap()),
            format!("{:?}", store.inbox_figures().await.unwrap()),
            format!("{:?}", {
                let mut r = store.receipts_after(&oin(SENDER), 0, 1000).await;
                r.each(&mut edit);
                r
            }),
            format!("{:?}", store.due_notices(NOW + 10_000 * MINUTE, 100).await),
        ];
        for id in &filled.ids {
            out.push(format!("{:?}", store.message(id).await.unwrap()));
            let mut receipts = store.message_receipts(id).await.unwrap();
            receipts.each(&mut edit);
            out.push(format!("{receipts:?}"));
        }
        out
    }

    /// The same steps, taken on `store`: what they answer.
    async fn steps(store: &dyn Store) -> Vec<String> {
        let later = NOW + 10 * MINUTE;
        vec![
            format!(
                "{:?}",
                store
                    .lease(&oin(RECIPIENT), Take::messages(100), later, MINUTE)
                    .await
            ),
            format!("{:?}", store.sweep(NOW + 200 * MINUTE, MINUTE).await),
            format!(
                "{:?}",
                store
                    .erase_child_refs(NOW + 150 * MINUTE, 100, NOW + 201 * MINUTE)
                    .await
            ),
            format!("{:?}", store.audit_head().await),
        ]
    }

    /// A store in a new database of the scratch server, signing with
    /// `key`.
    async fn store_in_new_database(pg: &Scratch, key: Arc<SigningKey>) -> PostgresStore {
        let database = format!("copy{}", uuid::Uuid::now_v7().simple());
        pg.ensure_database(&database).await;
        PostgresStore::open(
            pg.target(&database),
            key,
            crate::store::sealing::Sealing::for_tests(&std::env::temp_dir()),
        )
        .await
        .unwrap()
    }

    /// An empty store with a key of its own; None without PostgreSQL.
    async fn empty_store() -> Option<PostgresStore> {
        let pg = Scratch::shared()?;
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(SigningKey::load_or_create(dir.path()).unwrap());
        Some(store_in_new_database(pg, key).await)
    }

    /// Copies `from` into a new database of the scratch server.
    async fn copy(from: &SledStore, key: Arc<SigningKey>) -> PostgresStore {
        let pg = Scratch::shared().expect("the scratch server");
        let to = store_in_new_database(pg, key).await;
        let (sink, source) = tokio::sync::mpsc::channel(8);
        let from = from.clone();
        let reader = std::thread::spawn(move || from.export(&sink));
        let mut rounds = 0;
        let tally = to.import(source, |_| rounds += 1).await.unwrap();
        reader.join().unwrap();
        assert!(rounds >= 1, "progress is reported");
        assert_eq!(to.tally().await.unwrap(), tally);
        to
    }

    #[tokio::test]
    async fn a_copy_answers_every_read_and_step_as_its_source_does() {
        if Scratch::shared().is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(SigningKey::load_or_create(dir.path()).unwrap());
        let sled = SledStore::open(
            &dir.path().join("store"),
            8 << 20,
            key.clone(),
            crate::store::sealing::Sealing::for_tests(dir.path()),
        )
        .unwrap();
        let filled = fill(&sled).await;
        let copied = copy(&sled, key).await;
        let tally = copied.tally().await.unwrap();
        assert_eq!(
            (
                tally.messages,
                tally.payloads,
                tally.notices,
                tally.checkpoints
            ),
            (6, 6, 1, 1),
            "{tally}"
        );
        assert_eq!(reads(&copied, &filled).await, reads(&sled, &filled).await);
        // Leases, sweeps and erasures go on from the same state: the same
        // answers. New entries take salts of their own for
        // their child references, so their hashes differ; the rest of the
        // chain is the same, and the copy's still links.
        assert_eq!(steps(&copied).await, steps(&sled).await);
        let entries = |store: &'static str, e: Vec<crate::model::Entry>| {
            let linked = e.windows(2).all(|w| w[1].prev_hash == w[0].hash());
            assert!(linked, "the chain of the {store} store links");
            e.into_iter()
                .map(|e| (e.seq, e.time_ms, e.action, e.detail, e.child_ref))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            entries("copied", copied.audit_entries(1, 1000).await.unwrap()),
            entries("sled", sled.audit_entries(1, 1000).await.unwrap())
        );
        let state = |r: Vec<String>| r[4..].to_vec();
        assert_eq!(
            state(reads_as(&copied, &filled, without_proof).await),
            state(reads_as(&sled, &filled, without_proof).await)
        );
    }

    #[tokio::test]
    async fn a_database_that_holds_anything_is_refused_and_keeps_what_it_held() {
        let Some(to) = empty_store().await else {
            return;
        };
        let p = Participant::new(oin(4), "Wijkteam", OrgKind::Jgt);
        to.insert_participant(&p, Draft::new(oin(9), Action::DirectoryChanged), NOW)
            .await
            .unwrap();
        let before = to.tally().await.unwrap();
        let (sink, source) = tokio::sync::mpsc::channel(8);
        let school = Item::Participant(Participant::new(oin(5), "School", OrgKind::School));
        sink.send(Ok(Part::Item(Box::new(school)))).await.unwrap();
        let e = to.import(source, |_| {}).await.unwrap_err().to_string();
        assert!(
            e.contains("is not empty: it holds 1 participants") && e.contains("empty database"),
            "{e}"
        );
        assert_eq!(to.tally().await.unwrap(), before);
    }

    #[tokio::test]
    async fn a_source_that_fails_or_stops_before_its_end_leaves_nothing() {
        let Some(to) = empty_store().await else {
            return;
        };
        // More than a round: one round is written before the end comes.
        let school = |i: usize| {
            let oin = crate::model::Oin::parse(&format!("{:020}", 1_000 + i)).unwrap();
            Item::Participant(Participant::new(oin, "School", OrgKind::School))
        };
        let ends: [Option<Result<Part, StoreError>>; 3] = [
            None,
            Some(Err(StoreError::Engine("a damaged page".into()))),
            Some(Ok(Part::End(Tally::default()))),
        ];
        for end in ends {
            let (sink, source) = tokio::sync::mpsc::channel(8);
            let reader = tokio::spawn(async move {
                for i in 0..=BATCH_ITEMS {
                    sink.send(Ok(Part::Item(Box::new(school(i)))))
                        .await
                        .unwrap();
                }
                if let Some(end) = end {
                    sink.send(end).await.unwrap();
                }
            });
            let mut written = Tally::default();
            let e = to
                .import(source, |so_far| written = *so_far)
                .await
                .unwrap_err()
                .to_string();
            reader.await.unwrap();
            assert_eq!(
                written.participants, BATCH_ITEMS as u64,
                "a round was written"
            );
            assert!(
                e.contains("nothing was written") || e.contains("a damaged page"),
                "{e}"
            );
            assert_eq!(to.tally().await.unwrap(), Tally::default());
        }
    }
}
