//! Shared helpers for the vault's integration tests: cheap options and a credential-like record.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kluis_vault::*;
use serde::{Deserialize, Serialize};

/// A credential-like record with values that must never appear on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    pub issuer: String,
    pub vct: String,
    pub given_name: String,
    pub family_name: String,
    pub bsn: String,
    pub street: String,
    pub amount_cents: i64,
}
impl Record for Credential {
    const KIND: &'static str = "credential";
}

/// Another kind, to check records cannot move between kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    pub value: String,
}
impl Record for Setting {
    const KIND: &'static str = "setting";
}

pub fn credential(n: usize) -> Credential {
    Credential {
        issuer: format!("https://duo.example/issuer-{n}"),
        vct: "urn:nl:duo:studieschuld:1".into(),
        given_name: format!("Wilhelmina{n}"),
        family_name: "Zwanenburg-Uniek".into(),
        bsn: "999993653".into(),
        street: "Kalverstraat 7731".into(),
        amount_cents: 1_234_567 + n as i64,
    }
}

/// Strings from [`credential`] that a disk scan must not find.
pub const SECRETS: &[&str] = &[
    "Zwanenburg-Uniek",
    "999993653",
    "Kalverstraat 7731",
    "Wilhelmina",
    "duo.example",
    "studieschuld",
];

pub fn test_options() -> VaultOptions {
    VaultOptions {
        kdf: KdfParams::dangerous_test_profile(),
        policy: VaultPolicy {
            max_attempts: None,
            free_attempts: 100,
            backoff_base_secs: 0,
            backoff_max_secs: 0,
            on_limit: OnLimit::Lockout,
        },
    }
}

pub fn pin() -> Pin {
    Pin::new("246810")
}

pub fn store(dir: &Path) -> Arc<dyn DeviceSecretStore> {
    Arc::new(SoftwareDeviceSecretStore::new(dir.join("keys")))
}

pub fn vault_dir(root: &Path) -> PathBuf {
    root.join("vault")
}

pub fn new_vault(root: &Path, opts: VaultOptions) -> Vault {
    Vault::create(&vault_dir(root), &pin(), opts, store(root)).unwrap()
}

pub fn reopen(root: &Path) -> Vault {
    Vault::open(&vault_dir(root), store(root)).unwrap()
}

pub fn db_file(root: &Path) -> PathBuf {
    vault_dir(root).join("vault.sqlite3")
}

/// A plain SQLite connection to the vault file, as an attacker with file access would have.
pub fn raw(root: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db_file(root)).unwrap()
}
