//! The data folder holds the gateway's keys and (with sled) its store: data
//! about children, readable by the gateway's user alone. It is created 0700
//! and everything in it 0600 (the process's umask is set so that sled's and
//! the payloads' files are made that way too); a folder that group or
//! others can enter is refused at start, or with
//! `storage.allow_shared_data_folder` only warned about; files an earlier
//! release left readable (its store files were 0644) are closed to others
//! once, at start.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// What group and others may do: nothing.
const OTHERS: u32 = 0o077;

/// Makes sure `dir` exists and only its owner can reach it and what is in
/// it; with `allow_shared`, a folder others can reach is only warned
/// about. Returns how many files and folders inside were closed to others.
pub fn secure(dir: &Path, allow_shared: bool) -> Result<usize, String> {
    // Everything the process creates from now on is its user's alone.
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe { libc::umask(OTHERS as libc::mode_t) };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create data folder {}: {e}", dir.display()))?;
    let mode = mode_of(dir)?;
    if mode & OTHERS != 0 {
        let problem = format!(
            "the data folder {} can be read by others (mode {mode:03o}): it holds the gateway's keys and data about children",
            dir.display()
        );
        if !allow_shared {
            return Err(format!(
                "{problem}; close it with `chmod 700 {}` (under systemd: StateDirectoryMode=0700), or set storage.allow_shared_data_folder = true to start anyway with a warning",
                dir.display()
            ));
        }
        tracing::warn!("{problem}; started anyway: storage.allow_shared_data_folder is set");
    }
    close_inside(dir)
}

fn mode_of(path: &Path) -> Result<u32, String> {
    std::fs::symlink_metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .map_err(|e| format!("cannot read the mode of {}: {e}", path.display()))
}

/// Takes group's and others' rights from everything under `dir` that has
/// any (what an earlier release left 0644); returns how many.
fn close_inside(dir: &Path) -> Result<usize, String> {
    let mut closed = 0;
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| format!("cannot read {}: {e}", folder.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", folder.display()))?;
            let kind = entry
                .file_type()
                .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
            if kind.is_symlink() {
                continue;
            }
            let path = entry.path();
            if kind.is_dir() {
                folders.push(path.clone());
            }
            let mode = mode_of(&path)?;
            if mode & OTHERS != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & !OTHERS))
                    .map_err(|e| format!("cannot close {} to others: {e}", path.display()))?;
                closed += 1;
            }
        }
    }
    if closed > 0 {
        tracing::info!(closed, folder = %dir.display(), "files in the data folder closed to group and others");
    }
    Ok(closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_folder_is_the_owners_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        assert_eq!(secure(&dir, false), Ok(0));
        assert_eq!(mode_of(&dir).unwrap(), 0o700);
        std::fs::write(dir.join("made-after"), b"x").unwrap();
        assert_eq!(mode_of(&dir.join("made-after")).unwrap() & OTHERS, 0);
    }

    #[test]
    fn a_shared_folder_is_refused_unless_allowed_and_old_files_are_closed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir_all(dir.join("store")).unwrap();
        std::fs::write(dir.join("store/db"), b"x").unwrap();
        set(&dir.join("store/db"), 0o644);
        set(&dir.join("store"), 0o755);
        set(&dir, 0o750);
        let e = secure(&dir, false).unwrap_err();
        assert!(e.contains("mode 750") && e.contains("chmod 700"), "{e}");
        assert!(e.contains("storage.allow_shared_data_folder"), "{e}");
        assert_eq!(secure(&dir, true), Ok(2));
        assert_eq!(mode_of(&dir.join("store/db")).unwrap(), 0o600);
        assert_eq!(mode_of(&dir.join("store")).unwrap(), 0o700);
        set(&dir, 0o700);
        assert_eq!(secure(&dir, false), Ok(0));
    }
}
