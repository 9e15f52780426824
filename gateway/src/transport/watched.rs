//! A value built from files and built again when they change: the CRLs'
//! verifier, the gateway's certificate. A rebuild that fails keeps the value
//! in force, and [`Watched::reload_if_changed`] says so in the log each time
//! it looks, until the files are fixed: a half-written or mistyped file never
//! takes away what worked.

use std::path::PathBuf;
use std::sync::{PoisonError, RwLock};

use super::pem::{Stamp, TlsError, stamp};

/// The value, and the files it was built from as they were then.
#[derive(Debug)]
pub struct Watched<T> {
    files: Vec<PathBuf>,
    what: &'static str,
    current: RwLock<(T, Vec<Stamp>)>,
}

impl<T: Clone> Watched<T> {
    /// Builds the value of `files` with `build`; `what` names it in the log.
    pub fn new(
        files: Vec<PathBuf>,
        what: &'static str,
        build: impl FnOnce() -> Result<T, TlsError>,
    ) -> Result<Self, TlsError> {
        let stamps = stamps(&files);
        let value = build()?;
        Ok(Self {
            files,
            what,
            current: RwLock::new((value, stamps)),
        })
    }

    /// The value in force.
    pub fn get(&self) -> T {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// Builds the value again with `build` if any file changed since it was
    /// built; answers whether the value in force changed.
    pub fn reload_if_changed(&self, build: impl FnOnce() -> Result<T, TlsError>) -> bool {
        let now = stamps(&self.files);
        if self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            == now
        {
            return false;
        }
        match build() {
            Ok(value) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = (value, now);
                tracing::warn!(what = self.what, "reloaded: new connections use it");
                true
            }
            Err(e) => {
                tracing::error!(what = self.what, error = %e, "cannot be reloaded; what was read before stays in force until the file is fixed");
                false
            }
        }
    }
}

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files.iter().map(|p| stamp(p)).collect()
}
