//! The sled store's case records: one key per case that ever had a party,
//! its value the record sealed like every record that names a child.

use super::SledStore;
use super::keys::{CASE_RECORD, key};
use crate::model::{CaseId, CaseRecord};
use crate::policy::case_parties::CaseRefused;
use crate::store::{CaseEdit, Store as _, StoreError};

/// The key of case `id`'s record.
fn case_key(id: &CaseId) -> Vec<u8> {
    key(CASE_RECORD, &[id.as_str().as_bytes()])
}

impl SledStore {
    pub(super) fn case_record_read(&self, id: &CaseId) -> Result<Option<CaseRecord>, StoreError> {
        let k = case_key(id);
        match self.tree().get(&k)? {
            Some(v) => Ok(Some(self.sealing().decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    pub(super) async fn edit_case_step(
        &self,
        id: &CaseId,
        edit: CaseEdit,
        now_ms: i64,
    ) -> Result<Result<CaseRecord, CaseRefused>, StoreError> {
        let k = case_key(id);
        self.step(now_ms, move |step| {
            let stored = match step.view().get(&k)? {
                Some(v) => Some(step.sealing().decode(&k, &v)?),
                None => None,
            };
            let (case, audit) = match edit(stored) {
                Ok(changed) => changed,
                Err(refused) => return Ok(Err(refused)),
            };
            step.insert(k, step.sealing().encode(&case)?);
            step.audit(audit)?;
            Ok(Ok(case))
        })
        .await
    }
}
