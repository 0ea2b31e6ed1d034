//! [`Vault`]: create/open, unlock with the wrong-PIN guard, sealed records, wipe.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use kluis_crypto::{
    device_secret_check, DataKeys, Dek, Kek, Pin, Salt, SealKey, DEVICE_SECRET_MIN_LEN,
};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use zeroize::{Zeroize, Zeroizing};

use crate::plain::ZeroizingWriter;
use crate::policy::OnLimit;
use crate::schema::{self, FileSeal, Guard, Header, AAD_VERSION, FORMAT_VERSION};
use crate::summary_pages::{self, DirtyPages, Entry};
use crate::{
    DeviceSecretError, DeviceSecretStore, Listed, Record, RecordId, VaultError, VaultOptions,
    VaultStatus,
};

mod backup;
pub use backup::PlainRecord;

/// The database file inside the vault directory.
pub(crate) const DB_FILE: &str = "vault.sqlite3";
/// Files SQLite may keep beside it.
const SIDE_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

const CANARY_PLAINTEXT: &[u8] = b"kluis canary v1";
/// First byte of every record plaintext: how the rest is encoded. Inside the AEAD, so it is
/// authenticated and hidden; leaves room for compression later without a format break.
const ENCODING_JSON: u8 = 1;

/// How hard a commit is pushed to disk (SQLite `synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the WAL on every commit: a returned `put` survives power loss. The default.
    Full,
    /// fsync only at checkpoints: survives an app crash; the last commits may roll back on
    /// power loss (never corruption).
    Normal,
}

struct Inner {
    /// `None` after a wipe.
    conn: Option<Connection>,
    /// `Some` while unlocked; dropping it zeroizes the DEK and derived keys. Boxed, so moving
    /// a `Vault` (out of a `Result`, into an `Arc`) moves a pointer, not copies of the keys.
    keys: Option<Box<DataKeys>>,
    /// `Some` while unlocked: re-seals the file after each write (zeroized on lock).
    seal_key: Option<Box<SealKey>>,
    /// `get` opens records into this buffer (no allocation per get); all zero between gets.
    plain: Zeroizing<Vec<u8>>,
    vault_id: String,
}

/// An encrypted vault in one directory. `Send + Sync`: share it in an `Arc`.
/// Several `Vault`s (threads or processes) may open the same directory; SQLite serialises
/// their writes.
pub struct Vault {
    dir: PathBuf,
    device: Arc<dyn DeviceSecretStore>,
    inner: Mutex<Inner>,
}

/// An atomic multi-record write: everything done through it commits together or not at all.
pub struct WriteTxn<'a> {
    tx: rusqlite::Transaction<'a>,
    keys: &'a DataKeys,
    seal_key: &'a SealKey,
    /// Summary pages changed so far, sealed once each at the commit.
    pages: DirtyPages,
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn push_framed(buf: &mut Vec<u8>, part: &[u8]) {
    buf.extend_from_slice(&(part.len() as u32).to_be_bytes());
    buf.extend_from_slice(part);
}

/// Associated data of a record: table, kind, id and format version. A record moved to
/// another id or kind, or read by another format version, fails to open.
fn record_aad(kind: &str, id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + kind.len() + id.len());
    push_framed(&mut aad, b"kluis/record");
    push_framed(&mut aad, kind.as_bytes());
    push_framed(&mut aad, id.as_bytes());
    aad.extend_from_slice(&AAD_VERSION.to_be_bytes());
    aad
}

/// Associated data of the wrapped DEK: everything the KEK was derived with, and whether the
/// file is sealed. A sealed vault's DEK does not unwrap as an unsealed one, so removing the
/// seal (to make the vault look like a format-1 file whose policy is taken on trust) turns
/// every PIN, the right one too, into a wrong one: no guessing oracle.
fn dek_aad(h: &Header, sealed: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(112);
    push_framed(&mut aad, b"kluis/dek");
    push_framed(&mut aad, h.vault_id.as_bytes());
    aad.extend_from_slice(&AAD_VERSION.to_be_bytes());
    aad.extend_from_slice(&h.kdf.m_kib.to_be_bytes());
    aad.extend_from_slice(&h.kdf.t.to_be_bytes());
    aad.extend_from_slice(&h.kdf.p.to_be_bytes());
    aad.extend_from_slice(&h.salt.0);
    if sealed {
        push_framed(&mut aad, b"file-sealed");
    }
    aad
}

/// What the file seal covers: the plaintext fields of the header (key parameters, wrapped
/// DEK, policy), the wrong-PIN counter, the write sequence, and whether the device keeps this
/// vault's rollback counter (`counter_kept`). That flag is stored nowhere else: a seal made
/// with it verifies only with it, so it cannot be cleared to pass off a removed counter as a
/// vault from before the device kept one.
fn seal_parts(h: &Header, g: &Guard, seq: u64, counter_kept: bool) -> Vec<u8> {
    let p = &h.policy;
    let mut b = Vec::with_capacity(256);
    push_framed(&mut b, b"kluis/file-seal");
    push_framed(&mut b, h.vault_id.as_bytes());
    b.extend_from_slice(&AAD_VERSION.to_be_bytes());
    b.extend_from_slice(&h.kdf.m_kib.to_be_bytes());
    b.extend_from_slice(&h.kdf.t.to_be_bytes());
    b.extend_from_slice(&h.kdf.p.to_be_bytes());
    push_framed(&mut b, &h.salt.0);
    push_framed(&mut b, &h.device_check);
    push_framed(&mut b, &h.wrapped_dek);
    // The canary is left out: it is sealed under the data key already, and a foreign one is
    // reported as such (Corrupt) after the unwrap.
    match p.max_attempts {
        Some(m) => {
            b.push(1);
            b.extend_from_slice(&m.to_be_bytes());
        }
        None => b.push(0),
    }
    b.extend_from_slice(&p.free_attempts.to_be_bytes());
    b.extend_from_slice(&p.backoff_base_secs.to_be_bytes());
    b.extend_from_slice(&p.backoff_max_secs.to_be_bytes());
    push_framed(&mut b, p.on_limit.as_str().as_bytes());
    b.extend_from_slice(&g.failed.to_be_bytes());
    b.extend_from_slice(&g.last_failure_unix.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    // Absent from seals made before the flag existed, which therefore verify unchanged.
    if counter_kept {
        push_framed(&mut b, b"counter-kept");
    }
    b
}

fn make_seal(key: &SealKey, h: &Header, g: &Guard, seq: u64, counter_kept: bool) -> FileSeal {
    FileSeal {
        seq,
        mac: key.seal(&[&seal_parts(h, g, seq, counter_kept)]).to_vec(),
    }
}

/// A seal that verified: its write sequence, and whether it says the device keeps the vault's
/// rollback counter (a vault sealed without it predates the store's counter and adopts one).
#[derive(Clone, Copy)]
struct Sealed {
    seq: u64,
    counter_kept: bool,
}

/// What a new vault file starts with, around `dek` (a fresh one, or a restored one): its header
/// (the DEK wrapped under the PIN and device secret, the canary), the keys, and the first seal.
struct NewFile {
    header: Header,
    keys: DataKeys,
    seal_key: SealKey,
    seal: FileSeal,
}

fn new_file(
    pin: &Pin,
    opts: &VaultOptions,
    vault_id: &str,
    secret: &[u8],
    dek: Dek,
    counter_kept: bool,
) -> Result<NewFile, VaultError> {
    if secret.len() < DEVICE_SECRET_MIN_LEN {
        return Err(DeviceSecretError::TooShort.into());
    }
    let salt = Salt::make();
    let kek = Kek::derive(pin, &salt, &opts.kdf, secret)?;
    let keys = DataKeys::from_dek(dek);
    let mut header = Header {
        vault_id: vault_id.to_string(),
        kdf: opts.kdf,
        salt,
        device_check: device_secret_check(secret, vault_id).to_vec(),
        wrapped_dek: Vec::new(),
        canary: keys.seal(CANARY_PLAINTEXT, &canary_aad(vault_id)),
        policy: opts.policy,
    };
    header.wrapped_dek = kek.wrap_dek(keys.dek(), &dek_aad(&header, true));
    let seal_key = SealKey::derive(secret, vault_id)?;
    let guard = Guard {
        failed: 0,
        last_failure_unix: 0,
    };
    let seal = make_seal(&seal_key, &header, &guard, 1, counter_kept);
    Ok(NewFile {
        header,
        keys,
        seal_key,
        seal,
    })
}

/// The file's seal, checked against its header and counter. `None`: a format-1 vault not yet
/// sealed (the caller decides whether that is allowed).
fn check_seal(
    conn: &Connection,
    key: &SealKey,
    h: &Header,
    g: &Guard,
) -> Result<Option<Sealed>, VaultError> {
    let Some(seal) = schema::read_seal(conn)? else {
        return Ok(None);
    };
    // The flag is part of what the MAC covers, not of the row: whichever verifies says it.
    for counter_kept in [true, false] {
        if key.verify(&[&seal_parts(h, g, seal.seq, counter_kept)], &seal.mac) {
            return Ok(Some(Sealed {
                seq: seal.seq,
                counter_kept,
            }));
        }
    }
    Err(VaultError::Tampered(
        "the wrong-PIN policy, the attempt counter or the key header was changed outside kluis",
    ))
}

/// Inside a write transaction of an unlocked vault: check the seal and advance it by one write.
/// Returns the new sequence, to raise the device's counter to after the commit.
fn advance_seal(conn: &Connection, key: &SealKey) -> Result<u64, VaultError> {
    let h = schema::read_header(conn)?;
    let g = schema::read_guard(conn)?;
    let seal = check_seal(conn, key, &h, &g)?.ok_or(VaultError::Tampered(
        "the file's integrity seal was removed",
    ))?;
    let seq = seal.seq.saturating_add(1);
    // Unchanged: an unlock decides it (kept once the device keeps the counter).
    schema::write_seal(conn, &make_seal(key, &h, &g, seq, seal.counter_kept))?;
    Ok(seq)
}

fn canary_aad(vault_id: &str) -> Vec<u8> {
    let mut aad = Vec::new();
    push_framed(&mut aad, b"kluis/canary");
    push_framed(&mut aad, vault_id.as_bytes());
    aad
}

fn check_kind(kind: &str) -> Result<(), VaultError> {
    let ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(VaultError::InvalidKind)
    }
}

fn check_id(id: &str) -> Result<(), VaultError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(VaultError::InvalidId)
    }
}

fn encode<R: Record>(value: &R) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let mut w = ZeroizingWriter::with_capacity(4096);
    w.write_all(&[ENCODING_JSON])?;
    serde_json::to_writer(&mut w, value)?;
    Ok(w.into_inner())
}

fn decode<R: Record>(plain: &[u8]) -> Result<R, VaultError> {
    match plain.split_first() {
        Some((&ENCODING_JSON, json)) => Ok(serde_json::from_slice(json)?),
        _ => Err(VaultError::Encoding("unknown record encoding".into())),
    }
}

fn open_record<R: Record>(
    keys: &DataKeys,
    kind: &str,
    id: &str,
    sealed: &[u8],
    buf: &mut Zeroizing<Vec<u8>>,
) -> Result<R, VaultError> {
    keys.open_into(sealed, &record_aad(kind, id), buf)
        .map_err(|_| VaultError::Integrity {
            kind: kind.to_string(),
            id: id.to_string(),
        })?;
    let value = decode(buf);
    // Only the bytes used: the rest of the buffer was never written or was wiped before.
    buf.as_mut_slice().zeroize();
    buf.clear();
    value
}

// Record operations shared by `Vault` and `WriteTxn`.

fn put_sealed(conn: &Connection, kind: &str, id: &str, sealed: &[u8]) -> Result<i64, VaultError> {
    // Upsert keeps `seq`, so a replaced record keeps its place in insertion order.
    Ok(conn
        .prepare_cached(
            "INSERT INTO records (kind, id, sealed) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, id) DO UPDATE SET sealed = excluded.sealed RETURNING seq",
        )?
        .query_row(params![kind, id, sealed], |r| r.get(0))?)
}

/// Seal and store a record in the caller's transaction; its summary, when its type has one,
/// goes into the transaction's summary pages.
fn put_record<R: Record>(
    conn: &Connection,
    keys: &DataKeys,
    pages: &mut DirtyPages,
    id: &str,
    value: &R,
) -> Result<(), VaultError> {
    check_kind(R::KIND)?;
    check_id(id)?;
    let plain = encode(value)?;
    let sealed = keys.seal(&plain, &record_aad(R::KIND, id));
    let seq = put_sealed(conn, R::KIND, id, &sealed)?;
    let summary = value.summary().map(|s| Entry::of(&s)).transpose()?;
    pages.set(conn, keys, R::KIND, seq, summary)
}

fn get_in<R: Record>(
    conn: &Connection,
    keys: &DataKeys,
    id: &str,
    buf: &mut Zeroizing<Vec<u8>>,
) -> Result<Option<R>, VaultError> {
    check_kind(R::KIND)?;
    check_id(id)?;
    let mut stmt = conn.prepare_cached("SELECT sealed FROM records WHERE kind = ?1 AND id = ?2")?;
    let mut rows = stmt.query(params![R::KIND, id])?;
    match rows.next()? {
        None => Ok(None),
        Some(row) => {
            let sealed = row
                .get_ref(0)?
                .as_blob()
                .map_err(|_| VaultError::Integrity {
                    kind: R::KIND.to_string(),
                    id: id.to_string(),
                })?;
            open_record(keys, R::KIND, id, sealed, buf).map(Some)
        }
    }
}

fn list_in<R: Record>(conn: &Connection, keys: &DataKeys) -> Result<Listed<R>, VaultError> {
    check_kind(R::KIND)?;
    let mut stmt =
        conn.prepare_cached("SELECT id, sealed FROM records WHERE kind = ?1 ORDER BY seq")?;
    let mut rows = stmt.query(params![R::KIND])?;
    let mut out = Vec::new();
    let mut buf = Zeroizing::new(Vec::new());
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let value = match row.get_ref(1)?.as_blob() {
            Ok(sealed) => open_record(keys, R::KIND, &id, sealed, &mut buf),
            Err(_) => Err(VaultError::Integrity {
                kind: R::KIND.to_string(),
                id: id.clone(),
            }),
        };
        out.push((id, value));
    }
    Ok(out)
}

fn delete_in(
    conn: &Connection,
    keys: &DataKeys,
    pages: &mut DirtyPages,
    kind: &str,
    id: &str,
) -> Result<bool, VaultError> {
    check_kind(kind)?;
    check_id(id)?;
    let seq: Option<i64> = conn
        .prepare_cached("DELETE FROM records WHERE kind = ?1 AND id = ?2 RETURNING seq")?
        .query_row(params![kind, id], |r| r.get(0))
        .optional()?;
    if let Some(seq) = seq {
        pages.set(conn, keys, kind, seq, None)?;
    }
    Ok(seq.is_some())
}

impl WriteTxn<'_> {
    /// Insert or replace a record (committed with the whole transaction).
    pub fn put<R: Record>(&mut self, id: &str, value: &R) -> Result<(), VaultError> {
        put_record(&self.tx, self.keys, &mut self.pages, id, value)
    }

    /// Delete a record; `true` if it existed.
    pub fn delete<R: Record>(&mut self, id: &str) -> Result<bool, VaultError> {
        delete_in(&self.tx, self.keys, &mut self.pages, R::KIND, id)
    }

    /// Read a record inside the transaction (sees this transaction's own writes).
    pub fn get<R: Record>(&self, id: &str) -> Result<Option<R>, VaultError> {
        get_in(&self.tx, self.keys, id, &mut Zeroizing::new(Vec::new()))
    }

    /// List a kind inside the transaction, in insertion order (e.g. to extend a hash chain
    /// atomically).
    pub fn list<R: Record>(&self) -> Result<Listed<R>, VaultError> {
        list_in(&self.tx, self.keys)
    }
}

impl Vault {
    /// Create a vault in `dir` and return it unlocked. `AlreadyExists` if `dir` has one.
    ///
    /// The file is built under a temporary name and linked into place only when complete,
    /// so a crash during creation never leaves a half-made vault.
    pub fn create(
        dir: &Path,
        pin: &Pin,
        opts: VaultOptions,
        device: Arc<dyn DeviceSecretStore>,
    ) -> Result<Vault, VaultError> {
        opts.kdf.validate()?;
        opts.policy.validate().map_err(VaultError::InvalidPolicy)?;
        if Self::exists(dir) {
            return Err(VaultError::AlreadyExists);
        }
        create_private_dir(dir)?;
        let vault_id = hex::encode(random_16());
        let secret = device.device_secret(&vault_id)?;
        let made = Self::create_inner(dir, pin, opts, &vault_id, &secret, device.as_ref());
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
                plain: Zeroizing::new(Vec::new()),
                vault_id,
            }),
        })
    }

    #[inline(never)]
    fn create_inner(
        dir: &Path,
        pin: &Pin,
        opts: VaultOptions,
        vault_id: &str,
        secret: &[u8],
        device: &dyn DeviceSecretStore,
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
            Dek::make(),
            device.keeps_rollback_counter(),
        )?;

        let tmp = dir.join(format!(".{DB_FILE}.creating-{}", hex::encode(random_16())));
        let result = schema::create_file(&tmp, &header, &seal).and_then(|()| {
            // The counter first: a vault file in place always has its counter, so a missing
            // counter later means someone removed it.
            device.raise_rollback_counter(vault_id, seal.seq)?;
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

    /// Open the vault in `dir`, locked. `NotFound` if there is none; `Corrupt` if the file is
    /// not a readable vault.
    pub fn open(dir: &Path, device: Arc<dyn DeviceSecretStore>) -> Result<Vault, VaultError> {
        if !Self::exists(dir) {
            return Err(VaultError::NotFound);
        }
        let db = db_path(dir);
        // Vaults made before files were created private.
        schema::make_private(dir)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db.clone().into_os_string();
            p.push(suffix);
            schema::make_private(Path::new(&p))?;
        }
        let conn = schema::open_file(&db)?;
        let header = schema::read_header(&conn)?;
        Ok(Vault {
            dir: dir.to_path_buf(),
            device,
            inner: Mutex::new(Inner {
                conn: Some(conn),
                keys: None,
                seal_key: None,
                plain: Zeroizing::new(Vec::new()),
                vault_id: header.vault_id,
            }),
        })
    }

    /// Is there a vault file in `dir`?
    pub fn exists(dir: &Path) -> bool {
        db_path(dir).is_file()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic in a caller's `write` closure poisons the mutex; the transaction was rolled
        // back by then, so the state is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unlock with the PIN. Wrong PINs are counted in the file and met with growing waits;
    /// at the policy's limit the vault is wiped or locked for good.
    pub fn unlock(&self, pin: &Pin) -> Result<(), VaultError> {
        let result = self.unlock_keys(pin);
        // Key copies moved through the frames below must not outlive `lock()`.
        kluis_crypto::scrub_stack();
        result
    }

    #[inline(never)]
    fn unlock_keys(&self, pin: &Pin) -> Result<(), VaultError> {
        let (_, keys, seal_key) = self.verify_pin(pin)?;
        let mut g = self.inner();
        g.keys = Some(Box::new(keys));
        g.seal_key = Some(Box::new(seal_key));
        Ok(())
    }

    /// Drop the DEK and every key derived from it (zeroized).
    pub fn lock(&self) {
        let mut g = self.inner();
        g.keys = None;
        g.seal_key = None;
    }

    /// Is the data key in memory?
    pub fn is_unlocked(&self) -> bool {
        self.inner().keys.is_some()
    }

    /// Check `old`, then rewrap the same DEK under a key derived from `new` with a fresh salt,
    /// in one transaction. Records are not touched. Counts as a PIN attempt; leaves the vault
    /// unlocked.
    pub fn change_pin(&self, old: &Pin, new: &Pin) -> Result<(), VaultError> {
        let result = self.change_pin_keys(old, new);
        kluis_crypto::scrub_stack();
        result
    }

    #[inline(never)]
    fn change_pin_keys(&self, old: &Pin, new: &Pin) -> Result<(), VaultError> {
        let (header, keys, seal_key) = self.verify_pin(old)?;
        let secret = self.device_secret(&header.vault_id)?;
        let mut next = header.clone();
        next.salt = Salt::make();
        let kek = Kek::derive(new, &next.salt, &next.kdf, &secret)?;
        next.wrapped_dek = kek.wrap_dek(keys.dek(), &dek_aad(&next, true));
        let mut g = self.inner();
        let conn = g.conn.as_mut().ok_or(VaultError::Wiped)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = schema::read_header(&tx)?;
        let guard = schema::read_guard(&tx)?;
        let seal = check_seal(&tx, &seal_key, &now, &guard)?.ok_or(VaultError::Tampered(
            "the file's integrity seal was removed",
        ))?;
        // Only rewrap what we verified: if another process changed the PIN meanwhile, stop.
        if now.wrapped_dek != header.wrapped_dek {
            return Err(VaultError::Busy);
        }
        tx.execute(
            "UPDATE header SET salt = ?1, wrapped_dek = ?2 WHERE singleton = 1",
            params![next.salt.0.as_slice(), next.wrapped_dek],
        )?;
        let seq = seal.seq.saturating_add(1);
        schema::write_seal(
            &tx,
            &make_seal(&seal_key, &next, &guard, seq, seal.counter_kept),
        )?;
        tx.commit()?;
        g.keys = Some(Box::new(keys));
        g.seal_key = Some(Box::new(seal_key));
        let vault_id = g.vault_id.clone();
        drop(g);
        self.raise_counter(&vault_id, seq);
        Ok(())
    }

    fn device_secret(&self, vault_id: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let secret = self.device.device_secret(vault_id)?;
        if secret.len() < DEVICE_SECRET_MIN_LEN {
            return Err(DeviceSecretError::TooShort.into());
        }
        Ok(secret)
    }

    /// Raise the device's rollback counter after a commit. Best effort: a counter that lags
    /// the file only weakens the rollback check, and the commit has happened.
    fn raise_counter(&self, vault_id: &str, seq: u64) {
        let _ = self.device.raise_rollback_counter(vault_id, seq);
    }

    /// The attempt-guarded PIN check shared by `unlock` and `change_pin`. Before any attempt
    /// is evaluated, the file seal must match (policy, counter, header unedited) and the file
    /// must not be older than the device's rollback counter.
    fn verify_pin(&self, pin: &Pin) -> Result<(Header, DataKeys, SealKey), VaultError> {
        let vault_id = {
            let g = self.inner();
            if g.conn.is_none() {
                // Wiped: do not ask the key store, which would make a fresh secret.
                return Err(VaultError::Wiped);
            }
            g.vault_id.clone()
        };
        // The platform key store may prompt the user: do not hold the database meanwhile.
        let secret = self.device_secret(&vault_id)?;
        let seal_key = SealKey::derive(&secret, &vault_id)?;
        let counter = self.device.rollback_counter(&vault_id)?;
        let keeps = self.device.keeps_rollback_counter();
        let now = unix_now();

        // Gate and count the attempt *before* the slow derivation, in one write transaction.
        let (header, failed_before, sealed, counted_seq) = {
            let mut g = self.inner();
            let conn = g.conn.as_mut().ok_or(VaultError::Wiped)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let header = schema::read_header(&tx)?;
            let guard = schema::read_guard(&tx)?;
            if device_secret_check(&secret, &header.vault_id).as_slice()
                != header.device_check.as_slice()
            {
                return Err(VaultError::DeviceKeyMismatch);
            }
            let seal = check_seal(&tx, &seal_key, &header, &guard)?;
            match (&seal, counter) {
                (Some(s), Some(c)) if s.seq < c => {
                    return Err(VaultError::RolledBack {
                        file_seq: s.seq,
                        device_seq: c,
                    })
                }
                (Some(s), None) if keeps && s.counter_kept => {
                    return Err(VaultError::Tampered(
                        "the device's rollback counter for this vault is missing",
                    ))
                }
                // Sealed before the device kept a counter for it (an app whose key store
                // gained one): the counter is taken up at this attempt, from the file's own
                // sequence, and the seals from here on say so.
                (Some(_), None) => {}
                // Counter 0 and no seal: a format-1 vault whose first seal was interrupted (the
                // counter is set to 0 just before that seal is committed; a vault that was ever
                // sealed has a counter of at least 1). Still unsealed, as before.
                (None, Some(0)) => {}
                // A counter, but no seal: the seal was removed from a sealed vault.
                (None, Some(_)) => {
                    return Err(VaultError::Tampered(
                        "the file's integrity seal was removed",
                    ))
                }
                // No seal and no counter: a format-1 vault, sealed at this unlock.
                _ => {}
            }
            let policy = header.policy;
            if policy.max_attempts.is_some_and(|max| guard.failed >= max) {
                drop(tx);
                return Err(self.apply_limit(&mut g, policy.on_limit));
            }
            let wait = policy.retry_after(guard.failed, guard.last_failure_unix, now);
            if wait > 0 {
                return Err(VaultError::LockedOut {
                    retry_after_secs: wait,
                });
            }
            tx.execute(
                "UPDATE pin_guard SET failed_attempts = failed_attempts + 1, last_failure_unix = ?1 WHERE singleton = 1",
                params![now],
            )?;
            let counted_seq = match &seal {
                Some(s) => {
                    let counted = schema::read_guard(&tx)?;
                    let seq = s.seq.saturating_add(1);
                    // Kept only once the counter exists: it is raised after this commit.
                    let kept = keeps && counter.is_some();
                    schema::write_seal(&tx, &make_seal(&seal_key, &header, &counted, seq, kept))?;
                    Some(seq)
                }
                None => None,
            };
            tx.commit()?;
            (header, guard.failed, seal.is_some(), counted_seq)
        };
        // Binds the counted attempt: putting back a copy from before it is a rollback.
        if let Some(seq) = counted_seq {
            self.device.raise_rollback_counter(&vault_id, seq)?;
        }

        let kek = Kek::derive(pin, &header.salt, &header.kdf, &secret)?;

        let mut g = self.inner();
        match kek.unwrap_dek(&header.wrapped_dek, &dek_aad(&header, sealed)) {
            Ok(dek) => {
                let keys = Self::check_canary(dek, &header)?;
                let conn = g.conn.as_mut().ok_or(VaultError::Wiped)?;
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut current = schema::read_header(&tx)?;
                if current.wrapped_dek != header.wrapped_dek {
                    // The PIN was changed by another handle meanwhile.
                    return Err(VaultError::Busy);
                }
                let guard = schema::read_guard(&tx)?;
                let seal = check_seal(&tx, &seal_key, &current, &guard)?;
                let base = match (&seal, sealed) {
                    (Some(s), _) => s.seq,
                    (None, true) => {
                        return Err(VaultError::Tampered(
                            "the file's integrity seal was removed",
                        ))
                    }
                    (None, false) => {
                        // Format 1 -> 2: rewrap the DEK as sealed, in the same transaction
                        // as the first seal.
                        current.wrapped_dek = kek.wrap_dek(keys.dek(), &dek_aad(&current, true));
                        tx.execute(
                            "UPDATE header SET wrapped_dek = ?1 WHERE singleton = 1",
                            params![current.wrapped_dek],
                        )?;
                        // Crash-safe first seal: counter 0 before the commit, seal 1 in it, so a
                        // kill in between leaves (no seal, 0) or (seal 1, counter 0), both of
                        // which open; never a seal without its counter.
                        if counter.is_none() {
                            self.device.raise_rollback_counter(&vault_id, 0)?;
                        }
                        counter.unwrap_or(0)
                    }
                };
                tx.execute(
                    "UPDATE pin_guard SET failed_attempts = 0, last_failure_unix = 0 WHERE singleton = 1",
                    [],
                )?;
                let reset = Guard {
                    failed: 0,
                    last_failure_unix: 0,
                };
                let seq = base.saturating_add(1);
                // The counter exists by now when the device keeps one (raised after the
                // counted attempt, or to 0 above): from here the seal says it is kept.
                schema::write_seal(&tx, &make_seal(&seal_key, &current, &reset, seq, keeps))?;
                tx.commit()?;
                drop(g);
                self.device.raise_rollback_counter(&vault_id, seq)?;
                Ok((current, keys, seal_key))
            }
            Err(_) => {
                let failed = failed_before.saturating_add(1);
                let policy = header.policy;
                if policy.max_attempts.is_some_and(|max| failed >= max) {
                    return Err(self.apply_limit(&mut g, policy.on_limit));
                }
                Err(VaultError::WrongPin {
                    attempts_left: policy.attempts_left(failed),
                    retry_after_secs: policy.backoff_secs(failed),
                })
            }
        }
    }

    /// The canary proves the unwrapped DEK is the one the records were sealed with.
    fn check_canary(dek: Dek, header: &Header) -> Result<DataKeys, VaultError> {
        let keys = DataKeys::from_dek(dek);
        match keys.open(&header.canary, &canary_aad(&header.vault_id)) {
            Ok(p) if p.as_slice() == CANARY_PLAINTEXT => Ok(keys),
            _ => Err(VaultError::Corrupt(
                "canary does not open with the data key".into(),
            )),
        }
    }

    fn apply_limit(&self, g: &mut Inner, on_limit: OnLimit) -> VaultError {
        match on_limit {
            OnLimit::Lockout => VaultError::LockedPermanently,
            OnLimit::Wipe => match self.wipe_inner(g) {
                Ok(()) => VaultError::Wiped,
                Err(e) => e,
            },
        }
    }

    /// Destroy the key material first (header in the file, then the device secret), then
    /// delete the files: even a wipe interrupted halfway leaves nothing decryptable.
    fn wipe_inner(&self, g: &mut Inner) -> Result<(), VaultError> {
        g.keys = None;
        let mut first_err: Option<VaultError> = None;
        if let Some(conn) = g.conn.take() {
            if let Err(e) = conn.execute(
                "UPDATE header SET wrapped_dek = zeroblob(length(wrapped_dek)), canary = zeroblob(length(canary))",
                [],
            ) {
                first_err.get_or_insert(e.into());
            }
            let _ = conn.close();
        }
        if let Err(e) = self.device.delete_device_secret(&g.vault_id) {
            first_err.get_or_insert(e.into());
        }
        let db = db_path(&self.dir);
        let mut paths = vec![db.clone()];
        for s in SIDE_SUFFIXES {
            let mut p = db.clone().into_os_string();
            p.push(s);
            paths.push(PathBuf::from(p));
        }
        for p in paths {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_err.get_or_insert(e.into());
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Delete the vault: database, WAL, shared-memory file and the device secret.
    pub fn wipe(self) -> Result<(), VaultError> {
        let mut g = self.inner();
        self.wipe_inner(&mut g)
    }

    /// Lock state, stored parameters, the wrong-PIN counter and record counts per kind.
    /// Works while locked.
    pub fn status(&self) -> Result<VaultStatus, VaultError> {
        let g = self.inner();
        let conn = g.conn.as_ref().ok_or(VaultError::Wiped)?;
        let header = schema::read_header(conn)?;
        let guard = schema::read_guard(conn)?;
        let mut record_counts = std::collections::BTreeMap::new();
        let mut stmt = conn.prepare_cached("SELECT kind, COUNT(*) FROM records GROUP BY kind")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            record_counts.insert(
                row.get::<_, String>(0)?,
                u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
            );
        }
        let policy = header.policy;
        Ok(VaultStatus {
            unlocked: g.keys.is_some(),
            vault_id: header.vault_id,
            format_version: FORMAT_VERSION,
            kdf: header.kdf,
            policy,
            failed_attempts: guard.failed,
            attempts_left: policy.attempts_left(guard.failed),
            retry_after_secs: policy.retry_after(guard.failed, guard.last_failure_unix, unix_now()),
            record_counts,
        })
    }

    /// Insert or replace a record; returns after the commit.
    pub fn put<R: Record>(&self, id: &str, value: &R) -> Result<(), VaultError> {
        let mut g = self.inner();
        let Inner {
            conn,
            keys,
            seal_key,
            vault_id,
            ..
        } = &mut *g;
        let conn = conn.as_mut().ok_or(VaultError::Wiped)?;
        let keys = keys.as_ref().ok_or(VaultError::Locked)?;
        let seal_key = seal_key.as_ref().ok_or(VaultError::Locked)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut pages = DirtyPages::default();
        put_record(&tx, keys, &mut pages, id, value)?;
        pages.flush(&tx, keys)?;
        let seq = advance_seal(&tx, seal_key)?;
        tx.commit()?;
        let vault_id = vault_id.clone();
        drop(g);
        self.raise_counter(&vault_id, seq);
        Ok(())
    }

    /// Read one record. `Integrity` if it fails to open.
    pub fn get<R: Record>(&self, id: &str) -> Result<Option<R>, VaultError> {
        let mut g = self.inner();
        let Inner {
            conn, keys, plain, ..
        } = &mut *g;
        let conn = conn.as_ref().ok_or(VaultError::Wiped)?;
        let keys = keys.as_ref().ok_or(VaultError::Locked)?;
        get_in(conn, keys, id, plain)
    }

    /// All records of a kind, in insertion order. A record that fails to open is an `Err`
    /// in its slot; it does not hide the others.
    pub fn list<R: Record>(&self) -> Result<Listed<R>, VaultError> {
        let g = self.inner();
        let conn = g.conn.as_ref().ok_or(VaultError::Wiped)?;
        let keys = g.keys.as_ref().ok_or(VaultError::Locked)?;
        list_in(conn, keys)
    }

    /// The summaries ([`Record::summary`]) of every record of `kind`, in insertion order,
    /// without opening the records themselves. `None` when some record of the kind has no
    /// summary (a vault written before summaries: call [`Vault::rebuild_summaries`]).
    pub fn list_summaries<S: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
    ) -> Result<Option<Listed<S>>, VaultError> {
        let g = self.inner();
        let conn = g.conn.as_ref().ok_or(VaultError::Wiped)?;
        let keys = g.keys.as_ref().ok_or(VaultError::Locked)?;
        check_kind(kind)?;
        summary_pages::list(conn, keys, kind)
    }

    /// Write the summary of every record of `R` that opens, in one transaction (the migration
    /// of a vault written before summaries: a crash leaves it as it was). Returns how many.
    pub fn rebuild_summaries<R: Record>(&self) -> Result<usize, VaultError> {
        self.write(|tx| {
            // From nothing: entries of records no longer there do not survive.
            tx.pages.clear(&tx.tx, R::KIND)?;
            let mut n = 0;
            for (id, r) in list_in::<R>(&tx.tx, tx.keys)? {
                if let Ok(value) = r {
                    put_record(&tx.tx, tx.keys, &mut tx.pages, &id, &value)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// Delete a record; `true` if it existed.
    pub fn delete<R: Record>(&self, id: &str) -> Result<bool, VaultError> {
        let mut g = self.inner();
        let Inner {
            conn,
            keys,
            seal_key,
            vault_id,
            ..
        } = &mut *g;
        let conn = conn.as_mut().ok_or(VaultError::Wiped)?;
        let keys = keys.as_ref().ok_or(VaultError::Locked)?;
        let seal_key = seal_key.as_ref().ok_or(VaultError::Locked)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut pages = DirtyPages::default();
        let existed = delete_in(&tx, keys, &mut pages, R::KIND, id)?;
        pages.flush(&tx, keys)?;
        let seq = advance_seal(&tx, seal_key)?;
        tx.commit()?;
        let vault_id = vault_id.clone();
        drop(g);
        self.raise_counter(&vault_id, seq);
        Ok(existed)
    }

    /// Run `f` in one write transaction: all its puts and deletes commit together, or none
    /// does if it returns an error.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut WriteTxn<'_>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let mut g = self.inner();
        let Inner {
            conn,
            keys,
            seal_key,
            vault_id,
            ..
        } = &mut *g;
        let vault_id = vault_id.clone();
        let conn = conn.as_mut().ok_or(VaultError::Wiped)?;
        let keys = keys.as_ref().ok_or(VaultError::Locked)?;
        let seal_key = seal_key.as_ref().ok_or(VaultError::Locked)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut txn = WriteTxn {
            tx,
            keys,
            seal_key,
            pages: DirtyPages::default(),
        };
        let out = f(&mut txn)?;
        txn.pages.flush(&txn.tx, txn.keys)?;
        let seq = advance_seal(&txn.tx, txn.seal_key)?;
        txn.tx.commit()?;
        self.raise_counter(&vault_id, seq);
        Ok(out)
    }

    /// A stable opaque id for a natural key (e.g. an issuer id): HMAC-SHA256 under a key
    /// derived from the DEK, so the natural key itself is never stored. Needs the vault
    /// unlocked.
    pub fn lookup_id(&self, kind: &str, natural_key: &str) -> Result<RecordId, VaultError> {
        check_kind(kind)?;
        let g = self.inner();
        let keys = g.keys.as_ref().ok_or(VaultError::Locked)?;
        let tag = keys.lookup_tag(&[b"lookup-id", kind.as_bytes(), natural_key.as_bytes()]);
        Ok(hex::encode(&tag[..16]))
    }

    /// A fresh random record id (32 hex characters, same shape as lookup ids).
    pub fn new_record_id() -> RecordId {
        hex::encode(random_16())
    }

    /// Benchmarks only: derive the KEK for `pin` (the slow Argon2id step) without counting an
    /// attempt, so that the rest of unlock can be measured alone.
    #[doc(hidden)]
    pub fn dangerous_derive_kek(&self, pin: &Pin) -> Result<Kek, VaultError> {
        let header = {
            let g = self.inner();
            schema::read_header(g.conn.as_ref().ok_or(VaultError::Wiped)?)?
        };
        let secret = self.device_secret(&header.vault_id)?;
        Ok(Kek::derive(pin, &header.salt, &header.kdf, &secret)?)
    }

    /// Memory tests only: the Argon2id output and KEK bytes for `pin` with the stored salt and
    /// parameters (not counted as an attempt), to search a memory dump for them.
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    pub fn dangerous_derive_kek_bytes(
        &self,
        pin: &Pin,
    ) -> Result<(Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>), VaultError> {
        let header = {
            let g = self.inner();
            schema::read_header(g.conn.as_ref().ok_or(VaultError::Wiped)?)?
        };
        let secret = self.device_secret(&header.vault_id)?;
        Ok(Kek::dangerous_derive_bytes(
            pin,
            &header.salt,
            &header.kdf,
            &secret,
        )?)
    }

    /// Benchmarks only: unlock with an already derived KEK (read header, unwrap DEK, canary).
    /// Not counted as a PIN attempt.
    #[doc(hidden)]
    pub fn dangerous_unlock_with_kek(&self, kek: &Kek) -> Result<(), VaultError> {
        let mut g = self.inner();
        let conn = g.conn.as_ref().ok_or(VaultError::Wiped)?;
        let header = schema::read_header(conn)?;
        let sealed = schema::read_seal(conn)?.is_some();
        let dek = kek
            .unwrap_dek(&header.wrapped_dek, &dek_aad(&header, sealed))
            .map_err(|_| VaultError::WrongPin {
                attempts_left: None,
                retry_after_secs: 0,
            })?;
        g.keys = Some(Box::new(Self::check_canary(dek, &header)?));
        let secret = self.device.device_secret(&header.vault_id)?;
        g.seal_key = Some(Box::new(SealKey::derive(&secret, &header.vault_id)?));
        Ok(())
    }

    /// Fuzzing and tests only: store `bytes` under (`kind`, `id`) as they are (`seal` false:
    /// they are taken as the sealed envelope, as if the file had been edited) or sealed as the
    /// record's plaintext encoding (`seal` true: as if a buggy writer had stored them), so that
    /// `get`/`list` decode outside input. Needs the vault unlocked.
    #[doc(hidden)]
    pub fn dangerous_put_raw(
        &self,
        kind: &str,
        id: &str,
        bytes: &[u8],
        seal: bool,
    ) -> Result<(), VaultError> {
        check_kind(kind)?;
        check_id(id)?;
        let mut g = self.inner();
        let Inner {
            conn,
            keys,
            seal_key,
            ..
        } = &mut *g;
        let keys = keys.as_ref().ok_or(VaultError::Locked)?;
        let seal_key = seal_key.as_ref().ok_or(VaultError::Locked)?;
        let conn = conn.as_mut().ok_or(VaultError::Wiped)?;
        let sealed = if seal {
            keys.seal(bytes, &record_aad(kind, id))
        } else {
            bytes.to_vec()
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = put_sealed(&tx, kind, id, &sealed)?;
        // As if written by a version without summaries: the raw bytes have none.
        let mut pages = DirtyPages::default();
        pages.set(&tx, keys, kind, seq, None)?;
        pages.flush(&tx, keys)?;
        advance_seal(&tx, seal_key)?;
        tx.commit()?;
        Ok(())
    }

    /// Memory tests only: a copy of the data key's bytes, to search a memory dump for them
    /// after `lock()`. The copy is the caller's to zeroize.
    #[doc(hidden)]
    pub fn dangerous_dek_bytes(&self) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let g = self.inner();
        let keys = g.keys.as_ref().ok_or(VaultError::Locked)?;
        Ok(keys.dek().dangerous_bytes())
    }

    /// Benchmarks and tests: change how hard commits are synced for this handle.
    #[doc(hidden)]
    pub fn dangerous_set_durability(&self, d: Durability) -> Result<(), VaultError> {
        let g = self.inner();
        let conn = g.conn.as_ref().ok_or(VaultError::Wiped)?;
        let v = match d {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", v)?;
        Ok(())
    }

    /// Benchmarks only: how much of the file this handle maps (0: none), to measure the map.
    #[doc(hidden)]
    pub fn dangerous_set_mmap_size(&self, bytes: u64) -> Result<(), VaultError> {
        let g = self.inner();
        let conn = g.conn.as_ref().ok_or(VaultError::Wiped)?;
        conn.query_row(&format!("PRAGMA mmap_size = {bytes}"), [], |_| Ok(()))
            .optional()?;
        Ok(())
    }

    /// Checkpoint the WAL into the main file (also done automatically by SQLite).
    pub fn checkpoint(&self) -> Result<(), VaultError> {
        let g = self.inner();
        let conn = g.conn.as_ref().ok_or(VaultError::Wiped)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .optional()?;
        Ok(())
    }
}

/// Create the vault directory readable by its owner only (0700 on Unix); an existing one is
/// left as it is.
fn create_private_dir(dir: &Path) -> Result<(), VaultError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    Ok(())
}

fn random_16() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_kind("credential").is_ok());
        assert!(check_kind("holder_key").is_ok());
        assert_eq!(check_kind(""), Err(VaultError::InvalidKind));
        assert_eq!(check_kind("Credential"), Err(VaultError::InvalidKind));
        assert!(check_id(&Vault::new_record_id()).is_ok());
        assert_eq!(check_id("a b"), Err(VaultError::InvalidId));
        assert_eq!(check_id(&"a".repeat(129)), Err(VaultError::InvalidId));
    }

    #[test]
    fn aad_is_framed() {
        assert_ne!(record_aad("ab", "c"), record_aad("a", "bc"));
    }
}
