//! The contract of what follows a child's trail: the messages of a case,
//! and the audit entries that carry it.

use super::fixtures::*;
use crate::model::{CaseId, ENTRY_FORMAT};

/// A case lists the messages accepted in it, oldest first, and only those;
/// their audit entries carry the case.
pub async fn a_case_lists_its_messages(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let case = CaseId::new_v7();
    let other = CaseId::new_v7();
    let mut ids = Vec::new();
    for (i, c) in [&case, &other, &case].into_iter().enumerate() {
        let mut m = message(&format!("c{i}"), statute(), i as u8);
        m.record.case_id = c.clone();
        m.record.created_at_ms = NOW + i as i64;
        ids.push(accept(store.as_ref(), m, NOW + i as i64).await);
    }
    let listed: Vec<_> = store
        .case_messages(&case)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![ids[0].clone(), ids[2].clone()]);
    assert!(
        store
            .case_messages(&CaseId::new_v7())
            .await
            .unwrap()
            .is_empty()
    );
    let entries = store.audit_entries(1, 10).await.unwrap();
    assert_eq!(entries[0].case_id.as_ref(), Some(&case));
    assert_eq!(entries[1].case_id.as_ref(), Some(&other));
    assert!(entries.iter().all(|e| e.format == ENTRY_FORMAT));
}
