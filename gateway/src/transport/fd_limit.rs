//! The process's file-descriptor limit, checked against what the connection
//! limits need. Every connection, every pending handshake and every file
//! the store holds open is a file descriptor; a gateway whose soft
//! RLIMIT_NOFILE is below what its settings allow would fail to accept
//! (and to write its store) under load instead of answering with a limit.
//! So at start the soft limit is raised to the hard one, and a gateway
//! whose limit is still below the need refuses to start, saying what to
//! change.

use crate::config::ServerConfig;

/// File descriptors kept for everything but connections and handshakes:
/// the store's files (sled's, payload files being written or read, or a
/// PostgreSQL store's connections), the listeners, logs and the runtime.
pub const RESERVED: u64 = 256;

/// What the settings need: every connection and pending handshake, and
/// [`RESERVED`] for the rest.
pub fn needed(server: &ServerConfig) -> u64 {
    (server.max_connections + server.max_pending_handshakes) as u64 + RESERVED
}

/// Raises the soft RLIMIT_NOFILE to the hard limit and answers the soft
/// limit then in force; refuses, naming the settings and the limits, when
/// it is below what `server` needs.
pub fn ensure(server: &ServerConfig) -> Result<u64, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!(
            "cannot read the file-descriptor limit (RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        ));
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                from = limit.rlim_cur,
                to = raised.rlim_cur,
                "raised the soft file-descriptor limit to the hard one"
            );
            limit = raised;
        }
    }
    let need = needed(server);
    let have = limit.rlim_cur;
    if have < need {
        return Err(format!(
            "the file-descriptor limit is {have} (hard limit {}), but server.max_connections ({}) and server.max_pending_handshakes ({}) with {RESERVED} for the store and the rest need {need}: raise the limit (ulimit -n {need}, or LimitNOFILE={need} in the systemd unit) or lower those settings",
            limit.rlim_max, server.max_connections, server.max_pending_handshakes
        ));
    }
    Ok(have)
}
