//! The PostgreSQL store's reads: on the readers' connection, never through
//! the writer, so that a read does not wait for a group's commit.

use schakel_proto::v1 as pb;

use super::PostgresStore;
use super::tx::{
    about_lookups, consent_in, counts_in, json, parsed, receipt_from, receipts_of, sealed,
    sql_limit,
};
use crate::model::{
    CaseId, Checkpoint, ConsentId, ConsentRecord, Entry, MessageId, MessageRecord, Oin, Participant,
};
use crate::store::sealing::Identifying;
use crate::store::{AuditKey, DueNotice, InboxFigures, OVERDUE_NOTICE, StoreError};

/// Every row's column 0, decoded from JSON.
fn all<T: serde::de::DeserializeOwned>(
    rows: &[tokio_postgres::Row],
    what: &str,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|row| json(row, 0, what)).collect()
}

impl PostgresStore {
    /// Every row's column 0, a record with its sealed part opened.
    fn all_sealed<T: Identifying>(
        &self,
        rows: &[tokio_postgres::Row],
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        rows.iter()
            .map(|row| sealed(row, 0, what, &self.inner.sealing))
            .collect()
    }

    pub(super) async fn participant_read(
        &self,
        oin: &Oin,
    ) -> Result<Option<Participant>, StoreError> {
        self.reader()
            .await?
            .opt(
                "SELECT record FROM participants WHERE oin = $1",
                &[&oin.as_str()],
            )
            .await?
            .map(|row| json(&row, 0, oin.as_str()))
            .transpose()
    }

    pub(super) async fn participants_read(&self) -> Result<Vec<Participant>, StoreError> {
        let rows = self
            .reader()
            .await?
            .query("SELECT record FROM participants ORDER BY oin", &[])
            .await?;
        all(&rows, "participant")
    }

    pub(super) async fn consent_read(
        &self,
        id: &ConsentId,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        consent_in(&*self.reader().await?, &self.inner.sealing, id).await
    }

    pub(super) async fn consents_of_read(
        &self,
        oin: &Oin,
    ) -> Result<Vec<ConsentRecord>, StoreError> {
        // Consent ids are UUID v7: newest first is the ids' order, reversed.
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT record FROM consents WHERE registrant = $1 ORDER BY id DESC",
                &[&oin.as_str()],
            )
            .await?;
        self.all_sealed(&rows, "consent")
    }

    pub(super) async fn message_read(
        &self,
        id: &MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        self.reader()
            .await?
            .opt("SELECT record FROM messages WHERE id = $1", &[&id.as_str()])
            .await?
            .map(|row| sealed(&row, 0, id.as_str(), &self.inner.sealing))
            .transpose()
    }

    pub(super) async fn case_messages_read(
        &self,
        case: &CaseId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT record FROM messages WHERE case_id = $1 ORDER BY created_at_ms, id",
                &[&case.as_str()],
            )
            .await?;
        self.all_sealed(&rows, "message")
    }

    pub(super) async fn message_receipts_read(
        &self,
        id: &MessageId,
    ) -> Result<Vec<pb::Receipt>, StoreError> {
        match self.message_read(id).await? {
            Some(r) => receipts_of(&*self.reader().await?, &r).await,
            None => Ok(Vec::new()),
        }
    }

    pub(super) async fn receipts_after_read(
        &self,
        sender: &Oin,
        after_cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::Receipt)>, StoreError> {
        let after = i64::try_from(after_cursor).unwrap_or(i64::MAX);
        self.reader()
            .await?
            .query(
                "SELECT cursor, receipt FROM receipts WHERE sender = $1 AND cursor > $2
                 ORDER BY cursor LIMIT $3",
                &[&sender.as_str(), &after, &sql_limit(limit)],
            )
            .await?
            .iter()
            .map(|row| {
                let cursor: i64 = row.get(0);
                Ok((cursor as u64, receipt_from(row.get(1), "receipt")?))
            })
            .collect()
    }

    pub(super) async fn inbox_counts_read(
        &self,
        recipient: &Oin,
    ) -> Result<(u64, u64), StoreError> {
        counts_in(&*self.reader().await?, recipient).await
    }

    pub(super) async fn inbox_figures_read(&self) -> Result<Vec<InboxFigures>, StoreError> {
        let db = self.reader().await?;
        let rows = db
            .query(
                "SELECT c.recipient, c.ready, c.leased,
                     (SELECT m.created_at_ms FROM messages m
                      WHERE m.recipient = c.recipient AND m.queue_seq IS NOT NULL
                      ORDER BY m.queue_seq LIMIT 1),
                     c.bytes
                 FROM inbox_counts c WHERE c.ready > 0 OR c.leased > 0 ORDER BY c.recipient",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let recipient: String = row.get(0);
                let (ready, leased): (i64, i64) = (row.get(1), row.get(2));
                Ok(InboxFigures {
                    recipient: Oin::parse(&recipient).map_err(|e| StoreError::Corrupt {
                        key: recipient.clone(),
                        message: e.to_string(),
                    })?,
                    ready: ready.max(0) as u64,
                    leased: leased.max(0) as u64,
                    oldest_ready_ms: row.get(3),
                    held_bytes: row.get::<_, i64>(4).max(0) as u64,
                })
            })
            .collect()
    }

    pub(super) async fn sender_figures_read(&self) -> Result<Vec<(Oin, u64)>, StoreError> {
        let db = self.reader().await?;
        db.query(
            "SELECT sender, bytes FROM sender_bytes WHERE bytes > 0 ORDER BY sender",
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            let sender: String = row.get(0);
            let oin = Oin::parse(&sender).map_err(|e| StoreError::Corrupt {
                key: sender.clone(),
                message: e.to_string(),
            })?;
            Ok((oin, row.get::<_, i64>(1).max(0) as u64))
        })
        .collect()
    }

    pub(super) async fn audit_head_read(&self) -> Result<(u64, u64), StoreError> {
        let row = self
            .reader()
            .await?
            .one(
                "SELECT seq, (SELECT coalesce(max(seq), 0) FROM checkpoints) FROM audit_head",
                &[],
            )
            .await?;
        let (seq, checkpoint): (i64, i64) = (row.get(0), row.get(1));
        Ok((seq as u64, checkpoint as u64))
    }

    pub(super) async fn audit_start_read(&self) -> Result<u64, StoreError> {
        let start: i64 = self
            .reader()
            .await?
            .one("SELECT start_seq FROM audit_head", &[])
            .await?
            .get(0);
        Ok(start as u64)
    }

    pub(super) async fn audit_entries_read(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT entry FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2",
                &[&from, &sql_limit(limit)],
            )
            .await?;
        self.all_sealed(&rows, "audit entry")
    }

    pub(super) async fn audit_entries_about_read(
        &self,
        about: &AuditKey,
        after: u64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let lookups = about_lookups(about, &self.inner.sealing, now_ms);
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT a.entry FROM audit a WHERE a.seq IN (
                     SELECT DISTINCT i.seq FROM audit_about i
                     WHERE i.about = ANY($1) AND i.seq > $2 ORDER BY i.seq LIMIT $3)
                 ORDER BY a.seq",
                &[&lookups, &after, &sql_limit(limit)],
            )
            .await?;
        // One erased today keeps its index row until the day is over.
        let entries: Vec<Entry> = self.all_sealed(&rows, "audit entry")?;
        Ok(entries.into_iter().filter(|e| about.names(e)).collect())
    }

    pub(super) async fn audit_checkpoints_read(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let (from, to) = (
            i64::try_from(from).unwrap_or(i64::MAX),
            i64::try_from(to).unwrap_or(i64::MAX),
        );
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT checkpoint FROM checkpoints WHERE seq BETWEEN $1 AND $2 ORDER BY seq",
                &[&from, &to],
            )
            .await?;
        all(&rows, "checkpoint")
    }

    pub(super) async fn due_notices_read(
        &self,
        now_ms: i64,
        max: usize,
    ) -> Result<Vec<DueNotice>, StoreError> {
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT due_ms, id, notice FROM notices WHERE due_ms <= $1
                 ORDER BY due_ms, id LIMIT $2",
                &[&now_ms, &sql_limit(max)],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let (at_ms, id): (i64, String) = (row.get(0), row.get(1));
            let body: Option<tokio_postgres::types::Json<serde_json::Value>> = row.get(2);
            let notice = match (id.strip_prefix(OVERDUE_NOTICE), body) {
                (Some(message), None) => {
                    let message: MessageId = parsed(message)?;
                    crate::policy::notices::overdue_when_due(
                        &message,
                        self.message_read(&message).await?.as_ref(),
                    )
                }
                _ => json(row, 2, &id)?,
            };
            out.push(DueNotice { at_ms, id, notice });
        }
        Ok(out)
    }
}
