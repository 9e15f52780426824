//! Secret files: created once with mode 0600, refused when others can read
//! them.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists but does not hold a usable key.
    #[error("key file {path} does not hold a valid {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
    },
    /// Others than the owner can change a file or folder whose keys are
    /// trusted.
    #[error(
        "{path} has mode {mode:o}; others than its owner could put a key there that would be trusted (chmod go-w)"
    )]
    Writable {
        /// The file or folder.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// A rotation is under way, or one was cut off.
    #[error(
        "{path} exists: another rotation of the signing key is under way, or one was cut off; if none is running, remove it and rotate again"
    )]
    Busy {
        /// The file that marks the rotation.
        path: PathBuf,
    },
    /// Others than the owner can read the key file.
    #[error("key file {path} has mode {mode:o}; it must be readable by its owner only (chmod 600)")]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
}

/// Reads the secret in `path`, or creates it with `generate` (mode 0600,
/// written and fsynced before use) when the file does not exist. A file that
/// others can read is refused rather than used.
pub fn load_or_create_secret(
    path: &Path,
    generate: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Exposed {
                    path: path.to_owned(),
                    mode,
                });
            }
            std::fs::read(path).map_err(io)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = generate();
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            file.write_all(&secret).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(path = %path.display(), "created a new key file");
            Ok(secret)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_created_once_with_mode_0600_and_an_exposed_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.key");
        let first = load_or_create_secret(&path, || vec![1, 2, 3]).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create_secret(&path, || vec![9]).unwrap();
        assert_eq!(first, again);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create_secret(&path, || vec![9]).unwrap_err();
        assert!(matches!(err, KeyError::Exposed { .. }), "{err}");
    }
}
