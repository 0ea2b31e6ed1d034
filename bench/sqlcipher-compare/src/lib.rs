//! The kluis vault benchmark workload on SQLCipher: same records, same schema shape
//! (insertion-ordered rows with a unique (kind, id)), same durability (WAL, synchronous
//! FULL), JSON stored as plaintext inside a database that SQLCipher encrypts page by page.
//! The key is a raw 256-bit key (`PRAGMA key = "x'…'"`), so no KDF runs on open.

pub mod data;

use std::path::Path;

use rusqlite::{params, Connection, TransactionBehavior};

/// A SQLCipher store of JSON records.
pub struct CipherStore {
    conn: Connection,
}

/// The raw key used by the benchmark (a real app would take it from a key store).
pub const RAW_KEY_HEX: &str = "2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe";

impl CipherStore {
    /// Open (or create) the database and key it; reading the schema checks the key.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.execute_batch(&format!("PRAGMA key = \"x'{RAW_KEY_HEX}'\";"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS records (
                seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL, json BLOB NOT NULL,
                UNIQUE (kind, id));
             CREATE INDEX IF NOT EXISTS records_by_kind ON records (kind, seq);
             -- The best schema for the listing question: a summary row per record, dense pages.
             CREATE TABLE IF NOT EXISTS summaries (
                seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL, json BLOB NOT NULL);
             CREATE INDEX IF NOT EXISTS summaries_by_kind ON summaries (kind, seq);",
        )?;
        Ok(Self { conn })
    }

    /// Set `synchronous` (FULL or NORMAL).
    pub fn set_synchronous(&self, v: &str) -> rusqlite::Result<()> {
        self.conn.pragma_update(None, "synchronous", v)
    }

    /// Insert or replace a credential with its summary, committed.
    pub fn put(&mut self, kind: &str, id: &str, v: &data::StoredCredential) -> rusqlite::Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        put_in(&tx, kind, id, v)?;
        tx.commit()
    }

    /// Many puts in one transaction (setup).
    pub fn put_many(&mut self, kind: &str, items: &[(String, data::StoredCredential)]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (id, v) in items {
            put_in(&tx, kind, id, v)?;
        }
        tx.commit()
    }

    /// Every summary of a kind in insertion order, decoded.
    pub fn list_summaries(&self, kind: &str) -> rusqlite::Result<Vec<(String, data::Summary)>> {
        let mut st = self.conn.prepare_cached("SELECT id, json FROM summaries WHERE kind = ?1 ORDER BY seq")?;
        let mut rows = st.query(params![kind])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let b = r.get_ref(1)?.as_blob()?;
            let v = serde_json::from_slice(b).map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Blob, Box::new(e)))?;
            out.push((id, v));
        }
        Ok(out)
    }

    /// One record by id, decoded.
    pub fn get<T: serde::de::DeserializeOwned>(&self, kind: &str, id: &str) -> rusqlite::Result<Option<T>> {
        let mut st = self.conn.prepare_cached("SELECT json FROM records WHERE kind = ?1 AND id = ?2")?;
        let mut rows = st.query(params![kind, id])?;
        match rows.next()? {
            None => Ok(None),
            Some(r) => {
                let b = r.get_ref(0)?.as_blob()?;
                Ok(Some(serde_json::from_slice(b).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e)))?))
            }
        }
    }

    /// All records of a kind in insertion order, decoded.
    pub fn list<T: serde::de::DeserializeOwned>(&self, kind: &str) -> rusqlite::Result<Vec<(String, T)>> {
        let mut st = self.conn.prepare_cached("SELECT id, json FROM records WHERE kind = ?1 ORDER BY seq")?;
        let mut rows = st.query(params![kind])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let b = r.get_ref(1)?.as_blob()?;
            let v = serde_json::from_slice(b).map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Blob, Box::new(e)))?;
            out.push((id, v));
        }
        Ok(out)
    }

    /// Move the WAL into the main file.
    pub fn checkpoint(&self) -> rusqlite::Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> rusqlite::Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn put_in(tx: &Connection, kind: &str, id: &str, v: &data::StoredCredential) -> rusqlite::Result<()> {
    let seq: i64 = tx
        .prepare_cached(
            "INSERT INTO records (kind, id, json) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, id) DO UPDATE SET json = excluded.json RETURNING seq",
        )?
        .query_row(params![kind, id, to_json(v)?], |r| r.get(0))?;
    tx.prepare_cached("INSERT OR REPLACE INTO summaries (seq, kind, id, json) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![seq, kind, id, to_json(&data::summary(v))?])?;
    Ok(())
}
