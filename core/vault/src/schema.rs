//! The SQLite file: one initializer for creating and opening, the schema, the header row.
//!
//! Layout choices (measured, see docs/VAULT.md):
//! - `page_size = 16384`: a sealed ~2 KB record fits 7 to a page instead of 1 per 4 KiB page,
//!   which keeps the file near 1.1x the plaintext without compression.
//! - WAL with `synchronous = FULL`: a `put` that returned survives power loss, not only an
//!   app crash. Readers never block the writer.
//! - `busy_timeout`: a second process waits for the writer instead of failing at once; past
//!   the timeout the caller gets `VaultError::Busy`.

use std::path::Path;
use std::time::Duration;

use kluis_crypto::{KdfParams, Salt};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::policy::{OnLimit, VaultPolicy};
use crate::VaultError;

/// File format version (`PRAGMA user_version`). 1: no file seal; 2: `file_seal` table;
/// 3: `summaries` table (one envelope per record); 4: `summary_pages` instead (128 records of
/// JSON to a page); 5: the same table, pages of 32 records in a compact encoding.
/// Older versions are migrated in place on open.
pub(crate) const FORMAT_VERSION: u32 = 5;
/// Version of the associated-data layout bound into every record and the DEK wrap, and of the
/// header row (its `format` column). Unchanged by the file migrations, so records stay valid.
pub(crate) const AAD_VERSION: u32 = 1;
/// `PRAGMA application_id`: "klui".
pub(crate) const APPLICATION_ID: i32 = 0x6B6C_7569;
pub(crate) const PAGE_SIZE: u32 = 16384;
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of the file SQLite may map (`PRAGMA mmap_size`): 256 MiB, more than 100,000
/// credentials; beyond it SQLite reads as without a map.
pub(crate) const MMAP_SIZE: u64 = 256 << 20;

const SCHEMA: &str = "
CREATE TABLE header (
    singleton          INTEGER PRIMARY KEY CHECK (singleton = 1),
    format             INTEGER NOT NULL,
    vault_id           TEXT    NOT NULL,
    kdf_m_kib          INTEGER NOT NULL,
    kdf_t              INTEGER NOT NULL,
    kdf_p              INTEGER NOT NULL,
    salt               BLOB    NOT NULL,
    device_check       BLOB    NOT NULL,
    wrapped_dek        BLOB    NOT NULL,
    canary             BLOB    NOT NULL,
    max_attempts       INTEGER,
    free_attempts      INTEGER NOT NULL,
    backoff_base_secs  INTEGER NOT NULL,
    backoff_max_secs   INTEGER NOT NULL,
    on_limit           TEXT    NOT NULL
);
CREATE TABLE pin_guard (
    singleton          INTEGER PRIMARY KEY CHECK (singleton = 1),
    failed_attempts    INTEGER NOT NULL,
    last_failure_unix  INTEGER NOT NULL
);
-- seq gives insertion order; kind is a category name (not personal data), id is opaque.
CREATE TABLE records (
    seq     INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    sealed  BLOB NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX records_by_kind ON records (kind, seq);
";

/// Format 2: the seal over the plaintext parts of the file (header, policy, attempt counter) and
/// the write sequence, HMAC under a key from the device secret (docs/VAULT.md, "Integrity of
/// the file"). No row: a format-1 vault not unlocked since the upgrade.
const SCHEMA_2: &str = "
CREATE TABLE file_seal (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    seq        INTEGER NOT NULL,
    mac        BLOB    NOT NULL
);
";

/// Format 3: each record's summary (`Record::summary`), sealed under the record key with its own
/// associated data, keyed by the record's `seq`. A table of its own so that listing reads a few
/// dense pages, not every page of the full records.
const SCHEMA_3: &str = "
CREATE TABLE summaries (
    seq     INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    sealed  BLOB NOT NULL
);
CREATE INDEX summaries_by_kind ON summaries (kind, seq);
";

/// Format 4: the summaries sealed in pages of up to `summary_pages::PAGE_ENTRIES` records of one
/// kind (page = the records' `seq` / PAGE_ENTRIES), one envelope per page: listing opens a few
/// hundred envelopes instead of one per record. Format 3's table goes; the wallet rebuilds the
/// pages from the records at its first listing, as for format 2. Format 5 keeps the table and
/// empties it (its pages hold fewer records, in another encoding): rebuilt the same way.
const SCHEMA_4: &str = "
CREATE TABLE summary_pages (
    kind    TEXT NOT NULL,
    page    INTEGER NOT NULL,
    sealed  BLOB NOT NULL,
    PRIMARY KEY (kind, page)
);
";

/// The header row: everything needed to derive the KEK and check it, plus the policy.
#[derive(Clone)]
pub(crate) struct Header {
    pub vault_id: String,
    pub kdf: KdfParams,
    pub salt: Salt,
    pub device_check: Vec<u8>,
    pub wrapped_dek: Vec<u8>,
    pub canary: Vec<u8>,
    pub policy: VaultPolicy,
}

/// The wrong-PIN counter.
#[derive(Clone, Copy)]
pub(crate) struct Guard {
    pub failed: u32,
    pub last_failure_unix: i64,
}

fn configure(conn: &Connection) -> Result<(), VaultError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Sorts and temp indices stay in memory: nothing extra on disk.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Reads map the file instead of copying each 16 KiB page out of the OS cache (get by id:
    // measured in the vault bench, get vs get_without_mmap). The file holds only ciphertext,
    // ids and kinds; the mapping is address space, not memory of its own.
    conn.query_row(&format!("PRAGMA mmap_size = {MMAP_SIZE}"), [], |_| Ok(()))
        .optional()?;
    Ok(())
}

/// Create a fresh vault file at `path` (which must not exist) with the header in one transaction.
pub(crate) fn create_file(path: &Path, header: &Header, seal: &FileSeal) -> Result<(), VaultError> {
    // Made empty and private first: SQLite then uses it as a new database, and gives its
    // -wal and -shm files the same mode.
    private_file(path)?;
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Page size must be set before the first table exists.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    conn.pragma_update(None, "user_version", FORMAT_VERSION)?;
    configure(&conn)?;
    let tx = conn.transaction()?;
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(SCHEMA_2)?;
    tx.execute_batch(SCHEMA_4)?;
    tx.execute(
        "INSERT INTO header VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            AAD_VERSION,
            header.vault_id,
            header.kdf.m_kib,
            header.kdf.t,
            header.kdf.p,
            header.salt.0.as_slice(),
            header.device_check,
            header.wrapped_dek,
            header.canary,
            header.policy.max_attempts,
            header.policy.free_attempts,
            header.policy.backoff_base_secs as i64,
            header.policy.backoff_max_secs as i64,
            header.policy.on_limit.as_str(),
        ],
    )?;
    tx.execute("INSERT INTO pin_guard VALUES (1, 0, 0)", [])?;
    write_seal(&tx, seal)?;
    tx.commit()?;
    // WAL is persistent in the file; switching after the schema keeps the new file complete.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(VaultError::Storage("WAL mode unavailable".into()));
    }
    conn.close().map_err(|(_, e)| VaultError::from(e))?;
    Ok(())
}

/// Open an existing vault file and check that it is one of ours, in a version we read.
pub(crate) fn open_file(path: &Path) -> Result<Connection, VaultError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app_id != APPLICATION_ID {
        return Err(VaultError::Corrupt("not a kluis vault".into()));
    }
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 || version > FORMAT_VERSION {
        return Err(VaultError::Corrupt(format!(
            "unsupported format version {version}"
        )));
    }
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(VaultError::Corrupt("vault is not in WAL mode".into()));
    }
    for from in version..FORMAT_VERSION {
        migrate(&conn, from)?;
    }
    Ok(conn)
}

/// One step `from` -> `from + 1`, in one transaction with the version bump; a crash leaves
/// the previous version, and the next open does the step again.
/// 1 -> 2: the (empty) seal table; the seal is written at the next unlock, when the device
/// secret and the KEK are at hand. 2 -> 3: the (empty) summaries table; 3 -> 4: summary pages
/// in its place (the per-record summaries are dropped); 4 -> 5: the pages emptied (format 5
/// pages cover other `seq` ranges). The wallet fills them at its first listing
/// (`Vault::rebuild_summaries`), which needs the data key.
fn migrate(conn: &Connection, from: u32) -> Result<(), VaultError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let done = (|| {
        // Another process may have migrated meanwhile.
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == from {
            match from {
                1 => conn.execute_batch(SCHEMA_2)?,
                2 => conn.execute_batch(SCHEMA_3)?,
                3 => {
                    conn.execute_batch("DROP TABLE summaries")?;
                    conn.execute_batch(SCHEMA_4)?;
                }
                _ => conn.execute_batch("DELETE FROM summary_pages")?,
            }
            conn.pragma_update(None, "user_version", from + 1)?;
        }
        Ok::<(), VaultError>(())
    })();
    match done {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Create an empty file readable by its owner only (0600 on Unix).
pub(crate) fn private_file(path: &Path) -> Result<(), VaultError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?;
    Ok(())
}

/// Make existing vault files private (vaults made before files were created 0600).
pub(crate) fn make_private(path: &Path) -> Result<(), VaultError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                let mode = if m.is_dir() { 0o700 } else { 0o600 };
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The file seal row: the write sequence and the HMAC over the sealed parts.
#[derive(Clone)]
pub(crate) struct FileSeal {
    pub seq: u64,
    pub mac: Vec<u8>,
}

pub(crate) fn read_seal(conn: &Connection) -> Result<Option<FileSeal>, VaultError> {
    conn.prepare_cached("SELECT seq, mac FROM file_seal WHERE singleton = 1")?
        .query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .optional()?
        .map(|(seq, mac)| {
            let seq = u64::try_from(seq)
                .map_err(|_| VaultError::Tampered("write sequence out of range"))?;
            Ok(FileSeal { seq, mac })
        })
        .transpose()
}

pub(crate) fn write_seal(conn: &Connection, seal: &FileSeal) -> Result<(), VaultError> {
    let seq = i64::try_from(seal.seq)
        .map_err(|_| VaultError::Storage("write sequence overflow".into()))?;
    conn.prepare_cached(
        "INSERT INTO file_seal (singleton, seq, mac) VALUES (1, ?1, ?2)
         ON CONFLICT (singleton) DO UPDATE SET seq = excluded.seq, mac = excluded.mac",
    )?
    .execute(params![seq, seal.mac])?;
    Ok(())
}

fn header_unreadable(e: rusqlite::Error) -> VaultError {
    match VaultError::from(e) {
        VaultError::Storage(_) => VaultError::Corrupt("header unreadable".into()),
        other => other,
    }
}

/// Read and check the header. Parameters are read back from the file, never assumed.
pub(crate) fn read_header(conn: &Connection) -> Result<Header, VaultError> {
    let row = conn
        .prepare_cached(
            "SELECT format, vault_id, kdf_m_kib, kdf_t, kdf_p, salt, device_check, wrapped_dek, canary,
                    max_attempts, free_attempts, backoff_base_secs, backoff_max_secs, on_limit
             FROM header WHERE singleton = 1",
        )
        .map_err(header_unreadable)?
        .query_row(
            [],
            |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, String>(1)?,
                    KdfParams { m_kib: r.get(2)?, t: r.get(3)?, p: r.get(4)? },
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                    r.get::<_, Vec<u8>>(8)?,
                    (
                        r.get::<_, Option<u32>>(9)?,
                        r.get::<_, u32>(10)?,
                        r.get::<_, i64>(11)?,
                        r.get::<_, i64>(12)?,
                        r.get::<_, String>(13)?,
                    ),
                ))
            },
        )
        .optional()
        .map_err(header_unreadable)?
        .ok_or_else(|| VaultError::Corrupt("header missing".into()))?;
    let (format, vault_id, kdf, salt, device_check, wrapped_dek, canary, pol) = row;
    if format != AAD_VERSION {
        return Err(VaultError::Corrupt(format!(
            "unsupported header format {format}"
        )));
    }
    kdf.validate()
        .map_err(|_| VaultError::Corrupt("stored KDF parameters out of range".into()))?;
    let salt = Salt::from_slice(&salt).ok_or_else(|| VaultError::Corrupt("salt length".into()))?;
    let on_limit =
        OnLimit::parse(&pol.4).ok_or_else(|| VaultError::Corrupt("unknown limit policy".into()))?;
    let policy = VaultPolicy {
        max_attempts: pol.0,
        free_attempts: pol.1,
        backoff_base_secs: u64::try_from(pol.2)
            .map_err(|_| VaultError::Corrupt("policy".into()))?,
        backoff_max_secs: u64::try_from(pol.3).map_err(|_| VaultError::Corrupt("policy".into()))?,
        on_limit,
    };
    policy
        .validate()
        .map_err(|_| VaultError::Corrupt("stored policy invalid".into()))?;
    Ok(Header {
        vault_id,
        kdf,
        salt,
        device_check,
        wrapped_dek,
        canary,
        policy,
    })
}

pub(crate) fn read_guard(conn: &Connection) -> Result<Guard, VaultError> {
    conn.prepare_cached(
        "SELECT failed_attempts, last_failure_unix FROM pin_guard WHERE singleton = 1",
    )?
    .query_row([], |r| {
        Ok(Guard {
            failed: r.get(0)?,
            last_failure_unix: r.get(1)?,
        })
    })
    .optional()?
    .ok_or_else(|| VaultError::Corrupt("attempt counter missing".into()))
}
