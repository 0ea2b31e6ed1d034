//! What a backup needs from the vault: every record as the wallet stored it (kind, id and its
//! plaintext encoding, not SQLite pages), the data key's backup key and recovery wrap, and a new
//! vault built around a restored data key, complete before it appears (docs/VAULT.md, "Backup
//! and restore").

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kluis_crypto::{BackupKey, DataKeys, Dek, Pin, RecoveryKek, SealKey};
use rusqlite::TransactionBehavior;
use zeroize::Zeroizing;

use super::{
    advance_seal, check_id, check_kind, create_private_dir, db_path, decode, encode, new_file,
    put_sealed, random_16, record_aad, DirtyPages, Inner, NewFile, Vault, WriteTxn, DB_FILE,
    ENCODING_JSON,
};
use crate::schema;
use crate::{DeviceSecretStore, Record, VaultError, VaultOptions};

/// One record as the vault keeps it, opened: its kind, id and plaintext encoding (an encoding
/// byte, then JSON). Zeroized on drop; no `Debug`.
pub struct PlainRecord {
    kind: String,
    id: String,
    encoded: Zeroizing<Vec<u8>>,
}

impl PlainRecord {
    /// A record from its parts, as read from a backup: kind and id are checked like the vault's,
    /// and the encoding must be one the vault reads back.
    pub fn from_encoded(
        kind: &str,
        id: &str,
        encoded: Zeroizing<Vec<u8>>,
    ) -> Result<Self, VaultError> {
        check_kind(kind)?;
        check_id(id)?;
        match encoded.split_first() {
            Some((&ENCODING_JSON, json)) => {
                serde_json::from_slice::<serde::de::IgnoredAny>(json)?;
            }
            _ => return Err(VaultError::Encoding("unknown record encoding".into())),
        }
        Ok(PlainRecord {
            kind: kind.to_string(),
            id: id.to_string(),
            encoded,
        })
    }

    /// A typed record encoded as the vault would store it.
    pub fn of<R: Record>(id: &str, value: &R) -> Result<Self, VaultError> {
        check_id(id)?;
        Ok(PlainRecord {
            kind: R::KIND.to_string(),
            id: id.to_string(),
            encoded: encode(value)?,
        })
    }

    /// The record kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The record id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The plaintext encoding (what the vault seals).
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// Decode as `R` (the kinds must match).
    pub fn decode<R: Record>(&self) -> Result<R, VaultError> {
        if self.kind != R::KIND {
            return Err(VaultError::InvalidKind);
        }
        decode(&self.encoded)
    }
}

impl WriteTxn<'_> {
    /// Store a record given in its plaintext encoding (a restore). It gets no summary: a kind
    /// with summaries is put typed ([`WriteTxn::put`]), or rebuilt by
    /// [`Vault::rebuild_summaries`] when the counts differ.
    pub fn put_plain(&mut self, record: &PlainRecord) -> Result<(), VaultError> {
        let sealed = self
            .keys
            .seal(&record.encoded, &record_aad(&record.kind, &record.id));
        let seq = put_sealed(&self.tx, &record.kind, &record.id, &sealed)?;
        self.pages.set(&self.tx, self.keys, &record.kind, seq, None)
    }
}

impl Vault {
    /// Every record of every kind, opened, in insertion order: what a backup holds. A record
    /// that does not open fails the whole export (`Integrity` naming it): a backup never drops
    /// something silently. Read in one transaction, so it is one consistent state.
    pub fn export_records(&self) -> Result<Vec<PlainRecord>, VaultError> {
        let mut g = self.inner();
        let Inner { conn, keys, .. } = &mut *g;
        let conn = conn.as_mut().ok_or(VaultError::Wiped)?;
        let keys = keys.as_ref().ok_or(VaultError::Locked)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let mut out = Vec::new();
        {
            let mut stmt = tx.prepare("SELECT kind, id, sealed FROM records ORDER BY seq")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let kind: String = row.get(0)?;
                let id: String = row.get(1)?;
                let integrity = || VaultError::Integrity {
                    kind: kind.clone(),
                    id: id.clone(),
                };
                let sealed = row.get_ref(2)?.as_blob().map_err(|_| integrity())?;
                let encoded = keys
                    .open(sealed, &record_aad(&kind, &id))
                    .map_err(|_| integrity())?;
                out.push(PlainRecord { kind, id, encoded });
            }
        }
        tx.finish()?;
        Ok(out)
    }

    /// The key backups of this vault are sealed with (derived from the data key).
    pub fn backup_key(&self) -> Result<BackupKey, VaultError> {
        let g = self.inner();
        let keys = g.keys.as_ref().ok_or(VaultError::Locked)?;
        Ok(BackupKey::derive(keys.dek()))
    }

    /// The data key wrapped under a recovery key, for the wallet to keep and put in backups.
    pub fn wrap_data_key(&self, kek: &RecoveryKek, aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        let g = self.inner();
        let keys = g.keys.as_ref().ok_or(VaultError::Locked)?;
        Ok(kek.wrap_dek(keys.dek(), aad))
    }

    /// Create a vault in `dir` around a restored data key (so every record id, keyed hash or
    /// random, stays valid) with a new vault id, device secret, salt and PIN, and fill it in the
    /// same transaction as its seal: `fill` puts the records. The file is linked into place only
    /// when complete; a crash or an error leaves no vault. `AlreadyExists` if `dir` has one.
    pub fn create_restored(
        dir: &Path,
        pin: &Pin,
        opts: VaultOptions,
        device: Arc<dyn DeviceSecretStore>,
        dek: Dek,
        fill: impl FnOnce(&mut WriteTxn<'_>) -> Result<(), VaultError>,
    ) -> Result<Vault, VaultError> {
        opts.kdf.validate()?;
        opts.policy.validate().map_err(VaultError::InvalidPolicy)?;
        if Self::exists(dir) {
            return Err(VaultError::AlreadyExists);
        }
        create_private_dir(dir)?;
        clear_interrupted_restores(dir, device.as_ref());
        let vault_id = hex::encode(random_16());
        let secret = device.device_secret(&vault_id)?;
        let made = restore_inner(
            dir,
            pin,
            opts,
            &vault_id,
            &secret,
            device.as_ref(),
            dek,
            fill,
        );
        kluis_crypto::scrub_stack();
        if made.is_err() {
            let _ = device.delete_device_secret(&vault_id);
        }
        let (keys, seal_key) = made?;
        let conn = schema::open_file(&db_path(dir))?;
        Ok(Vault {
            dir: dir.to_path_buf(),
            device,
            inner: Mutex::new(Inner {
                conn: Some(conn),
                keys: Some(keys),
                seal_key: Some(seal_key),
                plain: zeroize::Zeroizing::new(Vec::new()),
                vault_id,
            }),
        })
    }
}

const RESTORING: &str = "restoring-";

/// Removes the temporary file (and its device secret) of a restore that was killed before it
/// linked its vault into place: never a vault, never opened again. Best effort.
fn clear_interrupted_restores(dir: &Path, device: &dyn DeviceSecretStore) {
    let prefix = format!(".{DB_FILE}.{RESTORING}");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let id = rest.split('-').next().unwrap_or_default();
        if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let _ = std::fs::remove_file(entry.path());
            let _ = device.delete_device_secret(id);
        }
    }
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn restore_inner(
    dir: &Path,
    pin: &Pin,
    opts: VaultOptions,
    vault_id: &str,
    secret: &[u8],
    device: &dyn DeviceSecretStore,
    dek: Dek,
    fill: impl FnOnce(&mut WriteTxn<'_>) -> Result<(), VaultError>,
) -> Result<(Box<DataKeys>, Box<SealKey>), VaultError> {
    let NewFile {
        header,
        keys,
        seal_key,
        seal,
    } = new_file(
        pin,
        &opts,
        vault_id,
        secret,
        dek,
        device.keeps_rollback_counter(),
    )?;

    // Named after the vault id, so a later restore can clear what a killed one left behind.
    let tmp = dir.join(format!(".{DB_FILE}.{RESTORING}{vault_id}"));
    let result = schema::create_file(&tmp, &header, &seal).and_then(|()| {
        let mut conn = schema::open_file(&tmp)?;
        let seq = {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut txn = WriteTxn {
                tx,
                keys: &keys,
                seal_key: &seal_key,
                pages: DirtyPages::default(),
            };
            fill(&mut txn)?;
            txn.pages.flush(&txn.tx, &keys)?;
            let seq = advance_seal(&txn.tx, &seal_key)?;
            txn.tx.commit()?;
            seq
        };
        // Everything into the main file before it is linked: the link does not carry the WAL.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        conn.close().map_err(|(_, e)| VaultError::from(e))?;
        device.raise_rollback_counter(vault_id, seq)?;
        std::fs::hard_link(&tmp, db_path(dir)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                VaultError::AlreadyExists
            } else {
                e.into()
            }
        })
    });
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = tmp.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    result?;
    Ok((Box::new(keys), Box::new(seal_key)))
}
