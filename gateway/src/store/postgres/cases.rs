//! The PostgreSQL store's case records: a row per case that ever had a
//! party, its record sealed like every record that names a child.

use tokio_postgres::types::Json;

use super::PostgresStore;
use super::tx::sealed;
use crate::model::{CaseId, CaseRecord};
use crate::policy::case_parties::CaseRefused;
use crate::store::{CaseEdit, StoreError};

impl PostgresStore {
    pub(super) async fn case_record_read(
        &self,
        id: &CaseId,
    ) -> Result<Option<CaseRecord>, StoreError> {
        let db = self.reader().await?;
        db.opt("SELECT record FROM cases WHERE id = $1", &[&id.as_str()])
            .await?
            .map(|row| sealed(&row, 0, id.as_str(), &self.inner.sealing))
            .transpose()
    }

    pub(super) async fn edit_case_step(
        &self,
        id: &CaseId,
        edit: CaseEdit,
        now_ms: i64,
    ) -> Result<Result<CaseRecord, CaseRefused>, StoreError> {
        let id = id.clone();
        step!(self, now_ms, move |tx| {
            let stored = tx
                .db
                .opt(
                    "SELECT record FROM cases WHERE id = $1 FOR UPDATE",
                    &[&id.as_str()],
                )
                .await?
                .map(|row| sealed(&row, 0, id.as_str(), &tx.sealing))
                .transpose()?;
            let (case, audit) = match edit(stored) {
                Ok(changed) => changed,
                Err(refused) => return Ok(Err(refused)),
            };
            tx.db
                .execute(
                    "INSERT INTO cases (id, record) VALUES ($1, $2)
                     ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                    &[&id.as_str(), &Json(&tx.sealing.to_value(&case)?)],
                )
                .await?;
            tx.audit(audit).await?;
            Ok(Ok(case))
        })
        .await
    }
}
