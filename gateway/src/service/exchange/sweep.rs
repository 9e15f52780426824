//! The sweeper's round: leases that ran out back to their inboxes, expired
//! messages finished, lapsed consents' messages withdrawn, payloads past
//! their retention destroyed, notices that are due sent; and the wake-ups
//! that go with them.

use super::Exchange;
use crate::metrics::METRICS;
use crate::service::ServiceError;
use crate::store::SweepReport;

impl Exchange {
    /// One sweep, when it is this gateway's turn to do the upkeep
    /// ([`Store::upkeep_turn`](crate::store::Store::upkeep_turn)).
    pub async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        if !self.store.upkeep_turn().await? {
            return Ok(SweepReport::default());
        }
        let report = self
            .store
            .sweep(self.clock.now_ms(), self.retention_ms())
            .await?;
        METRICS.lease_expiries.inc_by(report.requeued as u64);
        for _ in 0..report.expired {
            METRICS.message("any", "expired");
        }
        for w in &report.withdrawn {
            METRICS.message(w.record.kind.as_str(), "withdrawn");
        }
        for r in &report.woken_recipients {
            self.notifier.wake_inbox(r);
        }
        if report.expired > 0 {
            self.notifier.wake_receipts();
        }
        self.notifier.announce_withdrawals(&report.withdrawn);
        let notices = self.post_due_notices().await?;
        if report.requeued + report.expired + report.purged + report.withdrawn.len() + notices > 0 {
            tracing::debug!(?report, notices, "sweep");
        }
        Ok(report)
    }
}
