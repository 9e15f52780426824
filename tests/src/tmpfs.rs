//! A small file system for tests about a full disk: a tmpfs mounted on a
//! folder for as long as the value lives. Mounting needs root; a test that
//! cannot mount says why and what it leaves unchecked, unless
//! `SCHAKEL_REQUIRE_TMPFS` is set (as CI does where it runs as root), when
//! it fails instead.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted when dropped.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB (mode 0700) on `dir`, created if
    /// absent; or why it could not.
    pub fn mount(dir: &Path, mib: u32) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount could not run: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self(dir.to_owned()))
    }

    /// [`Tmpfs::mount`], or None after saying (on stderr) that the test
    /// skips `what` and why; with `SCHAKEL_REQUIRE_TMPFS` set, panics
    /// instead.
    pub fn mount_or_skip(dir: &Path, mib: u32, what: &str) -> Option<Self> {
        match Self::mount(dir, mib) {
            Ok(disk) => Some(disk),
            Err(why) => {
                assert!(
                    std::env::var_os("SCHAKEL_REQUIRE_TMPFS").is_none(),
                    "SCHAKEL_REQUIRE_TMPFS is set, but no tmpfs could be mounted: {why}"
                );
                eprintln!("skipped {what}: mounting a small tmpfs needs root ({why})");
                None
            }
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
