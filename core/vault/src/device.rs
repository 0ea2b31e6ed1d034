//! The device secret: the second factor of the KEK, kept outside the database file.
//!
//! Apps implement [`DeviceSecretStore`] over Android Keystore or the Secure Enclave (through a
//! uniffi foreign callback); [`SoftwareDeviceSecretStore`] keeps a random secret in a file,
//! for the CLI, tests and platforms without a key store.

use std::fs;
use std::io::Write;
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
            Ok(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| DeviceSecretError::Io("rollback counter unreadable".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read counter", e)),
        }
    }

    fn raise_rollback_counter(&self, vault_id: &str, value: u64) -> Result<(), DeviceSecretError> {
        if self.rollback_counter(vault_id)?.is_some_and(|c| c >= value) {
            return Ok(());
        }
        let path = self.counter_path(vault_id)?;
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
        // Written whole and renamed into place: a reader sees the old or the new value. No
        // fsync: a counter lost on power failure lags the file, which is allowed.
        let written = opts
            .open(&tmp)
            .and_then(|mut f| f.write_all(&value.to_be_bytes()))
            .and_then(|()| fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(|e| io_err("write counter", e))
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
        store.raise_rollback_counter("cd34", 1).unwrap();
        store.delete_device_secret("cd34").unwrap();
        assert_eq!(store.rollback_counter("cd34").unwrap(), None);
    }

    #[test]
    fn path_traversal_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SoftwareDeviceSecretStore::new(dir.path());
        assert!(store.device_secret("../etc").is_err());
        assert!(store.device_secret("").is_err());
    }
}
