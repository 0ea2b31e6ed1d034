//! kluis-vault: the citizen's encrypted vault. One SQLite file (WAL), every record sealed
//! with XChaCha20-Poly1305 under a data key (DEK) that only the PIN *and* the device secret
//! can unwrap. The database holds opaque ids, record kinds and ciphertext; nothing a person
//! would call data. See docs/VAULT.md for the key hierarchy, file layout and threat model.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use kluis_vault::*;
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Note { text: String }
//! impl Record for Note { const KIND: &'static str = "note"; }
//!
//! # fn main() -> Result<(), VaultError> {
//! let dir = std::path::Path::new("/tmp/my-vault");
//! let device = Arc::new(SoftwareDeviceSecretStore::new(dir));
//! let vault = Vault::create(dir, &Pin::new("12345"), VaultOptions::default(), device)?;
//! let id = Vault::new_record_id();
//! vault.put(&id, &Note { text: "hello".into() })?;
//! vault.lock();
//! # Ok(()) }
//! ```

mod device;
mod error;
mod plain;
mod policy;
mod schema;
mod summary_pages;
mod vault;

pub use device::{DeviceSecretStore, SoftwareDeviceSecretStore, DEVICE_SECRET_LEN};
pub use error::{DeviceSecretError, VaultError};
pub use kluis_crypto::{KdfParams, Kek, Pin};
pub use policy::{OnLimit, VaultPolicy};
pub use vault::{Durability, PlainRecord, Vault, WriteTxn};

use std::collections::BTreeMap;

/// An opaque record id: random hex ([`Vault::new_record_id`]) or a keyed hash
/// ([`Vault::lookup_id`]). Stored in plaintext, so never personal data.
pub type RecordId = String;

/// What `list` returns: each record's id with the record, or the error that record alone
/// failed with, in insertion order.
pub type Listed<R> = Vec<(RecordId, Result<R, VaultError>)>;

/// A type stored in the vault. `KIND` names its category (e.g. `"credential"`); it is
/// stored in plaintext and bound into each record's associated data.
pub trait Record: serde::Serialize + serde::de::DeserializeOwned {
    /// The record kind: 1..=64 characters of `a-z 0-9 _ - .`.
    const KIND: &'static str;

    /// The few fields a listing needs, kept sealed beside the record (its own associated data)
    /// so that [`Vault::list_summaries`] need not open and decode every full record. `None`
    /// (the default): no summary.
    fn summary(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Choices made when a vault is created; both are stored in the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VaultOptions {
    /// Argon2id parameters (default: RFC 9106 second recommended option).
    pub kdf: KdfParams,
    /// Wrong-PIN policy.
    pub policy: VaultPolicy,
}

/// What can be said about a vault without its key (plus whether it is unlocked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VaultStatus {
    /// Is the data key in memory?
    pub unlocked: bool,
    /// The vault's random id (names its device secret).
    pub vault_id: String,
    /// File format version.
    pub format_version: u32,
    /// KDF parameters as stored in the vault.
    pub kdf: KdfParams,
    /// Wrong-PIN policy as stored in the vault.
    pub policy: VaultPolicy,
    /// Wrong PINs in a row so far.
    pub failed_attempts: u32,
    /// Attempts left before the limit (`None`: no limit).
    pub attempts_left: Option<u32>,
    /// Seconds before an unlock attempt is accepted (0 = now).
    pub retry_after_secs: u64,
    /// Number of records per kind.
    pub record_counts: BTreeMap<String, u64>,
}
