//! A store rewritten into fresh files. sled keeps an overwritten value in
//! its log until it happens to reuse the space, so after the step that
//! seals the child references of an earlier release (format 5) the old
//! files still hold them in plain. The store is therefore copied, value by
//! value, into a new folder beside it, which then takes its place; the old
//! files are removed.
//!
//! Every stage can be interrupted: the copy is made in `<store>.compacting`
//! and marked complete only once it is durable; [`settle`], run before the
//! store is opened, finishes a complete copy's swap (the store moved to
//! `<store>.old`, the copy into its place) or throws an incomplete one away,
//! and removes what is left of the old store.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// Marks a copy as complete and durable.
const COMPLETE: &str = "COMPLETE";
/// Values per batch of the copy.
const BATCH: usize = 10_000;

fn beside(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Copies every tree of `db` (the store in `dir`) into a new sled folder
/// beside it, and links the payload files of `dir/payloads` into it; then
/// `finish` writes into the copy's `tree` what marks it done (the store's
/// format) and the copy is marked complete. The swap is [`settle`]'s, once
/// `db` is closed. Returns the values copied.
pub fn copy(
    db: &::sled::Db,
    dir: &Path,
    tree: &str,
    finish: impl FnOnce(&::sled::Tree) -> Result<(), StoreError>,
) -> Result<usize, StoreError> {
    let new_dir = beside(dir, ".compacting");
    if new_dir.exists() {
        std::fs::remove_dir_all(&new_dir)?;
    }
    db.flush()?;
    let new = ::sled::Config::new()
        .path(&new_dir)
        .mode(::sled::Mode::HighThroughput)
        .flush_every_ms(None)
        .open()?;
    let mut copied = 0;
    for name in db.tree_names() {
        let (from, to) = (db.open_tree(&name)?, new.open_tree(&name)?);
        let mut batch = ::sled::Batch::default();
        let mut pending = 0;
        for kv in from.iter() {
            let (k, v) = kv?;
            batch.insert(k, v);
            (pending, copied) = (pending + 1, copied + 1);
            if pending >= BATCH {
                to.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        to.apply_batch(batch)?;
    }
    finish(&new.open_tree(tree)?)?;
    new.flush()?;
    drop(new);
    // The payloads kept in files of their own are the same files: linked,
    // not copied.
    let (payloads, new_payloads) = (
        dir.join(super::keys::PAYLOADS),
        new_dir.join(super::keys::PAYLOADS),
    );
    if payloads.is_dir() {
        std::fs::create_dir_all(&new_payloads)?;
        for entry in std::fs::read_dir(&payloads)? {
            let entry = entry?;
            std::fs::hard_link(entry.path(), new_payloads.join(entry.file_name()))?;
        }
        sync_dir(&new_payloads)?;
    }
    File::create(new_dir.join(COMPLETE))?.sync_all()?;
    sync_dir(&new_dir)?;
    Ok(copied)
}

/// Finishes or throws away a compaction of the store in `dir` that was
/// interrupted, and removes the old store a finished one left: run before
/// the store is opened. Returns whether a copy took the store's place.
pub fn settle(dir: &Path) -> Result<bool, StoreError> {
    let (new_dir, old_dir) = (beside(dir, ".compacting"), beside(dir, ".old"));
    let parent = dir.parent().unwrap_or(Path::new("."));
    let mut swapped = false;
    if new_dir.exists() {
        if new_dir.join(COMPLETE).exists() {
            if dir.exists() {
                std::fs::rename(dir, &old_dir)?;
            }
            std::fs::rename(&new_dir, dir)?;
            sync_dir(parent)?;
            std::fs::remove_file(dir.join(COMPLETE))?;
            swapped = true;
        } else {
            std::fs::remove_dir_all(&new_dir)?;
        }
    }
    if old_dir.exists() {
        std::fs::remove_dir_all(&old_dir)?;
        sync_dir(parent)?;
    }
    Ok(swapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_in(dir: &Path) -> ::sled::Db {
        ::sled::open(dir).unwrap()
    }

    #[test]
    fn a_copy_takes_the_stores_place_without_the_overwritten_values() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let db = store_in(&dir);
        let t = db.open_tree("t").unwrap();
        t.insert(b"k", b"secret-plain-value".to_vec()).unwrap();
        t.insert(b"k", b"sealed".to_vec()).unwrap();
        db.open_tree("other")
            .unwrap()
            .insert(b"o", b"1".to_vec())
            .unwrap();
        std::fs::create_dir_all(dir.join("payloads")).unwrap();
        std::fs::write(dir.join("payloads/m1"), b"payload").unwrap();
        db.flush().unwrap();
        let copied = copy(&db, &dir, "t", |t| {
            t.insert(b"format", b"5".to_vec())
                .map(|_| ())
                .map_err(Into::into)
        })
        .unwrap();
        assert!(copied >= 2, "{copied}");
        drop((t, db));
        assert!(settle(&dir).unwrap());
        assert!(!beside(&dir, ".old").exists() && !beside(&dir, ".compacting").exists());

        let db = store_in(&dir);
        let t = db.open_tree("t").unwrap();
        assert_eq!(t.get(b"k").unwrap().unwrap(), b"sealed");
        assert_eq!(t.get(b"format").unwrap().unwrap(), b"5");
        assert_eq!(
            db.open_tree("other").unwrap().get(b"o").unwrap().unwrap(),
            b"1"
        );
        assert_eq!(std::fs::read(dir.join("payloads/m1")).unwrap(), b"payload");
        drop((t, db));
        for file in walk(&dir) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !bytes.windows(18).any(|w| w == b"secret-plain-value"),
                "{} holds the overwritten value",
                file.display()
            );
        }
        assert!(!settle(&dir).unwrap(), "nothing left to do");
    }

    #[test]
    fn an_incomplete_copy_is_thrown_away_and_a_complete_one_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("db"), b"old").unwrap();
        let new_dir = beside(&dir, ".compacting");
        std::fs::create_dir_all(&new_dir).unwrap();
        std::fs::write(new_dir.join("db"), b"new").unwrap();
        assert!(!settle(&dir).unwrap());
        assert!(!new_dir.exists());
        assert_eq!(std::fs::read(dir.join("db")).unwrap(), b"old");

        // Cut off between the two renames: the store is gone, the complete
        // copy takes its place.
        std::fs::create_dir_all(&new_dir).unwrap();
        std::fs::write(new_dir.join("db"), b"new").unwrap();
        std::fs::write(new_dir.join(COMPLETE), b"").unwrap();
        std::fs::rename(&dir, beside(&dir, ".old")).unwrap();
        assert!(settle(&dir).unwrap());
        assert_eq!(std::fs::read(dir.join("db")).unwrap(), b"new");
        assert!(!dir.join(COMPLETE).exists());
        assert!(!beside(&dir, ".old").exists());
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
