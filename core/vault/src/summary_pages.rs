//! Summaries sealed in pages (format 5): the summaries of up to [`PAGE_ENTRIES`] records of one
//! kind, by the records' `seq`, in one envelope. Listing 10,000 summaries then opens ~313
//! envelopes instead of 10,000 (the per-envelope cost, not the bytes, was what kept kluis behind
//! SQLCipher: docs/VAULT.md, "Summaries").
//!
//! A page's plaintext is compact: each distinct set of object keys (a *shape*) once, then per
//! record its values only, integers as varints and strings as bytes (a summary's JSON spent half
//! its bytes on key names, quotes and digits). Listing decodes each summary as the caller's type
//! straight from those values (serde), without making or parsing JSON text.
//!
//! A write changes pages in memory ([`DirtyPages`]) and seals each changed page once, in the
//! same transaction as the records, before the file seal advances.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use kluis_crypto::DataKeys;
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::plain::ZeroizingWriter;
use crate::schema::AAD_VERSION;
use crate::{Listed, VaultError};

/// Records per page. Small enough that a page (~2 KB in the benchmark, ~3 KB for the wallet's
/// summaries) stays within one SQLite page: larger cells spill into an overflow page of their own,
/// which is 16 KiB however little it holds (format 4's 128 records of JSON, ~20 KB, needed exact
/// sizes to pack). A put re-seals one page; listing 10,000 opens 313.
pub(crate) const PAGE_ENTRIES: i64 = 32;
/// First byte of a page's plaintext: the framing below (1 was format 4's JSON pages).
const PAGE_ENCODING: u8 = 2;

/// A summary as a page keeps it: the keys of its JSON object (the shape, encoded: count, then
/// length and UTF-8 of each key) and its values in that order, each tagged (see
/// [`push_value`]); or, for a summary that is not an object, no shape and its JSON text.
pub(crate) struct Entry {
    shape: Option<Vec<u8>>,
    values: Zeroizing<Vec<u8>>,
}

impl Entry {
    /// The entry of a summary as [`crate::Record::summary`] gives it.
    pub(crate) fn of(summary: &Value) -> Result<Entry, VaultError> {
        let mut w = ZeroizingWriter::with_capacity(256);
        let shape = match summary {
            Value::Object(map) => {
                let mut shape = Vec::with_capacity(8 * map.len() + 1);
                push_varint(&mut shape, map.len() as u64);
                for (key, value) in map {
                    push_varint(&mut shape, key.len() as u64);
                    shape.extend_from_slice(key.as_bytes());
                    push_value(&mut w, value)?;
                }
                Some(shape)
            }
            other => {
                serde_json::to_writer(&mut w, other)?;
                None
            }
        };
        Ok(Entry {
            shape,
            values: w.into_inner(),
        })
    }
}

/// A page's entries: record `seq` -> its summary. The id is the record's own (read from the
/// records' index when listing), so it is not stored twice.
type Entries = BTreeMap<i64, Entry>;

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

fn push_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A LEB128 varint at the front of `b` and the rest, or `None` (truncated, over 64 bits).
fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return None;
        }
        v |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

/// `n` bytes at the front of `b` and the rest.
fn take(b: &[u8], n: u64) -> Option<(&[u8], &[u8])> {
    let n = usize::try_from(n).ok()?;
    (n <= b.len()).then(|| b.split_at(n))
}

// A value's tag, in the low two bits of its leading varint.
const TAG_JSON: u64 = 0; // JSON text follows (length above the tag)
const TAG_INT: u64 = 1; // an integer, zigzag, above the tag
const TAG_STR: u64 = 2; // a string's UTF-8 follows (length above the tag)
const TAG_LIT: u64 = 3; // 0 null, 1 false, 2 true, above the tag

/// One value, tagged: integers and strings in their own bytes, anything else as JSON text.
fn push_value(w: &mut ZeroizingWriter, v: &Value) -> Result<(), VaultError> {
    let mut head = Vec::with_capacity(10);
    let body: Option<&[u8]> = match v {
        Value::Null => {
            push_varint(&mut head, TAG_LIT);
            None
        }
        Value::Bool(b) => {
            push_varint(&mut head, (u64::from(*b) + 1) << 2 | TAG_LIT);
            None
        }
        Value::String(s) => {
            push_varint(&mut head, (s.len() as u64) << 2 | TAG_STR);
            Some(s.as_bytes())
        }
        Value::Number(n) if n.as_i64().is_some_and(|i| zigzag(i) < 1 << 62) => {
            let i = n.as_i64().unwrap_or_default();
            push_varint(&mut head, zigzag(i) << 2 | TAG_INT);
            None
        }
        other => {
            let mut json = ZeroizingWriter::with_capacity(64);
            serde_json::to_writer(&mut json, other)?;
            let json = json.into_inner();
            push_varint(&mut head, (json.len() as u64) << 2 | TAG_JSON);
            w.write_all(&head)?;
            w.write_all(&json)?;
            return Ok(());
        }
    };
    w.write_all(&head)?;
    if let Some(body) = body {
        w.write_all(body)?;
    }
    Ok(())
}

fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// The value at the front of `b` (its tag, its payload) and the rest.
fn next_value(b: &[u8]) -> Option<(u64, u64, &[u8], &[u8])> {
    let (head, rest) = varint(b)?;
    let (tag, n) = (head & 3, head >> 2);
    match tag {
        TAG_JSON | TAG_STR => {
            let (body, rest) = take(rest, n)?;
            Some((tag, n, body, rest))
        }
        TAG_LIT if n > 2 => None,
        _ => Some((tag, n, &[], rest)),
    }
}

/// A shape's keys, or `None` if malformed.
fn shape_keys(shape: &[u8]) -> Option<(Vec<&str>, &[u8])> {
    let (n, mut rest) = varint(shape)?;
    let mut keys = Vec::with_capacity(usize::try_from(n).ok()?.min(64));
    for _ in 0..n {
        let (len, r) = varint(rest)?;
        let (key, r) = take(r, len)?;
        keys.push(std::str::from_utf8(key).ok()?);
        rest = r;
    }
    Some((keys, rest))
}

/// An opened page: its shapes (encoded, and their keys) and its entries in `seq` order (shape
/// index or `None`, values).
struct Parsed<'a> {
    shapes: Vec<(&'a [u8], Vec<&'a str>)>,
    entries: Vec<(i64, Option<usize>, &'a [u8])>,
}

/// Parse page `page`'s plaintext, or `None` if malformed (it is authenticated, so only a buggy
/// writer): entries out of the page's range, out of order or repeated, values cut short.
fn parse(plain: &[u8], page: i64) -> Option<Parsed<'_>> {
    let (&PAGE_ENCODING, rest) = plain.split_first()? else {
        return None;
    };
    let (n, mut rest) = varint(rest)?;
    let mut shapes = Vec::new();
    for _ in 0..n {
        let (keys, r) = shape_keys(rest)?;
        shapes.push((&rest[..rest.len() - r.len()], keys));
        rest = r;
    }
    let mut entries: Vec<(i64, Option<usize>, &[u8])> = Vec::with_capacity(PAGE_ENTRIES as usize);
    while let Some((&offset, r)) = rest.split_first() {
        let seq = page
            .checked_mul(PAGE_ENTRIES)?
            .checked_add(i64::from(offset))?;
        if i64::from(offset) >= PAGE_ENTRIES || entries.last().is_some_and(|e| e.0 >= seq) {
            return None;
        }
        let (shape, r) = varint(r)?;
        let (shape, values, r) = if shape == 0 {
            let (len, r) = varint(r)?;
            let (json, r) = take(r, len)?;
            (None, json, r)
        } else {
            let i = usize::try_from(shape - 1).ok()?;
            let mut end = r;
            for _ in 0..shapes.get(i)?.1.len() {
                end = next_value(end)?.3;
            }
            (Some(i), &r[..r.len() - end.len()], end)
        };
        entries.push((seq, shape, values));
        rest = r;
    }
    Some(Parsed { shapes, entries })
}

impl<'a> Parsed<'a> {
    /// Entry `i`'s summary decoded as `S`: straight from its values for a shaped entry (no JSON
    /// text is made or parsed), from its JSON text otherwise.
    fn decode<S: serde::de::DeserializeOwned>(&self, i: usize) -> Result<S, serde_json::Error> {
        let (_, shape, values) = self.entries[i];
        match shape {
            None => serde_json::from_slice(values),
            Some(shape) => S::deserialize(EntryDe {
                keys: &self.shapes[shape].1,
                values,
            }),
        }
    }
}

/// A shaped entry as a map of its keys to its values, for serde.
struct EntryDe<'a> {
    keys: &'a [&'a str],
    values: &'a [u8],
}

impl<'de> Deserializer<'de> for EntryDe<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Fields {
            keys: self.keys.iter(),
            rest: self.values,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

struct Fields<'a> {
    keys: std::slice::Iter<'a, &'a str>,
    rest: &'a [u8],
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.keys.next() {
            Some(key) => seed
                .deserialize(BorrowedStrDeserializer::new(key))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        // Parsing checked that the entry holds one value per key.
        let (tag, n, body, rest) =
            next_value(self.rest).ok_or_else(|| de::Error::custom("summary value cut short"))?;
        self.rest = rest;
        seed.deserialize(ValueDe { tag, n, body })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.keys.len())
    }
}

/// One tagged value, for serde; JSON text is handed to serde_json.
struct ValueDe<'a> {
    tag: u64,
    n: u64,
    body: &'a [u8],
}

impl<'a> ValueDe<'a> {
    fn str(&self) -> Result<&'a str, serde_json::Error> {
        std::str::from_utf8(self.body).map_err(|_| de::Error::custom("summary string not UTF-8"))
    }

    fn json(&self) -> serde_json::Deserializer<serde_json::de::SliceRead<'a>> {
        serde_json::Deserializer::from_slice(self.body)
    }
}

impl<'de> Deserializer<'de> for ValueDe<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match (self.tag, self.n) {
            (TAG_INT, z) => visitor.visit_i64(unzigzag(z)),
            (TAG_STR, _) => visitor.visit_borrowed_str(self.str()?),
            (TAG_LIT, 0) => visitor.visit_unit(),
            (TAG_LIT, b) => visitor.visit_bool(b == 2),
            _ => {
                let mut json = self.json();
                let value = (&mut json).deserialize_any(visitor)?;
                json.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match (self.tag, self.n) {
            (TAG_LIT, 0) => visitor.visit_none(),
            (TAG_JSON, _) => {
                let mut json = self.json();
                let value = (&mut json).deserialize_option(visitor)?;
                json.end()?;
                Ok(value)
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.tag {
            // A unit variant, as serde_json writes it.
            TAG_STR => visitor.visit_enum(BorrowedStrDeserializer::new(self.str()?)),
            TAG_JSON => {
                let mut json = self.json();
                let value = (&mut json).deserialize_enum(name, variants, visitor)?;
                json.end()?;
                Ok(value)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A page's plaintext (see [`parse`]): its entries' distinct shapes in order of first use, then
/// each entry's offset in the page, shape (0: none, JSON text follows with its length) and values.
fn encode(page: i64, entries: &Entries) -> Zeroizing<Vec<u8>> {
    let mut shapes: Vec<&[u8]> = Vec::new();
    for shape in entries.values().filter_map(|e| e.shape.as_deref()) {
        if !shapes.contains(&shape) {
            shapes.push(shape);
        }
    }
    let size: usize = shapes.iter().map(|s| s.len()).sum::<usize>()
        + entries.values().map(|e| 16 + e.values.len()).sum::<usize>();
    let mut plain = Zeroizing::new(Vec::with_capacity(11 + size));
    plain.push(PAGE_ENCODING);
    push_varint(&mut plain, shapes.len() as u64);
    for shape in &shapes {
        plain.extend_from_slice(shape);
    }
    for (seq, entry) in entries {
        plain.push((seq - page * PAGE_ENTRIES) as u8);
        match entry.shape.as_deref() {
            Some(shape) => {
                let i = shapes.iter().position(|s| *s == shape).unwrap_or_default();
                push_varint(&mut plain, i as u64 + 1);
            }
            None => {
                push_varint(&mut plain, 0);
                push_varint(&mut plain, entry.values.len() as u64);
            }
        }
        plain.extend_from_slice(&entry.values);
    }
    plain
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
            let plain = sealed.and_then(|s| open_page(keys, kind, key.1, &s));
            if let Some(parsed) = plain.as_ref().and_then(|p| parse(p, key.1)) {
                for &(seq, shape, values) in &parsed.entries {
                    let entry = Entry {
                        shape: shape.map(|i| parsed.shapes[i].0.to_vec()),
                        values: Zeroizing::new(values.to_vec()),
                    };
                    entries.insert(seq, entry);
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
        summary: Option<Entry>,
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
            let plain = encode(page, &entries);
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
        match plain.as_ref().and_then(|p| parse(p, page)) {
            Some(parsed) => {
                for (i, &(seq, _, _)) in parsed.entries.iter().enumerate() {
                    match records.next() {
                        Some((s, id)) if s == seq => {
                            out.push((id, parsed.decode(i).map_err(VaultError::from)));
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
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn entries(page: i64, summaries: &[Value]) -> Entries {
        summaries
            .iter()
            .enumerate()
            .map(|(i, s)| (page * PAGE_ENTRIES + 2 * i as i64, Entry::of(s).unwrap()))
            .collect()
    }

    fn listed(plain: &[u8], page: i64) -> Vec<(i64, Value)> {
        let parsed = parse(plain, page).unwrap();
        (0..parsed.entries.len())
            .map(|i| (parsed.entries[i].0, parsed.decode(i).unwrap()))
            .collect()
    }

    #[test]
    fn every_json_value_comes_back_as_it_went_in() {
        let summaries = [
            json!({"holder": "https://duo.example", "vct": "urn:nl:duo:1", "issued_at": 1767225600,
                   "expires_at": null, "state": 1}),
            json!({"holder": "https://cak.example", "vct": "urn:nl:cak:1", "issued_at": -5,
                   "expires_at": 1798761600, "state": 0}),
            // Another shape, and values stored as JSON text: floats, u64 beyond i64, i64::MIN,
            // nested objects and arrays, escapes in keys and strings, bools.
            json!({"a\"b\u{1}": "line\nbreak \"quoted\" é 🦀", "f": 1.5, "big": u64::MAX,
                   "min": i64::MIN, "max": i64::MAX, "nested": {"x": [1, "two", null]},
                   "t": true, "no": false, "empty": {}}),
            json!({}),
            // Not objects: kept as JSON text.
            json!([1, 2]),
            json!("text"),
            json!(null),
        ];
        let page = 3;
        let plain = encode(page, &entries(page, &summaries));
        let back = listed(&plain, page);
        assert_eq!(back.len(), summaries.len());
        for (i, ((seq, value), want)) in back.iter().zip(&summaries).enumerate() {
            assert_eq!(*seq, page * PAGE_ENTRIES + 2 * i as i64);
            assert_eq!(value, want);
            // Key order too (the wallet's JSON keeps it).
            assert_eq!(value.to_string(), want.to_string());
        }
        // Two entries of one shape store it once.
        assert_eq!(parse(&plain, page).unwrap().shapes.len(), 3);
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Binding {
        ThisWallet,
        Other { key: String },
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Wrapped(u32);

    /// A typed summary like the wallet's: options, enums, defaults, nesting, a newtype.
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Typed {
        issuer: String,
        issued_at: Option<i64>,
        expires_at: Option<i64>,
        binding: Binding,
        other: Binding,
        copies: Wrapped,
        share: f64,
        tags: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        flagged: bool,
    }

    #[test]
    fn typed_summaries_decode_as_they_would_from_json() {
        let typed = Typed {
            issuer: "https://duo.example".into(),
            issued_at: Some(1_767_225_600),
            expires_at: None,
            binding: Binding::ThisWallet,
            other: Binding::Other { key: "k".into() },
            copies: Wrapped(3),
            share: 0.25,
            tags: vec!["a".into()],
            flagged: false,
        };
        let flagged = Typed {
            flagged: true,
            ..typed_clone(&typed)
        };
        let values = [
            serde_json::to_value(&typed).unwrap(),
            serde_json::to_value(&flagged).unwrap(),
        ];
        let plain = encode(0, &entries(0, &values));
        let parsed = parse(&plain, 0).unwrap();
        assert_eq!(
            parsed.shapes.len(),
            2,
            "the skipped field makes a second shape"
        );
        assert_eq!(parsed.decode::<Typed>(0).unwrap(), typed);
        assert_eq!(parsed.decode::<Typed>(1).unwrap(), flagged);
        // A type that does not fit is an error, as from JSON.
        assert!(parsed.decode::<Vec<u8>>(0).is_err());
    }

    fn typed_clone(t: &Typed) -> Typed {
        serde_json::from_value(serde_json::to_value(t).unwrap()).unwrap()
    }

    #[test]
    fn a_summary_takes_less_than_half_its_json() {
        let s = json!({"holder": "https://duo.example", "vct": "urn:nl:duo:studieschuld:1",
                       "issued_at": 1767225600, "expires_at": 1798761600,
                       "received_at": 1767225660, "state": 1});
        let many: Vec<Value> = vec![s.clone(); 16];
        let plain = encode(0, &entries(0, &many));
        let json_bytes = 16 * serde_json::to_vec(&s).unwrap().len();
        assert!(
            plain.len() * 2 < json_bytes,
            "{} vs {json_bytes}",
            plain.len()
        );
    }

    #[test]
    fn pages_are_framed_and_bound() {
        assert_eq!(page_of(0), 0);
        assert_eq!(page_of(PAGE_ENTRIES - 1), 0);
        assert_eq!(page_of(PAGE_ENTRIES), 1);
        assert_ne!(page_aad("ab", 1), page_aad("a", 1));
        assert_ne!(page_aad("a", 1), page_aad("a", 2));
        let plain = encode(1, &entries(1, &[json!({"k": "v", "n": 300}), json!([1])]));
        assert_eq!(listed(&plain, 1).len(), 2);
        // Cut anywhere: refused or fewer entries, never read past or made up.
        for n in 0..plain.len() {
            if let Some(p) = parse(&plain[..n], 1) {
                assert!(p.entries.len() < 2, "cut at {n}");
            }
        }
        assert!(
            parse(&[1], 0).is_none(),
            "format 4's encoding is not read as this one"
        );
        assert_eq!(parse(&[PAGE_ENCODING, 0], 0).unwrap().entries.len(), 0);
        // An offset past the page, a repeated one, an unknown shape, a length past the end.
        assert!(parse(&[PAGE_ENCODING, 0, PAGE_ENTRIES as u8, 0, 0], 0).is_none());
        assert!(parse(&[PAGE_ENCODING, 0, 4, 0, 0, 4, 0, 0], 0).is_none());
        assert!(parse(&[PAGE_ENCODING, 0, 4, 1], 0).is_none());
        assert!(parse(&[PAGE_ENCODING, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x0f], 0).is_none());
        // A literal other than null/false/true, and a string that is not UTF-8: the page parses
        // (framing intact), the entry does not read.
        let bad_lit = [PAGE_ENCODING, 1, 1, 1, b'k', 0, 1, 3 << 2 | 3];
        assert!(parse(&bad_lit, 0).is_none());
        let bad_utf8 = [PAGE_ENCODING, 1, 1, 1, b'k', 0, 1, 1 << 2 | 2, 0xff];
        let p = parse(&bad_utf8, 0).unwrap();
        assert!(p.decode::<Value>(0).is_err());
    }

    #[test]
    fn varints_round_trip_and_refuse_overlong() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            push_varint(&mut b, v);
            assert_eq!(varint(&b), Some((v, &[][..])));
        }
        assert_eq!(varint(&[0x80; 10]), None);
        assert_eq!(
            varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            None
        );
        for i in [0, 1, -1, i64::MIN / 8, i64::MAX / 8] {
            assert_eq!(unzigzag(zigzag(i)), i);
        }
    }
}
