//! The gateway's signing keys over time: the one that signs now
//! ([`SIGNING_KEY_FILE`]) and the retired ones whose public halves are kept
//! in [`RETIRED_KEYS_DIR`], so that receipts, checkpoints and reports they
//! signed still verify after a rotation.
//!
//! A rotation ([`rotate`]) files the public half of the current key as
//! retired, then puts a new key in its place. The private half of a retired
//! key is not kept: nothing new is signed with it. A running gateway keeps
//! signing with the key it started with until it restarts; that key stays
//! published, as a retired one, after the restart. A retired key is dropped
//! by deleting its file, once nothing it signed needs to verify any more.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use schakel_proto::keys::KeyRing;

use super::bytes::{Signature, key_id};
use super::secret_file::KeyError;
use super::signing_key::{SIGNING_KEY_FILE, Signer, SigningKey, generate_pkcs8};

/// Folder in the data folder that holds the retired keys' public halves, one
/// file `<key id>.pub` each, with the key in hex.
pub const RETIRED_KEYS_DIR: &str = "retired-signing-keys";

/// The key that signs now and the retired keys that still verify.
#[derive(Debug)]
pub struct GatewayKeys {
    signing: SigningKey,
    retired: Vec<Vec<u8>>,
}

impl GatewayKeys {
    /// Loads the keys from the data folder, creating the signing key on
    /// first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        Self::with_retired(SigningKey::load_or_create(data_dir)?, data_dir)
    }

    fn with_retired(signing: SigningKey, data_dir: &Path) -> Result<Self, KeyError> {
        let mut retired = load_retired(data_dir)?;
        // A rotation cut off after filing the key leaves it signing still.
        retired.retain(|k| k.as_slice() != signing.public_key());
        Ok(Self { signing, retired })
    }

    /// Loads the keys without creating any: for tools that inspect a
    /// stopped gateway's folder.
    pub fn load(data_dir: &Path) -> Result<Self, KeyError> {
        Self::with_retired(SigningKey::load(data_dir)?, data_dir)
    }

    /// The key that signs now.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The retired keys' public halves, ordered by key id.
    pub fn retired(&self) -> &[Vec<u8>] {
        &self.retired
    }

    /// Every public key still in use, the signing one first.
    pub fn ring(&self) -> KeyRing {
        KeyRing::of(
            std::iter::once(self.signing.public_key().to_vec()).chain(self.retired.iter().cloned()),
        )
    }
}

impl Signer for GatewayKeys {
    fn sign_bytes(&self, bytes: &[u8]) -> Signature {
        self.signing.sign_bytes(bytes)
    }

    fn key_id(&self) -> &str {
        self.signing.key_id()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Refuses `path` when others than its owner may write it: a key put there
/// would be published and trusted.
fn owner_writes_only(path: &Path) -> Result<(), KeyError> {
    let mode = std::fs::metadata(path)
        .map_err(io(path))?
        .permissions()
        .mode()
        & 0o777;
    match mode & 0o022 {
        0 => Ok(()),
        _ => Err(KeyError::Writable {
            path: path.to_owned(),
            mode,
        }),
    }
}

/// The public keys in the data folder's [`RETIRED_KEYS_DIR`], ordered by key
/// id; none when the folder does not exist. A file whose name is not the id
/// of the key it holds is refused, so that a key cannot be filed under
/// another's name, and so are a folder or files others may write.
fn load_retired(data_dir: &Path) -> Result<Vec<Vec<u8>>, KeyError> {
    let dir = data_dir.join(RETIRED_KEYS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir)(e)),
    };
    owner_writes_only(&dir)?;
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry.map_err(io(&dir))?.path();
        if path.extension().is_none_or(|e| e != "pub") {
            continue;
        }
        owner_writes_only(&path)?;
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let invalid = || KeyError::Invalid {
            path: path.clone(),
            what: "Ed25519 public key in hex, in a file named after its key id",
        };
        let key = hex::decode(text.trim()).map_err(|_| invalid())?;
        let named = path.file_stem().and_then(|s| s.to_str());
        if key.len() != 32 || named != Some(key_id(&key).as_str()) {
            return Err(invalid());
        }
        keys.push((key_id(&key), key));
    }
    keys.sort();
    Ok(keys.into_iter().map(|(_, k)| k).collect())
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key id of the key that was retired.
    pub retired: String,
    /// The key id of the new signing key.
    pub signing: String,
    /// The file that keeps the retired key's public half.
    pub retired_file: PathBuf,
}

/// Retires the data folder's signing key and puts a new one in its place.
/// The retired key's public half is written (and synced) first, so that a
/// crash part-way leaves the old key either signing or published, never
/// lost; the new key replaces the old file in one rename.
pub fn rotate(data_dir: &Path) -> Result<Rotation, KeyError> {
    let old = SigningKey::load(data_dir)?;
    // The new key's file is made first and exclusively: it is the mark of a
    // rotation under way, so that two cannot both retire the same key.
    let path = data_dir.join(SIGNING_KEY_FILE);
    let next = data_dir.join(format!("{SIGNING_KEY_FILE}.next"));
    write_new(&next, &generate_pkcs8())?;
    let rotated = retire_and_replace(data_dir, &old, &next, &path);
    if rotated.is_err() {
        let _ = std::fs::remove_file(&next);
    }
    let retired_file = rotated?;
    let new = SigningKey::load(data_dir)?;
    tracing::info!(
        retired = old.key_id(),
        signing = new.key_id(),
        "rotated the signing key"
    );
    Ok(Rotation {
        retired: old.key_id().to_owned(),
        signing: new.key_id().to_owned(),
        retired_file,
    })
}

/// Files `old`'s public half, then puts `next` in place of `path` if `old`
/// is still the key there; the retired key's file.
fn retire_and_replace(
    data_dir: &Path,
    old: &SigningKey,
    next: &Path,
    path: &Path,
) -> Result<PathBuf, KeyError> {
    let dir = data_dir.join(RETIRED_KEYS_DIR);
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io(&dir))?;
        sync_dir(data_dir)?;
    }
    owner_writes_only(&dir)?;
    let retired_file = dir.join(format!("{}.pub", old.key_id()));
    write_synced(
        &retired_file,
        format!("{}\n", hex::encode(old.public_key())).as_bytes(),
        0o644,
    )?;
    sync_dir(&dir)?;
    if SigningKey::load(data_dir)?.key_id() != old.key_id() {
        return Err(KeyError::Busy {
            path: next.to_owned(),
        });
    }
    std::fs::rename(next, path).map_err(io(path))?;
    sync_dir(data_dir)?;
    Ok(retired_file)
}

/// Writes a new file (mode 0600), refusing one that exists as
/// [`KeyError::Busy`].
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(KeyError::Busy {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(io(path)(e)),
    };
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), KeyError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_retires_the_old_key_and_both_verify() {
        let dir = tempfile::tempdir().unwrap();
        assert!(rotate(dir.path()).is_err(), "nothing to rotate yet");
        let first = GatewayKeys::load_or_create(dir.path()).unwrap();
        assert!(first.retired().is_empty());
        let old_sig = first.sign_bytes(b"old");

        let rotation = rotate(dir.path()).unwrap();
        assert_eq!(rotation.retired, first.key_id());
        let after = GatewayKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(after.key_id(), rotation.signing);
        assert_ne!(after.key_id(), first.key_id());
        assert_eq!(after.retired(), [first.signing().public_key().to_vec()]);
        let ring = after.ring();
        assert_eq!(
            ring.ids().collect::<Vec<_>>(),
            [after.key_id(), first.key_id()]
        );
        assert!(
            ring.check(first.key_id(), b"old", old_sig.as_bytes())
                .is_ok()
        );
        let new_sig = after.sign_bytes(b"new");
        assert!(
            ring.check(after.key_id(), b"new", new_sig.as_bytes())
                .is_ok()
        );
        let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the new key is the owner's only");
        assert!(!dir.path().join(format!("{SIGNING_KEY_FILE}.next")).exists());

        // A second rotation keeps both earlier keys.
        rotate(dir.path()).unwrap();
        assert_eq!(GatewayKeys::load(dir.path()).unwrap().retired().len(), 2);

        // A rotation under way (or cut off) stops another, which changes
        // nothing.
        let next = dir.path().join(format!("{SIGNING_KEY_FILE}.next"));
        std::fs::write(&next, b"half").unwrap();
        let before = GatewayKeys::load(dir.path()).unwrap().key_id().to_owned();
        let err = rotate(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::Busy { .. }), "{err}");
        assert_eq!(GatewayKeys::load(dir.path()).unwrap().key_id(), before);
        std::fs::remove_file(&next).unwrap();

        // A key filed as retired but still signing (a rotation cut off
        // after filing it) is listed once, as the signing key.
        let keys = GatewayKeys::load(dir.path()).unwrap();
        let filed = dir
            .path()
            .join(RETIRED_KEYS_DIR)
            .join(format!("{}.pub", keys.key_id()));
        std::fs::write(&filed, hex::encode(keys.signing().public_key())).unwrap();
        std::fs::set_permissions(&filed, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(GatewayKeys::load(dir.path()).unwrap().retired().len(), 2);
    }

    #[test]
    fn a_retired_key_under_another_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        GatewayKeys::load_or_create(dir.path()).unwrap();
        let rotation = rotate(dir.path()).unwrap();
        let forged = rotation.retired_file.with_file_name("0011223344556677.pub");
        std::fs::rename(&rotation.retired_file, &forged).unwrap();
        let err = GatewayKeys::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("named after its key id"), "{err}");
        std::fs::write(&forged, "not hex").unwrap();
        assert!(GatewayKeys::load(dir.path()).is_err());
        // A folder others may write is refused: a key put there would be
        // trusted.
        std::fs::remove_file(&forged).unwrap();
        let folder = forged.parent().unwrap().to_owned();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = GatewayKeys::load(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::Writable { .. }), "{err}");
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
        // Other files in the folder are left alone.
        std::fs::write(forged.with_extension("txt"), "notes").unwrap();
        assert!(GatewayKeys::load(dir.path()).unwrap().retired().is_empty());
    }
}
