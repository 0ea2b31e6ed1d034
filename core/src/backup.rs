//! Backup and restore: one portable file, sealed under the citizen's recovery secret, that brings
//! the wallet back on a new device (docs/VAULT.md, "Backup and restore").
//!
//! The wallet keeps its data key wrapped under the recovery secret (the [`RecoveryRecord`]), so
//! it can seal a backup at any time without asking for the words. A backup holds every record as
//! the vault stores it (credentials, trust, the scheme pin, the audit log with its chain,
//! mandates given and received, refresh grants) except the keys that stayed on the device: the
//! credentials bound to them come back marked "needs re-issuance".
//!
//! File layout (all integers big-endian):
//! ```text
//! "KLUISBAK" | version (1 byte) | header length (u32) | header (JSON) | sealed contents
//! ```
//! The header names the wallet and the backup and carries the Argon2id parameters, salt,
//! recovery check and the data key wrapped under the recovery key; the contents are
//! XChaCha20-Poly1305 under the backup key with every byte before them as associated data.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use kluis_crypto::{BackupKey, KdfParams, Pin, RecoveryKek, RecoverySecret, Salt};
use kluis_vault::{DeviceSecretStore, PlainRecord, Record, Vault, VaultError, VaultOptions};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::{self, Actor, AuditEntry, AuditEvent};
use crate::credentials::StoredCredential;
use crate::holder_key::HolderKeyRecord;
use crate::{now_unix, Error, KeyLocation, Wallet};

const MAGIC: &[u8; 8] = b"KLUISBAK";
/// The file format this code writes and reads.
pub const BACKUP_FORMAT: u8 = 1;
const MAX_HEADER: usize = 16 * 1024;
/// Largest backup accepted (a wallet of 10,000 credentials is about 25 MB).
pub const MAX_BACKUP_BYTES: usize = 512 * 1024 * 1024;
const RECOVERY_ID: &str = "recovery";
const RESTORED_ID: &str = "restored";

/// The recovery secret's wrap of the data key, kept in the vault (and copied into every backup's
/// header). Holds nothing secret by itself: it opens only with the words.
#[derive(Serialize, Deserialize)]
pub(crate) struct RecoveryRecord {
    /// Random, made with the first recovery secret; names the wallet across devices.
    wallet_id: String,
    kdf: KdfParams,
    salt: String,
    check: String,
    wrapped_dek: String,
    created_at: i64,
}

impl Record for RecoveryRecord {
    const KIND: &'static str = "recovery";
}

/// Which backup a restored vault came from: restoring the same file again changes nothing.
#[derive(Serialize, Deserialize)]
struct RestoredFrom {
    backup_id: String,
    at: i64,
}

impl Record for RestoredFrom {
    const KIND: &'static str = "restored_from";
}

/// The plaintext header of a backup file (authenticated as the contents' associated data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupHeader {
    /// The wallet the backup is of.
    pub wallet_id: String,
    /// This backup (random).
    pub backup_id: String,
    /// When it was made (Unix seconds).
    pub created_at: i64,
    /// Argon2id parameters of the recovery key.
    pub kdf: KdfParams,
    salt: String,
    check: String,
    wrapped_dek: String,
}

/// A backup file split into its parts; nothing opened yet. What the fuzz target drives.
pub struct ParsedBackup<'a> {
    /// The header.
    pub header: BackupHeader,
    /// Every byte before the sealed contents (their associated data).
    aad: &'a [u8],
    sealed: &'a [u8],
}

/// What a backup holds, decoded: every record, in the vault's order.
pub struct BackupContents {
    /// The records.
    pub records: Vec<PlainRecord>,
}

/// A backup opened with the right words and checked (records decode, the audit chain holds):
/// everything a restore needs before it touches the disk.
pub struct OpenedBackup {
    dek: kluis_crypto::Dek,
    contents: BackupContents,
    plan: RestorePlan,
}

impl OpenedBackup {
    /// The records.
    pub fn records(&self) -> &[PlainRecord] {
        &self.contents.records
    }

    /// What a restore would report (the credentials to collect again, without whether their
    /// holders can refresh them: that needs the restored vault).
    pub fn report(&self, header: &BackupHeader) -> RestoreReport {
        self.plan.report(header)
    }
}

/// What [`Wallet::backup`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupInfo {
    /// This backup's id (also in the audit log).
    pub backup_id: String,
    /// Records in it.
    pub records: usize,
    /// Credentials in it.
    pub credentials: usize,
    /// Credentials that will need re-issuance after a restore (their keys stay on this device).
    pub device_bound: usize,
    /// Size of the file.
    pub bytes: usize,
}

/// A credential to collect again after a restore: its key stayed on the old device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reissue {
    /// Credential id.
    pub id: String,
    /// Its holder.
    pub issuer: String,
    /// Its type.
    pub vct: String,
    /// Whether the holder gave a refresh token: `kluis refresh` re-collects it without the
    /// citizen; otherwise it is collected again from the holder.
    pub refreshable: bool,
}

/// What [`Wallet::restore`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreReport {
    /// The backup restored.
    pub backup_id: String,
    /// When it was made.
    pub created_at: i64,
    /// Credentials restored.
    pub credentials: usize,
    /// Audit entries restored (the restore's own entry not counted).
    pub audit_entries: usize,
    /// Credentials to collect again.
    pub needs_reissuance: Vec<Reissue>,
    /// The vault here was already restored from this very backup: nothing was changed.
    pub already_restored: bool,
}

fn damaged(reason: impl Into<String>) -> Error {
    Error::BackupDamaged {
        reason: reason.into(),
    }
}

/// A record of the backup that does not decode as its kind.
fn unreadable(_: VaultError) -> Error {
    damaged("a record in it is not readable")
}

fn push_framed(buf: &mut Vec<u8>, part: &[u8]) {
    buf.extend_from_slice(&(part.len() as u32).to_be_bytes());
    buf.extend_from_slice(part);
}

/// Associated data of the recovery wrap: the wallet and the key's parameters.
fn wrap_aad(wallet_id: &str, kdf: &KdfParams, salt: &Salt) -> Vec<u8> {
    let mut aad = Vec::with_capacity(96);
    push_framed(&mut aad, b"kluis/recovery-wrap/v1");
    push_framed(&mut aad, wallet_id.as_bytes());
    aad.extend_from_slice(&kdf.m_kib.to_be_bytes());
    aad.extend_from_slice(&kdf.t.to_be_bytes());
    aad.extend_from_slice(&kdf.p.to_be_bytes());
    push_framed(&mut aad, &salt.0);
    aad
}

/// Splits a backup file into header, associated data and sealed contents. Checks the magic,
/// version, lengths and header fields; opens nothing.
pub fn parse_backup(bytes: &[u8]) -> Result<ParsedBackup<'_>, Error> {
    if bytes.len() > MAX_BACKUP_BYTES {
        return Err(damaged("larger than any backup kluis makes"));
    }
    if bytes.len() < MAGIC.len() + 5 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(damaged(
            "not a kluis backup (or cut short before its header)",
        ));
    }
    let version = bytes[MAGIC.len()];
    if version != BACKUP_FORMAT {
        return Err(damaged(format!(
            "backup format {version} is not supported (this kluis reads {BACKUP_FORMAT})"
        )));
    }
    let at = MAGIC.len() + 1;
    let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
    let start = at + 4;
    if len == 0 || len > MAX_HEADER {
        return Err(damaged("header length out of range"));
    }
    let end = start
        .checked_add(len)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| damaged("cut short inside its header"))?;
    let header: BackupHeader = serde_json::from_slice(&bytes[start..end])
        .map_err(|_| damaged("header is not readable"))?;
    let hex_id = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex_id(&header.wallet_id) || !hex_id(&header.backup_id) {
        return Err(damaged("header names no wallet or backup"));
    }
    let sealed = &bytes[end..];
    if sealed.len() < kluis_crypto::ENVELOPE_OVERHEAD {
        return Err(damaged("cut short: its contents are missing"));
    }
    Ok(ParsedBackup {
        header,
        aad: &bytes[..end],
        sealed,
    })
}

impl ParsedBackup<'_> {
    /// Derives the recovery key from `words`, opens the contents and checks them. A wrong
    /// secret is [`Error::WrongRecoverySecret`] (found before the data key is touched); contents
    /// that do not open or decode under the right secret, or whose audit chain is broken, are
    /// [`Error::BackupDamaged`].
    pub fn open(&self, words: &str) -> Result<OpenedBackup, Error> {
        let secret = RecoverySecret::from_words(words).map_err(|_| Error::InvalidInput {
            reason: "not a recovery secret: 12 words from the BIP-39 English list".into(),
        })?;
        let h = &self.header;
        let bad_header = || damaged("header values are not usable");
        let salt = STANDARD
            .decode(&h.salt)
            .ok()
            .and_then(|b| Salt::from_slice(&b))
            .ok_or_else(bad_header)?;
        let check = STANDARD.decode(&h.check).map_err(|_| bad_header())?;
        let wrapped = STANDARD.decode(&h.wrapped_dek).map_err(|_| bad_header())?;
        h.kdf
            .validate()
            .map_err(|e| damaged(format!("key derivation parameters refused: {e}")))?;
        let kek = RecoveryKek::derive(&secret, &salt, &h.kdf)
            .map_err(|e| damaged(format!("key derivation parameters refused: {e}")))?;
        if kek.check().as_slice() != check.as_slice() {
            return Err(Error::WrongRecoverySecret);
        }
        let dek = kek
            .unwrap_dek(&wrapped, &wrap_aad(&h.wallet_id, &h.kdf, &salt))
            .map_err(|_| damaged("its key header was changed"))?;
        let plain = BackupKey::derive(&dek)
            .open(self.sealed, self.aad)
            .map_err(|_| damaged("its contents or header were changed or cut short"))?;
        let contents = BackupContents {
            records: decode_records(&plain)?,
        };
        let plan = RestorePlan::of(&contents)?;
        Ok(OpenedBackup {
            dek,
            contents,
            plan,
        })
    }
}

/// The contents' encoding: record count (u32), then per record kind, id and the vault's
/// plaintext encoding, each length-prefixed (u32).
fn encode_records(records: &[PlainRecord]) -> Zeroizing<Vec<u8>> {
    let size: usize = records
        .iter()
        .map(|r| 12 + r.kind().len() + r.id().len() + r.encoded().len())
        .sum();
    // Sized once: a growing buffer would leave plaintext copies in freed memory.
    let mut out = Zeroizing::new(Vec::with_capacity(4 + size));
    out.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for r in records {
        push_framed(&mut out, r.kind().as_bytes());
        push_framed(&mut out, r.id().as_bytes());
        push_framed(&mut out, r.encoded());
    }
    out
}

fn decode_records(plain: &[u8]) -> Result<Vec<PlainRecord>, Error> {
    let bad = || damaged("its contents are not readable");
    let mut rest = plain;
    let mut take = |n: usize| -> Result<&[u8], Error> {
        if rest.len() < n {
            return Err(bad());
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Ok(a)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
    // Each record takes at least 12 bytes: a count beyond that is a lie, not an allocation.
    if count > plain.len() / 12 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut field = || -> Result<&[u8], Error> {
            let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
            take(n)
        };
        let kind = std::str::from_utf8(field()?)
            .map_err(|_| bad())?
            .to_string();
        let id = std::str::from_utf8(field()?)
            .map_err(|_| bad())?
            .to_string();
        let encoded = Zeroizing::new(field()?.to_vec());
        out.push(PlainRecord::from_encoded(&kind, &id, encoded).map_err(|_| bad())?);
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it, synced, renamed.
fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid_input("the backup path names no file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", Vault::new_record_id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Sealed, but still the citizen's whole wallet: readable by its owner only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(&e, "writing the backup"));
    }
    Ok(())
}

fn io_error(e: &std::io::Error, doing: &str) -> Error {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::StorageFull | K::FileTooLarge | K::QuotaExceeded => Error::StorageFull {
            what: doing.to_string(),
        },
        // EFBIG when a file size limit is hit (RLIMIT_FSIZE), on platforms where std does not
        // name it yet.
        _ if e.raw_os_error() == Some(27) => Error::StorageFull {
            what: doing.to_string(),
        },
        k => Error::Internal {
            reason: format!("{doing}: {k}"),
        },
    }
}

impl Wallet {
    /// Makes a new recovery secret and keeps the data key wrapped under it, so backups can be
    /// sealed later without it. Returns the 12 words, to show the citizen once. Argon2id runs
    /// with the vault's own parameters. A wallet that had one gets a new one (backups made before
    /// still open with the old words); the wallet id stays, so its backups still belong to it.
    pub fn make_recovery_secret(&self) -> Result<Zeroizing<String>, Error> {
        let kdf = self.vault.status()?.kdf;
        let wallet_id = match self.vault.get::<RecoveryRecord>(RECOVERY_ID)? {
            Some(r) => r.wallet_id,
            None => Vault::new_record_id(),
        };
        let secret = RecoverySecret::make();
        let salt = Salt::make();
        let kek = RecoveryKek::derive(&secret, &salt, &kdf).map_err(VaultError::from)?;
        let wrapped = self
            .vault
            .wrap_data_key(&kek, &wrap_aad(&wallet_id, &kdf, &salt))?;
        let now = now_unix();
        let record = RecoveryRecord {
            wallet_id,
            kdf,
            salt: STANDARD.encode(salt.0),
            check: STANDARD.encode(kek.check()),
            wrapped_dek: STANDARD.encode(wrapped),
            created_at: now,
        };
        self.vault.write(|tx| {
            tx.put(RECOVERY_ID, &record)?;
            audit::append(tx, now, Actor::Citizen, AuditEvent::RecoverySecretMade)?;
            Ok(())
        })?;
        Ok(secret.words())
    }

    /// Whether this wallet has a recovery secret (a wallet made before backups has none).
    pub fn has_recovery_secret(&self) -> Result<bool, Error> {
        Ok(self.vault.get::<RecoveryRecord>(RECOVERY_ID)?.is_some())
    }

    /// The backup file's bytes, and what is in it. Device-bound holder keys are left out.
    pub fn backup_bytes(&self) -> Result<(Vec<u8>, BackupInfo), Error> {
        let recovery = self
            .vault
            .get::<RecoveryRecord>(RECOVERY_ID)?
            .ok_or(Error::NoRecoverySecret)?;
        let mut records = Vec::new();
        let mut credentials = 0;
        let mut device_bound = 0;
        let mut device_keys = HashSet::new();
        let all = self.vault.export_records()?;
        for r in &all {
            if r.kind() == HolderKeyRecord::KIND
                && r.decode::<HolderKeyRecord>()?.location() == KeyLocation::Device
            {
                device_keys.insert(r.id().to_string());
            }
        }
        for r in all {
            if device_keys.contains(r.id()) && r.kind() == HolderKeyRecord::KIND {
                continue;
            }
            if r.kind() == StoredCredential::KIND {
                credentials += 1;
                let c = r.decode::<StoredCredential>()?;
                if c.holder_key_id
                    .as_ref()
                    .is_some_and(|k| device_keys.contains(k))
                {
                    device_bound += 1;
                }
            }
            records.push(r);
        }
        let header = BackupHeader {
            wallet_id: recovery.wallet_id.clone(),
            backup_id: Vault::new_record_id(),
            created_at: now_unix(),
            kdf: recovery.kdf,
            salt: recovery.salt.clone(),
            check: recovery.check.clone(),
            wrapped_dek: recovery.wrapped_dek.clone(),
        };
        let header_json = serde_json::to_vec(&header).map_err(|e| Error::Internal {
            reason: format!("backup header: {e}"),
        })?;
        let mut file = Vec::with_capacity(64 + header_json.len());
        file.extend_from_slice(MAGIC);
        file.push(BACKUP_FORMAT);
        push_framed(&mut file, &header_json);
        let plain = encode_records(&records);
        let sealed = self.vault.backup_key()?.seal(&plain, &file);
        file.extend_from_slice(&sealed);
        let info = BackupInfo {
            backup_id: header.backup_id,
            records: records.len(),
            credentials,
            device_bound,
            bytes: file.len(),
        };
        Ok((file, info))
    }

    /// Fuzzing only: a backup file of this wallet whose sealed contents are `plain` as given
    /// (not the vault's records), so a fuzz target reaches the decoder behind the AEAD.
    #[doc(hidden)]
    pub fn dangerous_backup_of_contents(&self, plain: &[u8]) -> Result<Vec<u8>, Error> {
        let (mut file, _) = self.backup_bytes()?;
        let len = u32::from_be_bytes([file[9], file[10], file[11], file[12]]) as usize;
        file.truncate(MAGIC.len() + 5 + len);
        let sealed = self.vault.backup_key()?.seal(plain, &file);
        file.extend_from_slice(&sealed);
        Ok(file)
    }

    /// Writes a backup to `path` (whole or not at all: an existing file there is replaced only
    /// by a complete backup) and logs it.
    pub fn backup(&self, path: &Path) -> Result<BackupInfo, Error> {
        let (bytes, info) = self.backup_bytes()?;
        write_file_atomically(path, &bytes)?;
        self.log_backup(&info)?;
        Ok(info)
    }

    /// Logs a backup the app wrote itself from [`Wallet::backup_bytes`].
    pub fn log_backup(&self, info: &BackupInfo) -> Result<(), Error> {
        self.vault.write(|tx| {
            audit::append(
                tx,
                now_unix(),
                Actor::Citizen,
                AuditEvent::BackupMade {
                    backup_id: info.backup_id.clone(),
                    credentials: info.credentials as u32,
                },
            )?;
            Ok(())
        })?;
        Ok(())
    }

    /// Restores a backup into `dir` on this device: a new vault (new device secret, `pin`,
    /// `opts`) around the backup's data key, holding every record of the backup and a
    /// "restored" entry at the end of its log, made complete before it appears. Credentials whose
    /// keys stayed on the old device are marked "needs re-issuance" and listed.
    ///
    /// Where a vault exists already: if it was restored from this very backup, nothing changes
    /// (`already_restored`); a vault of another wallet is [`Error::BackupOfAnotherWallet`]; any
    /// other vault of this wallet is [`Error::AlreadyExists`] (a restore never overwrites).
    pub fn restore(
        dir: &Path,
        device: Arc<dyn DeviceSecretStore>,
        backup: &[u8],
        words: &str,
        pin: &Pin,
        opts: VaultOptions,
    ) -> Result<(Wallet, RestoreReport), Error> {
        let parsed = parse_backup(backup)?;
        let OpenedBackup {
            dek,
            contents,
            plan,
        } = parsed.open(words)?;
        let header = parsed.header.clone();
        if Wallet::exists(dir) {
            return Self::restore_again(dir, device, &header, &plan, pin);
        }
        let mut report = plan.report(&header);
        let now = now_unix();
        let vault = Vault::create_restored(dir, pin, opts, device, dek, |tx| {
            for r in &contents.records {
                if plan.dropped_keys.contains(r.id()) && r.kind() == HolderKeyRecord::KIND {
                    continue;
                }
                if r.kind() == StoredCredential::KIND {
                    // Typed, so its summary is written too, with the re-issuance mark.
                    let mut c: StoredCredential = r.decode()?;
                    plan.mark(&mut c);
                    tx.put(r.id(), &c)?;
                } else {
                    tx.put_plain(r)?;
                }
            }
            tx.put(
                RESTORED_ID,
                &RestoredFrom {
                    backup_id: header.backup_id.clone(),
                    at: now,
                },
            )?;
            audit::append(
                tx,
                now,
                Actor::Citizen,
                AuditEvent::Restored {
                    backup_id: header.backup_id.clone(),
                    backup_made_at: header.created_at,
                    needs_reissuance: plan.reissue.iter().map(|r| r.id.clone()).collect(),
                },
            )?;
            Ok(())
        })?;
        let wallet = Wallet::from_vault(vault);
        // Refresh grants are only known once the vault is open.
        for r in &mut report.needs_reissuance {
            r.refreshable = wallet.has_refresh_grant(&r.id)?;
        }
        Ok((wallet, report))
    }

    fn restore_again(
        dir: &Path,
        device: Arc<dyn DeviceSecretStore>,
        header: &BackupHeader,
        plan: &RestorePlan,
        pin: &Pin,
    ) -> Result<(Wallet, RestoreReport), Error> {
        let wallet = Wallet::open(dir, device)?;
        wallet.unlock(pin)?;
        let here = wallet.vault.get::<RecoveryRecord>(RECOVERY_ID)?;
        if here.as_ref().map(|r| r.wallet_id.as_str()) != Some(header.wallet_id.as_str()) {
            return Err(Error::BackupOfAnotherWallet);
        }
        let from = wallet.vault.get::<RestoredFrom>(RESTORED_ID)?;
        if from.is_none_or(|f| f.backup_id != header.backup_id) {
            return Err(Error::AlreadyExists {
                what: "a vault of this wallet (a restore never overwrites it: wipe it first)"
                    .into(),
            });
        }
        let mut report = plan.report(header);
        report.already_restored = true;
        for r in &mut report.needs_reissuance {
            r.refreshable = wallet.has_refresh_grant(&r.id)?;
        }
        Ok((wallet, report))
    }
}

/// What a restore changes: the keys that travelled (software keys; a backup carries no device
/// key), and the credentials bound to keys that did not.
struct RestorePlan {
    /// Device keys found in the backup anyway: never restored (they would name keys this
    /// device's store does not have).
    dropped_keys: HashSet<String>,
    travelled_keys: HashSet<String>,
    reissue: Vec<Reissue>,
    credentials: usize,
    audit_entries: usize,
}

impl RestorePlan {
    fn of(contents: &BackupContents) -> Result<Self, Error> {
        let mut plan = RestorePlan {
            dropped_keys: HashSet::new(),
            travelled_keys: HashSet::new(),
            reissue: Vec::new(),
            credentials: 0,
            audit_entries: 0,
        };
        let mut entries: Vec<AuditEntry> = Vec::new();
        let mut head = None;
        for r in &contents.records {
            match r.kind() {
                k if k == HolderKeyRecord::KIND => {
                    if r.decode::<HolderKeyRecord>()
                        .map_err(unreadable)?
                        .location()
                        == KeyLocation::Device
                    {
                        plan.dropped_keys.insert(r.id().to_string());
                    } else {
                        plan.travelled_keys.insert(r.id().to_string());
                    }
                }
                k if k == AuditEntry::KIND => entries.push(r.decode().map_err(unreadable)?),
                k if k == audit::HEAD_KIND => {
                    head = Some(audit::decode_head(r).map_err(unreadable)?)
                }
                _ => {}
            }
        }
        // The chain must hold in the backup as it did in the vault.
        entries.sort_by_key(|e| e.seq);
        plan.audit_entries = entries.len();
        audit::verify_chain(entries, head).map_err(|_| damaged("its audit log chain is broken"))?;
        for r in &contents.records {
            if r.kind() == StoredCredential::KIND {
                plan.credentials += 1;
                let c: StoredCredential = r.decode().map_err(unreadable)?;
                if plan.key_stays_behind(&c) {
                    plan.reissue.push(Reissue {
                        id: r.id().to_string(),
                        issuer: c.issuer.clone(),
                        vct: c.vct.clone(),
                        refreshable: false,
                    });
                }
            }
        }
        Ok(plan)
    }

    /// Copy 0 is bound to a key the backup does not carry (`None` is the wallet key, which
    /// always travels).
    fn key_stays_behind(&self, c: &StoredCredential) -> bool {
        c.needs_reissuance
            || c.holder_key_id
                .as_ref()
                .is_some_and(|k| !self.travelled_keys.contains(k))
    }

    /// Marks a credential whose key stayed behind, and drops the batch copies whose keys did.
    fn mark(&self, c: &mut StoredCredential) {
        if self.key_stays_behind(c) {
            c.needs_reissuance = true;
        }
        c.copies
            .retain(|copy| self.travelled_keys.contains(&copy.holder_key_id));
    }

    fn report(&self, header: &BackupHeader) -> RestoreReport {
        RestoreReport {
            backup_id: header.backup_id.clone(),
            created_at: header.created_at,
            credentials: self.credentials,
            audit_entries: self.audit_entries,
            needs_reissuance: self.reissue.clone(),
            already_restored: false,
        }
    }
}
