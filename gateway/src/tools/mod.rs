//! Tools beside the server, for the `schakel-gateway` binary and the tests:
//! example PKIs, and offline checks of a stopped gateway's data folder.

pub mod dev_ca;
pub mod pki;
pub mod verify;
