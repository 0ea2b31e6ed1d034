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
    fn delete_device_secret(&self, vault_id: &str) -> Result<(), DeviceSecretError>;
}

/// A device secret in a file `<dir>/<vault_id>.device.key`, mode 0600, outside the database.
/// Copying the vault file alone is not enough to start guessing PINs.
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
        let path = self.path(vault_id)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", e)),
        }
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
    fn path_traversal_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SoftwareDeviceSecretStore::new(dir.path());
        assert!(store.device_secret("../etc").is_err());
        assert!(store.device_secret("").is_err());
    }
}
