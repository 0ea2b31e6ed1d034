//! Summaries sealed in pages (format 4): the summaries of up to [`PAGE_ENTRIES`] records of one
//! kind, by the records' `seq`, in one envelope. Listing 10,000 summaries then opens 79
//! envelopes instead of 10,000 (the per-envelope cost, not the bytes, was what kept kluis behind
//! SQLCipher: docs/VAULT.md, "Summaries").
//!
//! A write changes pages in memory ([`DirtyPages`]) and seals each changed page once, in the
//! same transaction as the records, before the file seal advances.

use std::collections::{BTreeMap, HashMap};

use kluis_crypto::DataKeys;
use rusqlite::{params, Connection, OptionalExtension};
use zeroize::Zeroizing;

use crate::schema::AAD_VERSION;
use crate::{Listed, VaultError};

/// Records per page. A page of the benchmark's summaries is ~20 KB: more than fits in one
/// 16 KiB SQLite page, so SQLite spills it into a full overflow page and packs the rest beside
/// other rows (64 per page, ~10 KB, took a SQLite page each: 2.5 MB for 10,000 summaries
/// instead of ~1.6 MB). A put re-seals one page (tens of µs); listing 10,000 opens 79.
pub(crate) const PAGE_ENTRIES: i64 = 128;
/// First byte of a page's plaintext: the framing below.
const PAGE_ENCODING: u8 = 1;

/// A page's entries: record `seq` -> its summary (JSON). The id is the record's own (read from
/// the records' index when listing), so it is not stored twice.
type Entries = BTreeMap<i64, Zeroizing<Vec<u8>>>;

/// A page as read, and whether this transaction changed it.
#[derive(Default)]
struct Page {
    entries: Entries,
    changed: bool,
}

fn page_of(seq: i64) -> i64 {
    seq.div_euclid(PAGE_ENTRIES)
}

fn push_framed(buf: &mut Vec<u8>, part: &[u8]) {
    buf.extend_from_slice(&(part.len() as u32).to_be_bytes());
    buf.extend_from_slice(part);
}

/// Associated data of a page: its kind and number. A page moved to another number or kind, a
/// record's or another page's ciphertext in its place, fails to open.
fn page_aad(kind: &str, page: i64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(48 + kind.len());
    push_framed(&mut aad, b"kluis/summary-page");
    push_framed(&mut aad, kind.as_bytes());
    aad.extend_from_slice(&page.to_be_bytes());
    aad.extend_from_slice(&AAD_VERSION.to_be_bytes());
    aad
}

/// One entry of a page's plaintext: `seq` (8 B), summary length (4 B), summary. `None` if the
/// page is malformed (it is authenticated, so only a buggy writer).
fn next_entry(b: &[u8]) -> Option<(i64, &[u8], &[u8])> {
    let seq = i64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    let len = u32::from_be_bytes(b.get(8..12)?.try_into().ok()?) as usize;
    let summary = b.get(12..12usize.checked_add(len)?)?;
    Some((seq, summary, &b[12 + len..]))
}

/// Every entry of an opened page, in `seq` order, or `None` if malformed.
fn parse(plain: &[u8]) -> Option<Vec<(i64, &[u8])>> {
    let (&PAGE_ENCODING, mut rest) = plain.split_first()? else {
        return None;
    };
    let mut out = Vec::with_capacity(PAGE_ENTRIES as usize);
    while !rest.is_empty() {
        let (seq, summary, tail) = next_entry(rest)?;
        if out.last().is_some_and(|&(prev, _)| prev >= seq) {
            return None;
        }
        out.push((seq, summary));
        rest = tail;
    }
    Some(out)
}

fn open_page(keys: &DataKeys, kind: &str, page: i64, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    keys.open(sealed, &page_aad(kind, page)).ok()
}

/// Pages changed by a write transaction, sealed and stored by [`DirtyPages::flush`].
#[derive(Default)]
pub(crate) struct DirtyPages {
    pages: HashMap<(String, i64), Page>,
}

impl DirtyPages {
    /// The page holding `seq`, read on first use. A page that does not open starts empty: its
    /// other records then lack summaries, which the next listing notices (the count differs)
    /// and rebuilds from the records themselves.
    fn page(
        &mut self,
        conn: &Connection,
        keys: &DataKeys,
        kind: &str,
        seq: i64,
    ) -> Result<&mut Page, VaultError> {
        let key = (kind.to_string(), page_of(seq));
        if !self.pages.contains_key(&key) {
            let sealed: Option<Vec<u8>> = conn
                .prepare_cached("SELECT sealed FROM summary_pages WHERE kind = ?1 AND page = ?2")?
                .query_row(params![kind, key.1], |r| r.get(0))
                .optional()?;
            let mut entries = Entries::new();
            if let Some(plain) = sealed.and_then(|s| open_page(keys, kind, key.1, &s)) {
                for (seq, summary) in parse(&plain).unwrap_or_default() {
                    entries.insert(seq, Zeroizing::new(summary.to_vec()));
                }
            }
            self.pages.insert(
                key.clone(),
                Page {
                    entries,
                    changed: false,
                },
            );
        }
        Ok(self.pages.entry(key).or_default())
    }

    /// Set (`Some`) or remove (`None`) the summary of record `seq`.
    pub(crate) fn set(
        &mut self,
        conn: &Connection,
        keys: &DataKeys,
        kind: &str,
        seq: i64,
        summary: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<(), VaultError> {
        let page = self.page(conn, keys, kind, seq)?;
        match summary {
            Some(s) => {
                page.entries.insert(seq, s);
                page.changed = true;
            }
            None => page.changed |= page.entries.remove(&seq).is_some(),
        }
        Ok(())
    }

    /// Forget every page of `kind`, in memory and in the file (a rebuild starts from nothing).
    pub(crate) fn clear(&mut self, conn: &Connection, kind: &str) -> Result<(), VaultError> {
        self.pages.retain(|(k, _), _| k != kind);
        conn.prepare_cached("DELETE FROM summary_pages WHERE kind = ?1")?
            .execute(params![kind])?;
        Ok(())
    }

    /// Seal and store every changed page (an empty one is deleted), in the caller's transaction.
    pub(crate) fn flush(&mut self, conn: &Connection, keys: &DataKeys) -> Result<(), VaultError> {
        for ((kind, page), Page { entries, changed }) in self.pages.drain() {
            if !changed {
                continue;
            }
            if entries.is_empty() {
                conn.prepare_cached("DELETE FROM summary_pages WHERE kind = ?1 AND page = ?2")?
                    .execute(params![kind, page])?;
                continue;
            }
            let size: usize = entries.values().map(|s| 12 + s.len()).sum();
            let mut plain = Zeroizing::new(Vec::with_capacity(1 + size));
            plain.push(PAGE_ENCODING);
            for (seq, summary) in &entries {
                let len = u32::try_from(summary.len())
                    .map_err(|_| VaultError::Encoding("summary too large".into()))?;
                plain.extend_from_slice(&seq.to_be_bytes());
                plain.extend_from_slice(&len.to_be_bytes());
                plain.extend_from_slice(summary);
            }
            let sealed = keys.seal(&plain, &page_aad(&kind, page));
            conn.prepare_cached(
                "INSERT INTO summary_pages (kind, page, sealed) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind, page) DO UPDATE SET sealed = excluded.sealed",
            )?
            .execute(params![kind, page, sealed])?;
        }
        Ok(())
    }
}

/// Every summary of `kind` in the records' insertion order, decoded as `S`, with the records'
/// ids. `None` unless the pages hold exactly one summary for each record of the kind, under its
/// `seq` (a vault written before summary pages, a record stored without a summary, a page put
/// back from an older copy that no longer matches the records). A page that does not open
/// names each record of its range as an `Integrity` error; the others are listed.
pub(crate) fn list<S: serde::de::DeserializeOwned>(
    conn: &Connection,
    keys: &DataKeys,
    kind: &str,
) -> Result<Option<Listed<S>>, VaultError> {
    // (seq, id) of every record of the kind, from the (kind, id) index: it holds both, on a few
    // dense pages (left to itself SQLite may read the whole records table for this).
    let mut records: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, id FROM records INDEXED BY sqlite_autoindex_records_1 WHERE kind = ?1",
        )?
        .query_map(params![kind], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    records.sort_unstable_by_key(|(seq, _)| *seq);
    let mut records = records.into_iter().peekable();
    let mut out: Listed<S> = Vec::with_capacity(records.len());
    let mut stmt = conn
        .prepare_cached("SELECT page, sealed FROM summary_pages WHERE kind = ?1 ORDER BY page")?;
    let mut rows = stmt.query(params![kind])?;
    while let Some(row) = rows.next()? {
        let page: i64 = row.get(0)?;
        // Records of pages before this one that no page held: not complete.
        if records.peek().is_some_and(|(seq, _)| page_of(*seq) < page) {
            return Ok(None);
        }
        let plain = match row.get_ref(1)?.as_blob() {
            Ok(sealed) => open_page(keys, kind, page, sealed),
            Err(_) => None,
        };
        match plain.as_ref().and_then(|p| parse(p)) {
            Some(entries) => {
                for (seq, summary) in entries {
                    match records.next() {
                        Some((s, id)) if s == seq && page_of(seq) == page => {
                            let value = serde_json::from_slice(summary).map_err(VaultError::from);
                            out.push((id, value));
                        }
                        _ => return Ok(None),
                    }
                }
            }
            None => {
                // Which summaries the page held is sealed in it: name the records of its range.
                while let Some((_, id)) = records.next_if(|(seq, _)| page_of(*seq) == page) {
                    let e = VaultError::Integrity {
                        kind: kind.to_string(),
                        id: id.clone(),
                    };
                    out.push((id, Err(e)));
                }
            }
        }
    }
    Ok(records.peek().is_none().then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_framed_and_bound() {
        assert_eq!(page_of(0), 0);
        assert_eq!(page_of(PAGE_ENTRIES - 1), 0);
        assert_eq!(page_of(PAGE_ENTRIES), 1);
        assert_ne!(page_aad("ab", 1), page_aad("a", 1));
        assert_ne!(page_aad("a", 1), page_aad("a", 2));
        // Truncated or overlong framing is refused, not read past.
        let entry = |seq: i64, s: &[u8]| {
            let mut b = seq.to_be_bytes().to_vec();
            b.extend_from_slice(&(s.len() as u32).to_be_bytes());
            b.extend_from_slice(s);
            b
        };
        let mut plain = vec![PAGE_ENCODING];
        plain.extend(entry(7, b"{}"));
        plain.extend(entry(9, b"[1]"));
        assert_eq!(parse(&plain), Some(vec![(7, &b"{}"[..]), (9, &b"[1]"[..])]));
        assert_eq!(parse(&plain[..plain.len() - 1]), None);
        assert_eq!(parse(&[2]), None);
        assert_eq!(parse(&[PAGE_ENCODING]), Some(vec![]));
        // Out of order or repeated seq: refused.
        let mut twice = vec![PAGE_ENCODING];
        twice.extend(entry(9, b"{}"));
        twice.extend(entry(9, b"{}"));
        assert_eq!(parse(&twice), None);
        let mut huge = vec![PAGE_ENCODING];
        huge.extend_from_slice(&1i64.to_be_bytes());
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(parse(&huge), None);
    }
}
