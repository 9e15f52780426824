//! Generates the Rust code for the v1 contract with the vendored protoc, so
//! that no system protobuf compiler is needed on a fresh machine.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY: build scripts are single-threaded; nothing else reads the
        // environment concurrently.
        unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let files = [
        "schakel/v1/types.proto",
        "schakel/v1/payloads.proto",
        "schakel/v1/exchange.proto",
        "schakel/v1/consent.proto",
        "schakel/v1/directory.proto",
        "schakel/v1/audit.proto",
        "schakel/v1/admin.proto",
        "schakel/v1/bench.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("schakel_v1_descriptor.bin"))
        .compile_protos(&files, &["."])?;
    Ok(())
}
