//! The device secret across the FFI: the foreign trait apps implement over their platform key
//! store, its adapter to the core's [`DeviceSecretStore`], and the software store as a default.
//!
//! The device secret is the second factor of the vault's key (with the PIN): a copied vault file
//! is useless without it. On Android it should come from the Keystore (StrongBox where present),
//! on iOS from a Secure Enclave-protected key; see docs/BINDINGS.md for a sketch of each.
//!
//! The store also keeps each vault's rollback counter, outside the vault file: an older copy of
//! the whole file put back is then refused (`Integrity`, docs/VAULT.md). A store that cannot keep
//! one says so (`keeps_rollback_counter` false) and that check is skipped.

use std::path::PathBuf;
use std::sync::Arc;

use kluis_core::{DeviceSecretError, DeviceSecretStore, SoftwareDeviceSecretStore};
use zeroize::Zeroizing;

use crate::DeviceKeyStoreError;

/// A platform key store that keeps one secret per vault. Implemented by the app (Kotlin, Swift,
/// Python) or obtained from `softwareKeyStore(dir)`.
///
/// Calls arrive on a background thread, never on the UI thread, and may block.
#[uniffi::export(with_foreign)]
pub trait DeviceKeyStore: Send + Sync {
    /// The secret for `vault_id` (at least 32 bytes), made and stored on first use. It must be
    /// the same bytes on every later call, or the vault can no longer be opened.
    fn device_secret(&self, vault_id: String) -> Result<Vec<u8>, DeviceKeyStoreError>;
    /// Forgets the secret for `vault_id` (on wipe), and its rollback counter. Deleting a missing
    /// secret is not an error.
    fn delete_device_secret(&self, vault_id: String) -> Result<(), DeviceKeyStoreError>;
    /// Whether this store keeps a rollback counter per vault. When true, a vault whose file says
    /// its counter is kept but whose counter is missing is refused as tampered with; a vault made
    /// before the store kept counters takes one up at its next unlock. The value must not be
    /// changed afterwards for the same vaults.
    fn keeps_rollback_counter(&self) -> bool;
    /// The highest value `raise_rollback_counter` was given for `vault_id` (null/nil: none kept).
    /// Kept outside the vault file and outside any backup of it (Android: no-backup storage;
    /// iOS: a Keychain item `ThisDeviceOnly`).
    fn rollback_counter(&self, vault_id: String) -> Result<Option<u64>, DeviceKeyStoreError>;
    /// Raises the counter of `vault_id` to `value`; a value below the stored one is ignored (it
    /// only goes up). Called after every vault write; it may lag after a crash, never run ahead.
    fn raise_rollback_counter(
        &self,
        vault_id: String,
        value: u64,
    ) -> Result<(), DeviceKeyStoreError>;
}

/// The software key store: a random 32-byte secret per vault in a file (mode 0600) in `dir`,
/// which must be outside the vault directory. For the CLI, tests and devices without a key store.
#[uniffi::export]
pub fn software_key_store(dir: String) -> Arc<dyn DeviceKeyStore> {
    Arc::new(SoftwareKeyStore(SoftwareDeviceSecretStore::new(
        PathBuf::from(dir),
    )))
}

/// The core's software store seen as a [`DeviceKeyStore`].
struct SoftwareKeyStore(SoftwareDeviceSecretStore);

impl DeviceKeyStore for SoftwareKeyStore {
    fn device_secret(&self, vault_id: String) -> Result<Vec<u8>, DeviceKeyStoreError> {
        // Moves the bytes out of the Zeroizing wrapper without copying; the adapter below wraps
        // them again before the core sees them.
        let mut secret = self
            .0
            .device_secret(&vault_id)
            .map_err(DeviceKeyStoreError::from)?;
        Ok(std::mem::take(&mut *secret))
    }

    fn delete_device_secret(&self, vault_id: String) -> Result<(), DeviceKeyStoreError> {
        self.0
            .delete_device_secret(&vault_id)
            .map_err(DeviceKeyStoreError::from)
    }

    fn keeps_rollback_counter(&self) -> bool {
        self.0.keeps_rollback_counter()
    }

    fn rollback_counter(&self, vault_id: String) -> Result<Option<u64>, DeviceKeyStoreError> {
        Ok(self.0.rollback_counter(&vault_id)?)
    }

    fn raise_rollback_counter(
        &self,
        vault_id: String,
        value: u64,
    ) -> Result<(), DeviceKeyStoreError> {
        Ok(self.0.raise_rollback_counter(&vault_id, value)?)
    }
}

impl From<DeviceSecretError> for DeviceKeyStoreError {
    fn from(e: DeviceSecretError) -> Self {
        match e {
            DeviceSecretError::Unavailable(reason) => DeviceKeyStoreError::Unavailable { reason },
            DeviceSecretError::TooShort => DeviceKeyStoreError::Unavailable {
                reason: DeviceSecretError::TooShort.to_string(),
            },
            DeviceSecretError::Io(reason) => DeviceKeyStoreError::Io { reason },
        }
    }
}

impl From<DeviceKeyStoreError> for DeviceSecretError {
    fn from(e: DeviceKeyStoreError) -> Self {
        match e {
            DeviceKeyStoreError::Unavailable { reason } => DeviceSecretError::Unavailable(reason),
            DeviceKeyStoreError::Io { reason } => DeviceSecretError::Io(reason),
        }
    }
}

/// A [`DeviceKeyStore`] (usually the app's) as the core's [`DeviceSecretStore`].
pub(crate) struct DeviceKeyStoreAdapter(pub(crate) Arc<dyn DeviceKeyStore>);

impl DeviceSecretStore for DeviceKeyStoreAdapter {
    fn device_secret(&self, vault_id: &str) -> Result<Zeroizing<Vec<u8>>, DeviceSecretError> {
        Ok(Zeroizing::new(self.0.device_secret(vault_id.to_string())?))
    }

    fn delete_device_secret(&self, vault_id: &str) -> Result<(), DeviceSecretError> {
        Ok(self.0.delete_device_secret(vault_id.to_string())?)
    }

    fn keeps_rollback_counter(&self) -> bool {
        self.0.keeps_rollback_counter()
    }

    fn rollback_counter(&self, vault_id: &str) -> Result<Option<u64>, DeviceSecretError> {
        Ok(self.0.rollback_counter(vault_id.to_string())?)
    }

    fn raise_rollback_counter(&self, vault_id: &str, value: u64) -> Result<(), DeviceSecretError> {
        Ok(self.0.raise_rollback_counter(vault_id.to_string(), value)?)
    }
}
