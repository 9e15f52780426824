//! Schakel: a gateway that lets schools, samenwerkingsverbanden, jeugd- en
//! gezinsteams and gemeenten exchange consent-bound messages about children
//! over gRPC with mutual TLS.
//!
//! # Layers
//!
//! The modules form layers, and a module imports only from its own layer and
//! the layers below it, never from a layer above (a test in
//! `gateway/tests/layers.rs` checks this on every build):
//!
//! | layer | modules | what lives there |
//! | --- | --- | --- |
//! | 0 | [`clock`], [`crypto`], [`metrics`] | time; the gateway's keys, signing ([`crypto::Signer`]), digests; the figures every layer records for operators |
//! | 1 | [`model`] | records and enums only: participant, message, consent, audit entry, ids |
//! | 2 | [`config`], [`policy`] | configuration; pure rules: validation, routing, statutes, consent |
//! | 3 | [`store`] | the `Store` trait, the message life cycle written once, the sled engine |
//! | 4 | [`service`] | the use cases: exchange, consents, directory, audit log, refusals |
//! | 5 | [`transport`] | mutual TLS, who the caller is, limits per caller |
//! | 6 | [`api`] | thin tonic services; the one conversion of errors to statuses |
//! | 7 | [`server`], [`logging`], [`exporter`] | assembling and running the gateway; the metrics endpoint |
//! | 8 | [`tools`] | example PKIs, offline checks of a data folder |
//!
//! tonic appears in [`api`] and [`server`] only. docs/ARCHITECTURE.md
//! draws a Send through the layers.
#![warn(missing_docs)]

pub mod api;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod exporter;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod policy;
pub mod server;
pub mod service;
pub mod store;
pub mod tools;
pub mod transport;

pub use config::Config;
pub use server::run;
