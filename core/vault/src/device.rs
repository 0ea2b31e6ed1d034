//! The device secret: the second factor of the KEK, kept outside the database file.
//!
//! Apps implement [`DeviceSecretStore`] over Android Keystore or the Secure Enclave (through a
//! uniffi foreign callback); [`SoftwareDeviceSecretStore`] keeps a random secret in a file,
//! for the CLI, tests and platforms without a key store.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use rand::RngCore;
use zeroize::Zeroizing;

use crate::DeviceSecretError;

/// Length of the secret the software store makes.
pub const DEVICE_SECRET_LEN: usize = 32;

/// Where a vault's device secret lives. Must return the same secret for the same `vault_id`
/// every time, creating it on first use; at least 32 bytes.
pub trait DeviceSecretStore: Send + Sync {
    /// The device secret for this vault, made on first use.
    fn device_secret(&self, vault_id: &str) -> Result<Zeroizing<Vec<u8>>, DeviceSecretError>;
    /// Forget the device secret (on wipe): after this the vault file can never be opened.
    /// Stores that keep a rollback counter forget it too.
    fn delete_device_secret(&self, vault_id: &str) -> Result<(), DeviceSecretError>;

    /// Whether this store keeps a rollback counter ([`DeviceSecretStore::rollback_counter`]).
    /// When it does, a vault whose counter is missing is treated as tampered with.
    fn keeps_rollback_counter(&self) -> bool {
        false
    }

    /// The vault's rollback counter: the highest write sequence the vault has reported through
    /// [`DeviceSecretStore::raise_rollback_counter`]. `None`: none kept for this vault. A vault
    /// file whose own (sealed) sequence is below it is an older copy.
    fn rollback_counter(&self, _vault_id: &str) -> Result<Option<u64>, DeviceSecretError> {
        Ok(None)
    }

    /// Raise the counter to `value`; a lower value than the stored one is ignored (the counter
    /// only goes up). Called after each commit. Need not be durable: a counter that lags the
    /// file (lost on power failure) only weakens the check, it never refuses a good vault.
    fn raise_rollback_counter(
        &self,
        _vault_id: &str,
        _value: u64,
    ) -> Result<(), DeviceSecretError> {
        Ok(())
    }
}

/// A device secret in a file `<dir>/<vault_id>.device.key`, mode 0600, outside the database.
/// Copying the vault file alone is not enough to start guessing PINs. The rollback counter is
/// `<dir>/<vault_id>.counter` beside it: it detects an older copy of the vault file put back,
/// not an attacker who also puts back this directory (a phone's key store is needed for that).
pub struct SoftwareDeviceSecretStore {
    dir: PathBuf,
}

impl SoftwareDeviceSecretStore {
    /// A store keeping its secrets in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, vault_id: &str) -> Result<PathBuf, DeviceSecretError> {
        // Vault ids are hex we made; anything else could walk out of the directory.
        if vault_id.is_empty()
            || vault_id.len() > 64
            || !vault_id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(DeviceSecretError::Unavailable("invalid vault id".into()));
        }
        Ok(self.dir.join(format!("{vault_id}.device.key")))
    }

    fn counter_path(&self, vault_id: &str) -> Result<PathBuf, DeviceSecretError> {
        let key = self.path(vault_id)?;
        Ok(key.with_extension("").with_extension("counter"))
    }
}

fn io_err(what: &str, e: std::io::Error) -> DeviceSecretError {
    DeviceSecretError::Io(format!("{what}: {}", e.kind()))
}

impl DeviceSecretStore for SoftwareDeviceSecretStore {
    fn device_secret(&self, vault_id: &str) -> Result<Zeroizing<Vec<u8>>, DeviceSecretError> {
        let path = self.path(vault_id)?;
        match fs::read(&path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                if bytes.len() < DEVICE_SECRET_LEN {
                    return Err(DeviceSecretError::TooShort);
                }
                return Ok(bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("read", e)),
        }
        fs::create_dir_all(&self.dir).map_err(|e| io_err("create dir", e))?;
        let mut secret = Zeroizing::new(vec![0u8; DEVICE_SECRET_LEN]);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        // Write a complete private temp file, then link it into place without clobbering:
        // a concurrent creator either wins (we read theirs) or loses; nobody sees half a file.
        let mut nonce = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let tmp = self
            .dir
            .join(format!(".{vault_id}.{}.tmp", hex::encode(nonce)));
        {
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(|e| io_err("create", e))?;
            f.write_all(&secret).map_err(|e| io_err("write", e))?;
            f.sync_all().map_err(|e| io_err("sync", e))?;
        }
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(secret),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = Zeroizing::new(fs::read(&path).map_err(|e| io_err("read", e))?);
                if bytes.len() < DEVICE_SECRET_LEN {
                    return Err(DeviceSecretError::TooShort);
                }
                Ok(bytes)
            }
            Err(e) => Err(io_err("link", e)),
        }
    }

    fn delete_device_secret(&self, vault_id: &str) -> Result<(), DeviceSecretError> {
        for path in [self.path(vault_id)?, self.counter_path(vault_id)?] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("delete", e)),
            }
        }
        Ok(())
    }

    fn keeps_rollback_counter(&self) -> bool {
        true
    }

    fn rollback_counter(&self, vault_id: &str) -> Result<Option<u64>, DeviceSecretError> {
        match fs::read(self.counter_path(vault_id)?) {
            Ok(bytes) => read_counter(&bytes)
                .map(Some)
                .ok_or_else(|| DeviceSecretError::Io("rollback counter unreadable".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read counter", e)),
        }
    }

    fn raise_rollback_counter(&self, vault_id: &str, value: u64) -> Result<(), DeviceSecretError> {
        let path = self.counter_path(vault_id)?;
        // In place, into the slot not holding the current value: one small write per commit
        // instead of a new file and a rename (which was a quarter of a put's CPU time). A torn
        // write spoils only that slot, and the reader falls back to the other: the counter lags
        // by one commit, which is allowed; it never reads higher than was written.
        if let Ok(mut f) = fs::OpenOptions::new().read(true).write(true).open(&path) {
            let mut bytes = Vec::with_capacity(COUNTER_FILE_LEN);
            // More than the file's length is never read: a counter file is small or not ours.
            let _ = (&mut f)
                .take(COUNTER_FILE_LEN as u64 + 1)
                .read_to_end(&mut bytes);
            if let Ok(file) = <[u8; COUNTER_FILE_LEN]>::try_from(bytes.as_slice()) {
                let (current, slot) = counter_slots(&file);
                if current.is_some_and(|c| c >= value) {
                    return Ok(());
                }
                return f
                    .seek(SeekFrom::Start((slot * COUNTER_SLOT_LEN) as u64))
                    .and_then(|_| f.write_all(&counter_slot(value)))
                    .map_err(|e| io_err("write counter", e));
            }
            // A counter of the earlier 8-byte layout is taken over below.
            if bytes.len() == 8 && read_counter(&bytes).is_some_and(|c| c >= value) {
                return Ok(());
            }
        }
        fs::create_dir_all(&self.dir).map_err(|e| io_err("create dir", e))?;
        let mut nonce = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let tmp = self
            .dir
            .join(format!(".{vault_id}.{}.counter.tmp", hex::encode(nonce)));
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        // The file is made whole and renamed into place: a reader sees none or both slots. No
        // fsync: a counter lost on power failure lags the file, which is allowed.
        let mut file = [0u8; COUNTER_FILE_LEN];
        file[..COUNTER_SLOT_LEN].copy_from_slice(&counter_slot(value));
        let written = opts
            .open(&tmp)
            .and_then(|mut f| f.write_all(&file))
            .and_then(|()| fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(|e| io_err("write counter", e))
    }
}

/// The software counter file: two slots of (value, value XOR [`COUNTER_CHECK`]), big-endian.
const COUNTER_SLOT_LEN: usize = 16;
const COUNTER_FILE_LEN: usize = 2 * COUNTER_SLOT_LEN;
const COUNTER_CHECK: u64 = 0x6b6c_7569_636f_756e; // "kluicoun"

fn counter_slot(value: u64) -> [u8; COUNTER_SLOT_LEN] {
    let mut b = [0u8; COUNTER_SLOT_LEN];
    b[..8].copy_from_slice(&value.to_be_bytes());
    b[8..].copy_from_slice(&(value ^ COUNTER_CHECK).to_be_bytes());
    b
}

/// The highest intact slot's value, and the slot to write next (the other one).
fn counter_slots(file: &[u8; COUNTER_FILE_LEN]) -> (Option<u64>, usize) {
    let slot = |i: usize| -> Option<u64> {
        let b = &file[i * COUNTER_SLOT_LEN..(i + 1) * COUNTER_SLOT_LEN];
        let v = u64::from_be_bytes(b[..8].try_into().ok()?);
        let c = u64::from_be_bytes(b[8..].try_into().ok()?);
        (v ^ c == COUNTER_CHECK).then_some(v)
    };
    match (slot(0), slot(1)) {
        (Some(a), Some(b)) if b > a => (Some(b), 0),
        (Some(a), _) => (Some(a), 1),
        (None, b) => (b, 0),
    }
}

/// A counter file's value: the two-slot layout, or the earlier 8-byte one. `None`: unreadable.
fn read_counter(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        COUNTER_FILE_LEN => counter_slots(bytes.try_into().ok()?).0,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn made_once_then_stable_private_and_deletable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SoftwareDeviceSecretStore::new(dir.path().join("keys"));
        let a = store.device_secret("ab12").unwrap();
        let b = store.device_secret("ab12").unwrap();
        let c = store.device_secret("cd34").unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(*a, *b);
        assert_ne!(*a, *c);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("keys/ab12.device.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.delete_device_secret("ab12").unwrap();
        store.delete_device_secret("ab12").unwrap();
        assert_ne!(*store.device_secret("ab12").unwrap(), *a);
    }

    #[test]
    fn counter_only_goes_up_and_is_deleted_with_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = SoftwareDeviceSecretStore::new(dir.path());
        assert_eq!(store.rollback_counter("ab12").unwrap(), None);
        store.raise_rollback_counter("ab12", 5).unwrap();
        store.raise_rollback_counter("ab12", 3).unwrap();
        assert_eq!(store.rollback_counter("ab12").unwrap(), Some(5));
        store.raise_rollback_counter("ab12", 9).unwrap();
        assert_eq!(store.rollback_counter("ab12").unwrap(), Some(9));
        std::fs::write(dir.path().join("ab12.counter"), b"xx").unwrap();
        assert!(store.rollback_counter("ab12").is_err());
        std::fs::write(dir.path().join("ab12.counter"), [0u8; 32]).unwrap();
        assert!(store.rollback_counter("ab12").is_err());
        store.raise_rollback_counter("cd34", 1).unwrap();
        store.delete_device_secret("cd34").unwrap();
        assert_eq!(store.rollback_counter("cd34").unwrap(), None);
    }

    #[test]
    fn counter_is_raised_in_place_and_a_torn_slot_falls_back_to_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = SoftwareDeviceSecretStore::new(dir.path());
        let file = dir.path().join("ab12.counter");
        // The earlier layout (8 bytes, as in the committed format-3 fixture) is read and taken
        // over at the next raise.
        std::fs::write(&file, 41u64.to_be_bytes()).unwrap();
        assert_eq!(store.rollback_counter("ab12").unwrap(), Some(41));
        store.raise_rollback_counter("ab12", 40).unwrap();
        assert_eq!(std::fs::read(&file).unwrap().len(), 8);
        store.raise_rollback_counter("ab12", 42).unwrap();
        assert_eq!(std::fs::read(&file).unwrap().len(), 32);
        let inode = || {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                std::fs::metadata(&file).unwrap().ino()
            }
        };
        let before = inode();
        for v in 43..=50 {
            store.raise_rollback_counter("ab12", v).unwrap();
            assert_eq!(store.rollback_counter("ab12").unwrap(), Some(v));
        }
        assert_eq!(inode(), before, "written in place, not replaced");
        // A write torn in the slot being written: the other slot's value is read (one behind).
        let mut bytes = std::fs::read(&file).unwrap();
        let (_, next) = counter_slots(&bytes.clone().try_into().unwrap());
        let newest = 1 - next;
        bytes[newest * COUNTER_SLOT_LEN + 3] ^= 0x40;
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(store.rollback_counter("ab12").unwrap(), Some(49));
        store.raise_rollback_counter("ab12", 51).unwrap();
        assert_eq!(store.rollback_counter("ab12").unwrap(), Some(51));
        store.raise_rollback_counter("ab12", 7).unwrap();
        assert_eq!(store.rollback_counter("ab12").unwrap(), Some(51));
    }

    #[test]
    fn path_traversal_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SoftwareDeviceSecretStore::new(dir.path());
        assert!(store.device_secret("../etc").is_err());
        assert!(store.device_secret("").is_err());
    }
}
