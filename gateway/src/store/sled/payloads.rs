//! Where sealed payloads are kept: small ones in a sled tree, large ones
//! (overdrachtsdossiers with attachments) as files beside it.
//!
//! Why files for large payloads: sled keeps what it wrote in its page cache
//! and writes every value through its log, so an 8 MiB dossier cost several
//! times its size in memory and was copied more than once on its way to disk
//! (docs/PERFORMANCE.md). A file is written once, fsynced, and leaves memory
//! as soon as it is on disk.
//!
//! The order keeps a crash harmless:
//! - a large payload's file is written and fsynced *before* the step that
//!   refers to it, and its folder entry is made durable by the group commit
//!   of that step ([`Payloads::sync_folder`], once for all files of a group);
//!   a crash between leaves a file that no record refers to, or none, and
//!   [`Payloads::open`] removes files nobody refers to;
//! - the tree always holds an entry for a stored payload: the sealed bytes, or
//!   for a payload in a file its length as 8 bytes (a sealed payload is never
//!   that short: its tag and nonce alone are 28 bytes);
//!
//! Files are written with `O_DIRECT` where the file system allows it: in
//! 1 MiB blocks through an aligned buffer, the last one padded with zeros to
//! the block size (hence the length in the tree). On this project's machine a
//! buffered write of a dossier cost more CPU than everything else the gateway
//! does with it (copying into the page cache runs at about 0.4 GB/s in the
//! VM); direct writes run at disk speed and leave no dossier in the page
//! cache.
//! - a payload is destroyed (tree entry and file) *before* the batch that
//!   records its destruction, so the log never says "destroyed" of a payload
//!   that is still there.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::MessageId;
use crate::store::StoreError;

/// Payloads of at least this many sealed bytes are kept as files. Small
/// messages (signaleringen, consultation requests, typically 1 KiB) stay in
/// sled, where a million of them cost no million files.
pub const FILE_FROM_BYTES: usize = 256 * 1024;

/// The length of the tree value that says "this payload is in its file"
/// (its sealed length, big-endian).
const IN_FILE_LEN: usize = 8;

/// Direct I/O wants block-aligned buffers, offsets and lengths.
const BLOCK: usize = 4096;

/// Bytes written per direct write.
const CHUNK: usize = 1 << 20;

/// The sealed length recorded in a tree value, if the payload is in a file.
fn in_file(value: &[u8]) -> Option<usize> {
    let bytes: [u8; IN_FILE_LEN] = value.try_into().ok()?;
    Some(u64::from_be_bytes(bytes) as usize)
}

/// Both places payloads are kept.
pub struct Payloads {
    tree: ::sled::Tree,
    dir: PathBuf,
    /// Whether a file was created since the folder was last fsynced.
    folder_changed: AtomicBool,
}

impl Payloads {
    /// The folder of the payloads kept in files: on the store's file
    /// system, whose free space the reserve watches.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the payload tree and folder (`dir`, created if absent), and
    /// removes files that no payload entry refers to: what a crash between
    /// writing a file and committing its step leaves behind.
    pub fn open(tree: ::sled::Tree, dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let payloads = Self {
            tree,
            dir: dir.to_owned(),
            folder_changed: AtomicBool::new(false),
        };
        let mut removed = 0usize;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let id = name.to_string_lossy();
            let referred = matches!(payloads.tree.get(id.as_bytes())?,
                Some(v) if in_file(&v).is_some());
            if !referred {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(
                removed,
                "removed payload files of messages that were never accepted"
            );
            File::open(dir)?.sync_all()?;
        }
        Ok(payloads)
    }

    /// Whether a sealed payload of `len` bytes goes to a file.
    pub fn is_large(len: usize) -> bool {
        len >= FILE_FROM_BYTES
    }

    fn path(&self, id: &MessageId) -> PathBuf {
        self.dir.join(id.as_str())
    }

    /// Writes a large payload's file and makes its content durable; its
    /// folder entry becomes durable with the group commit of the step that
    /// refers to it. Blocking: call it off the async threads, before that
    /// step.
    pub fn write_file(&self, id: &MessageId, sealed: &[u8]) -> Result<(), StoreError> {
        let path = self.path(id);
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path);
        let file = match direct {
            Ok(file) => write_direct(file, sealed)?,
            // Some file systems (tmpfs) refuse O_DIRECT: write through the
            // page cache there.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                let mut file = File::create_new(&path)?;
                file.write_all(sealed)?;
                file
            }
            Err(e) => return Err(e.into()),
        };
        file.sync_data()?;
        self.folder_changed.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Makes the folder entries of files written so far durable, if any
    /// was; the group commit calls it before it answers a group.
    pub fn sync_folder(&self) -> std::io::Result<()> {
        if self.folder_changed.swap(false, Ordering::SeqCst) {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Removes a file written for a step that then stored nothing (a
    /// duplicate, a conflict, a full inbox).
    pub fn discard_file(&self, id: &MessageId) -> Result<(), StoreError> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Records a payload as stored: its sealed bytes, or, for a large
    /// payload whose file is already written, its sealed length.
    pub fn insert(&self, id: &MessageId, stored: Stored) -> Result<(), StoreError> {
        let value = match stored {
            Stored::Inline(sealed) => sealed,
            Stored::File(len) => (len as u64).to_be_bytes().to_vec(),
        };
        self.tree.insert(id.as_str().as_bytes(), value)?;
        Ok(())
    }

    /// Where a payload is: its sealed bytes when kept in the tree, or the
    /// sealed length of its file, which [`Payloads::read_file`] reads (off
    /// the writer thread: a dossier takes milliseconds to read).
    pub fn locate(&self, id: &MessageId) -> Result<Option<Located>, StoreError> {
        Ok(self
            .tree
            .get(id.as_str().as_bytes())?
            .map(|value| match in_file(&value) {
                Some(len) => Located::File(len),
                None => Located::Inline(value.to_vec()),
            }))
    }

    /// Reads a large payload's file: its first `len` bytes (the rest is the
    /// padding of direct writes). Blocking.
    pub fn read_file(&self, id: &MessageId, len: usize) -> Result<Vec<u8>, StoreError> {
        let mut sealed = std::fs::read(self.path(id))?;
        if sealed.len() < len {
            return Err(StoreError::Corrupt {
                key: id.to_string(),
                message: format!("payload file holds {} of {len} bytes", sealed.len()),
            });
        }
        sealed.truncate(len);
        Ok(sealed)
    }

    /// Destroys a payload, file and entry.
    pub fn remove(&self, id: &MessageId) -> Result<(), StoreError> {
        if self.forget(id)? {
            self.discard_file(id)?;
        }
        Ok(())
    }

    /// Removes a payload's entry; answers whether it has a file, which the
    /// caller removes once the removal is durable.
    pub fn forget(&self, id: &MessageId) -> Result<bool, StoreError> {
        let old = self.tree.remove(id.as_str().as_bytes())?;
        Ok(old.is_some_and(|v| in_file(&v).is_some()))
    }
}

/// How a payload is kept.
pub enum Stored {
    /// In the tree: the sealed bytes.
    Inline(Vec<u8>),
    /// In its file, already written: the sealed length.
    File(usize),
}

/// Writes `sealed` to a file opened with `O_DIRECT`, through an aligned
/// buffer, padding the last block with zeros.
fn write_direct(mut file: File, sealed: &[u8]) -> std::io::Result<File> {
    let mut raw = vec![0u8; CHUNK + BLOCK];
    let offset = raw.as_ptr().align_offset(BLOCK);
    let buffer = &mut raw[offset..offset + CHUNK];
    for part in sealed.chunks(CHUNK) {
        let padded = part.len().next_multiple_of(BLOCK);
        buffer[..part.len()].copy_from_slice(part);
        buffer[part.len()..padded].fill(0);
        file.write_all(&buffer[..padded])?;
    }
    Ok(file)
}

/// Where a stored payload is.
pub enum Located {
    /// In the tree: the sealed bytes.
    Inline(Vec<u8>),
    /// In its file: the sealed length.
    File(usize),
}
