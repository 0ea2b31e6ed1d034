//! Backup and restore through the binding (docs/VAULT.md, "Backup and restore"): the recovery
//! words shown once, a backup written to a file (or handed to the app as bytes, for the
//! platform's document picker), and a restore into a new wallet on this device. Every decision
//! (what travels, what is marked for re-issuance, when a restore is refused) is kluis-core's
//! (`backup`); this module only converts.

use std::path::Path;
use std::sync::Arc;

use kluis_core::backup as bk;
use kluis_core::Pin;

use crate::key_store::DeviceKeyStoreAdapter;
use crate::wallet::Wallet;
use crate::{DeviceKeyStore, HolderKeyStore, KluisError, WalletOptions};

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackupInfo {
    /// This backup's id (also in the audit log).
    pub backup_id: String,
    /// Records in it.
    pub records: u64,
    /// Credentials in it.
    pub credentials: u64,
    /// Credentials bound to keys of this phone's key store: collected again after a restore
    /// elsewhere.
    pub device_bound: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

impl From<bk::BackupInfo> for BackupInfo {
    fn from(i: bk::BackupInfo) -> Self {
        BackupInfo {
            backup_id: i.backup_id,
            records: i.records as u64,
            credentials: i.credentials as u64,
            device_bound: i.device_bound as u64,
            bytes: i.bytes as u64,
        }
    }
}

impl From<BackupInfo> for bk::BackupInfo {
    fn from(i: BackupInfo) -> Self {
        bk::BackupInfo {
            backup_id: i.backup_id,
            records: i.records as usize,
            credentials: i.credentials as usize,
            device_bound: i.device_bound as usize,
            bytes: i.bytes as usize,
        }
    }
}

/// A backup as bytes, for the app to store where the citizen chooses.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackupFile {
    /// The file's contents (sealed; nothing readable without the recovery words).
    pub bytes: Vec<u8>,
    /// What is in it; hand it to [`Wallet::backup_stored`] once the bytes are stored.
    pub info: BackupInfo,
}

/// A credential to collect again after a restore: its key stayed on the old phone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Reissue {
    /// Credential id.
    pub id: String,
    /// Its holder.
    pub issuer: String,
    /// Its type.
    pub vct: String,
    /// Whether `refresh` collects it again by itself (the holder gave a refresh token);
    /// otherwise the citizen collects it again from its holder.
    pub refreshable: bool,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RestoreReport {
    /// The backup restored.
    pub backup_id: String,
    /// When it was made (Unix seconds).
    pub created_at: i64,
    /// Credentials restored.
    pub credentials: u64,
    /// Audit log entries restored (the restore's own entry not counted).
    pub audit_entries: u64,
    /// Credentials to collect again.
    pub needs_reissuance: Vec<Reissue>,
    /// The directory already held the wallet restored from this very backup: nothing changed.
    pub already_restored: bool,
}

impl From<bk::RestoreReport> for RestoreReport {
    fn from(r: bk::RestoreReport) -> Self {
        RestoreReport {
            backup_id: r.backup_id,
            created_at: r.created_at,
            credentials: r.credentials as u64,
            audit_entries: r.audit_entries as u64,
            needs_reissuance: r
                .needs_reissuance
                .into_iter()
                .map(|c| Reissue {
                    id: c.id,
                    issuer: c.issuer,
                    vct: c.vct,
                    refreshable: c.refreshable,
                })
                .collect(),
            already_restored: r.already_restored,
        }
    }
}

/// A restored wallet (unlocked with the new PIN) and what the restore did.
#[derive(uniffi::Record)]
pub struct RestoredWallet {
    /// The wallet, unlocked.
    pub wallet: Arc<Wallet>,
    /// What was restored and what to collect again.
    pub report: RestoreReport,
}

/// Restores `backup` into a new wallet in `dir` on this phone: the recovery words the citizen
/// wrote down, a new PIN, this phone's `key_store` (and `holder_keys`, where new credential keys
/// will be made). Nothing is left in `dir` when it fails (`WrongRecoverySecret`,
/// `BackupDamaged`, `BackupOfAnotherWallet`, `AlreadyExists`, `StorageFull`).
#[uniffi::export(async_runtime = "tokio", default(holder_keys = None, holder_key_timeout_ms = 120000))]
#[allow(clippy::too_many_arguments)]
pub async fn restore_wallet(
    dir: String,
    backup: Vec<u8>,
    recovery_words: String,
    pin: String,
    options: WalletOptions,
    key_store: Arc<dyn DeviceKeyStore>,
    holder_keys: Option<Arc<dyn HolderKeyStore>>,
    holder_key_timeout_ms: u64,
) -> Result<RestoredWallet, KluisError> {
    let pin = Pin::new(pin);
    let words = zeroize::Zeroizing::new(recovery_words);
    let device = Arc::new(DeviceKeyStoreAdapter(key_store));
    let (core, report) = tokio::task::spawn_blocking(move || {
        kluis_core::Wallet::restore(
            Path::new(&dir),
            device,
            &backup,
            &words,
            &pin,
            options.into(),
        )
    })
    .await??;
    Ok(RestoredWallet {
        wallet: Wallet::wrap(core, holder_keys, holder_key_timeout_ms),
        report: report.into(),
    })
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Makes a new recovery secret and returns its 12 words, to show once (at set-up, or for a
    /// wallet made before backups; a new one replaces the old, whose backups keep opening with
    /// the old words).
    pub async fn make_recovery_secret(&self) -> Result<String, KluisError> {
        self.with_core(|w| w.make_recovery_secret().map(|s| s.to_string()))
            .await
    }

    /// Whether the wallet has a recovery secret (backups need one).
    pub async fn has_recovery_secret(&self) -> Result<bool, KluisError> {
        self.with_core(|w| w.has_recovery_secret()).await
    }

    /// Writes a backup to `path` (whole or not at all) and logs it.
    pub async fn backup_to_file(&self, path: String) -> Result<BackupInfo, KluisError> {
        self.with_core(move |w| w.backup(Path::new(&path)).map(BackupInfo::from))
            .await
    }

    /// A backup as bytes, for the app to store through the platform (document picker, cloud
    /// drive); call [`Wallet::backup_stored`] when it is stored, so the log records it.
    pub async fn backup_bytes(&self) -> Result<BackupFile, KluisError> {
        self.with_core(|w| {
            w.backup_bytes().map(|(bytes, info)| BackupFile {
                bytes,
                info: info.into(),
            })
        })
        .await
    }

    /// Logs a backup from [`Wallet::backup_bytes`] that the app has stored.
    pub async fn backup_stored(&self, info: BackupInfo) -> Result<(), KluisError> {
        self.with_core(move |w| w.log_backup(&info.into())).await
    }
}
