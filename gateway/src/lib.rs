//! Schakel: a gateway that lets schools, samenwerkingsverbanden, jeugd- en
//! gezinsteams and gemeenten exchange consent-bound messages about children
//! over gRPC with mutual TLS.
//!
//! One module per concern; the tonic services in [`api`] are thin and call
//! the concerns. [`server::run`] assembles and serves everything.
#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod bsn;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod directory;
pub mod exchange;
pub mod identity;
pub mod logging;
pub mod message;
pub mod notify;
pub mod pki;
pub mod rate_limit;
pub mod routing;
pub mod server;
pub mod store;
pub mod tls;
pub mod validation;

pub use config::Config;
pub use server::run;
