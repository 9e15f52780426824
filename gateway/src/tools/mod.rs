//! Tools beside the server, for the `schakel-gateway` binary and the tests:
//! example PKIs, offline checks of a stopped gateway's data folder, and
//! the move of its store into PostgreSQL.

pub mod dev_ca;
pub mod migrate;
pub mod pki;
pub mod verify;
