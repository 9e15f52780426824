//! The `schakel` command line: parses arguments and calls the client library.

mod cli;

fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    cli::main()
}
