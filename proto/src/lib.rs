//! The Schakel v1 gRPC contract, generated from `proto/schakel/v1/*.proto`.
//!
//! Both the gateway and the client depend on this crate, so the two can never
//! disagree about the wire format.

/// Generated messages and services of package `schakel.v1`.
pub mod v1 {
    #![allow(
        missing_docs,
        clippy::large_enum_variant,
        clippy::doc_lazy_continuation
    )]
    tonic::include_proto!("schakel.v1");

    /// The encoded file descriptor set, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("schakel_v1_descriptor");
}

pub mod audit;
pub mod calendar;
#[cfg(feature = "examples")]
pub mod examples;
pub mod keys;
pub mod merkle;
pub mod payload;
pub mod receipt;
pub mod report;
#[cfg(test)]
mod testdata;
pub mod tree_head;
