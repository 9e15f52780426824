//! The end-to-end test harness.
//!
//! Every [`TestGateway`] gets a fresh PKI (made with the same code as the
//! example PKI), a temporary data folder with a real sled store, and a real
//! gateway serving mutual TLS on 127.0.0.1:0. The listener is bound before the
//! gateway starts, so clients connect at once and no test sleeps to wait.
//! [`GatewayProcess`] does the same with the real `schakel-gateway` binary,
//! for tests that signal or kill the process. [`calls`] has the sequences
//! tests repeat: a message sent, pulled and acknowledged as one call, a
//! refusal with its code, the next event of a stream.

pub mod calls;
pub mod fixtures;
mod gateway;
pub mod process;
pub mod tmpfs;
pub mod upgrades;

pub use calls::{code_of, next_event, next_receipts, pull_until, refusal, status_of};
pub use gateway::{TestGateway, TestPki, over_postgres, postgres_database, postgres_for};
pub use process::{GatewayProcess, copy_keys, failed, succeeded, workspace_binary, workspace_root};

/// Identity folder names of the example organisations.
pub mod org {
    /// A primary school.
    pub const SCHOOL_PO: &str = "school-po";
    /// A secondary school.
    pub const SCHOOL_VO: &str = "school-vo";
    /// A samenwerkingsverband.
    pub const SWV: &str = "swv";
    /// A jeugd- en gezinsteam.
    pub const JGT: &str = "jgt";
    /// A gemeente.
    pub const GEMEENTE: &str = "gemeente";
    /// Veilig Thuis.
    pub const VEILIG_THUIS: &str = "veilig-thuis";
    /// The Verwijsindex, where signals on the verwijsindex basis go.
    pub const VERWIJSINDEX: &str = "verwijsindex";
    /// The operator.
    pub const OPERATOR: &str = "operator";
}

/// Ends a test that is about the sled store's files when the suite runs
/// over PostgreSQL (`SCHAKEL_TEST_STORE=postgres`), saying so.
#[macro_export]
macro_rules! sled_only {
    ($why:expr) => {
        if $crate::over_postgres() {
            eprintln!("not run over PostgreSQL: {}", $why);
            return;
        }
    };
}
