//! The PostgreSQL engine of [`Store`](super::Store), for deployments where
//! several gateway instances share one database (see `docs/DECISIONS.md`,
//! "PostgreSQL"). It is being built in steps; this much is in place:
//!
//! | file | concern |
//! | --- | --- |
//! | [`connection`] | reaching the database: TLS through rustls, the server checked against the operator's CA |
//! | [`schema`] | the versioned migrations in `gateway/migrations/postgres`, applied at start under an advisory lock |
//! | `scratch` (tests only) | a real, throwaway PostgreSQL server for the tests |
//!
//! The store itself (the trait's steps over these tables) is not written
//! yet, and the configuration does not offer it.

pub mod connection;
pub mod schema;
#[cfg(test)]
pub mod scratch;
#[cfg(test)]
mod tests;
