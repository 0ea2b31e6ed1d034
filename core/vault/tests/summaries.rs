//! Summaries: the few fields a listing needs, sealed beside each record and kept in step with
//! it by every write; edited or swapped summaries fail like records do.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kluis_vault::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Card {
    holder: String,
    body: String,
}
impl Record for Card {
    const KIND: &'static str = "card";
    fn summary(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "holder": self.holder }))
    }
}

#[derive(Debug, PartialEq, Deserialize)]
struct CardSummary {
    holder: String,
}

fn card(h: &str) -> Card {
    Card {
        holder: h.into(),
        body: "x".repeat(2000),
    }
}

fn holders(v: &Vault) -> Vec<(String, String)> {
    v.list_summaries::<CardSummary>("card")
        .unwrap()
        .expect("complete")
        .into_iter()
        .map(|(id, s)| (id, s.unwrap().holder))
        .collect()
}

#[test]
fn every_write_keeps_the_summaries_in_step() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    v.put("a", &card("duo")).unwrap();
    v.put("b", &card("cak")).unwrap();
    v.write(|tx| {
        tx.put("c", &card("rdw"))?;
        tx.put("a", &card("duo-2"))?; // replaced: keeps its place
        tx.delete::<Card>("b")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        holders(&v),
        vec![("a".into(), "duo-2".into()), ("c".into(), "rdw".into())]
    );
    // A failed transaction changes no summary.
    let r: Result<(), VaultError> = v.write(|tx| {
        tx.put("d", &card("uwv"))?;
        Err(VaultError::Busy)
    });
    assert!(r.is_err());
    assert_eq!(holders(&v).len(), 2);
    // Kinds without summaries are not listed there.
    v.put("s", &Setting { value: "v".into() }).unwrap();
    assert_eq!(
        v.list_summaries::<serde_json::Value>("setting").unwrap(),
        None
    );
    assert!(matches!(
        v.list_summaries::<CardSummary>("Bad Kind"),
        Err(VaultError::InvalidKind)
    ));
}

#[test]
fn a_missing_summary_is_noticed_and_rebuilt_in_one_transaction() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    for i in 0..5 {
        v.put(&format!("id{i}"), &card(&format!("h{i}"))).unwrap();
    }
    // A record stored without a summary (as a version before summaries wrote it).
    v.dangerous_put_raw(
        "card",
        "id5",
        b"\x01{\"holder\":\"h5\",\"body\":\"\"}",
        true,
    )
    .unwrap();
    assert_eq!(v.list_summaries::<CardSummary>("card").unwrap(), None);
    assert_eq!(v.rebuild_summaries::<Card>().unwrap(), 6);
    assert_eq!(holders(&v).len(), 6);
    assert_eq!(holders(&v)[5], ("id5".into(), "h5".into()));
    // All pages gone (format 3 -> 4 drops the per-record table, 4 -> 5 empties the pages):
    // noticed, rebuilt.
    raw(root.path())
        .execute("DELETE FROM summary_pages", [])
        .unwrap();
    assert_eq!(v.list_summaries::<CardSummary>("card").unwrap(), None);
    assert_eq!(v.rebuild_summaries::<Card>().unwrap(), 6);
    assert_eq!(holders(&v)[2], ("id2".into(), "h2".into()));
}

/// Records per summary page (kluis-vault's PAGE_ENTRIES): ids 0..PAGE fill the first page.
const PAGE: usize = 32;

#[test]
fn summaries_of_many_records_span_pages_in_insertion_order() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    let n = 3 * PAGE + 5;
    v.write(|tx| {
        for i in 0..n {
            tx.put(&format!("id{i}"), &card(&format!("h{i}")))?;
        }
        Ok(())
    })
    .unwrap();
    let pages: i64 = raw(root.path())
        .query_row("SELECT COUNT(*) FROM summary_pages", [], |r| r.get(0))
        .unwrap();
    assert!(pages >= 4, "{pages} pages");
    // Deleting every record of a page removes the page; the rest keep their order.
    v.write(|tx| {
        for i in 0..2 * PAGE {
            tx.delete::<Card>(&format!("id{i}"))?;
        }
        Ok(())
    })
    .unwrap();
    v.put("id7", &card("back")).unwrap(); // a new record: at the end
    let want: Vec<(String, String)> = (2 * PAGE..n)
        .map(|i| (format!("id{i}"), format!("h{i}")))
        .chain([("id7".to_string(), "back".to_string())])
        .collect();
    assert_eq!(holders(&v), want);
    let after: i64 = raw(root.path())
        .query_row("SELECT COUNT(*) FROM summary_pages", [], |r| r.get(0))
        .unwrap();
    assert!(
        after < pages,
        "{after} pages after the deletes, {pages} before"
    );
}

#[test]
fn edited_or_swapped_summary_pages_fail_their_records_only() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    let n = 3 * PAGE;
    v.write(|tx| {
        for i in 0..n {
            tx.put(&format!("id{i}"), &card(&format!("h{i}")))?;
        }
        Ok(())
    })
    .unwrap();
    let db = raw(root.path());
    let pages: Vec<(i64, Vec<u8>)> = db
        .prepare("SELECT page, sealed FROM summary_pages ORDER BY page")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(pages.len() >= 3);
    let set = |page: i64, sealed: &[u8]| {
        db.execute(
            "UPDATE summary_pages SET sealed = ?1 WHERE page = ?2",
            rusqlite::params![sealed, page],
        )
        .unwrap();
    };
    // The first page: a byte flipped. The second: the third's ciphertext (the page number is
    // bound). The last: a record's ciphertext.
    let mut flipped = pages[0].1.clone();
    flipped[40] ^= 1;
    set(pages[0].0, &flipped);
    set(pages[1].0, &pages[2].1);
    let rec: Vec<u8> = db
        .query_row("SELECT sealed FROM records WHERE id = 'id0'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let last = pages.last().unwrap().0;
    set(last, &rec);
    let listed = v.list_summaries::<CardSummary>("card").unwrap().unwrap();
    assert_eq!(listed.len(), n);
    let ids: Vec<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
    let want: Vec<String> = (0..n).map(|i| format!("id{i}")).collect();
    assert_eq!(ids, want.iter().map(String::as_str).collect::<Vec<_>>());
    let seqs: std::collections::HashMap<String, i64> = db
        .prepare("SELECT id, seq FROM records")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let edited = [pages[0].0, pages[1].0, last];
    let mut intact = 0;
    for (id, r) in &listed {
        let broken = edited.contains(&(seqs[id] / PAGE as i64));
        match r {
            Ok(s) if !broken => {
                intact += 1;
                assert_eq!(s.holder, format!("h{}", &id[2..]));
            }
            Err(VaultError::Integrity { id: i, kind }) if broken => {
                assert_eq!((i, kind.as_str()), (id, "card"));
            }
            _ => panic!("{id} (page broken: {broken}): {r:?}"),
        }
    }
    assert!(intact > 0 && intact < n - PAGE, "{intact}");
    // The records themselves still open, and the next write of a broken page's record leaves
    // the listing incomplete (None) until the summaries are rebuilt from the records.
    assert_eq!(v.get::<Card>("id0").unwrap(), Some(card("h0")));
    v.put("id0", &card("h0")).unwrap();
    assert_eq!(v.list_summaries::<CardSummary>("card").unwrap(), None);
    assert_eq!(v.rebuild_summaries::<Card>().unwrap(), n);
    assert!(holders(&v).iter().all(|(id, h)| h[1..] == id[2..]));
}

#[test]
fn a_page_put_back_from_an_older_copy_is_noticed_when_the_records_changed() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    for id in ["a", "b", "c"] {
        v.put(id, &card(id)).unwrap();
    }
    let db = raw(root.path());
    let page = || -> Vec<u8> {
        db.query_row("SELECT sealed FROM summary_pages", [], |r| r.get(0))
            .unwrap()
    };
    let old = page();
    // A deleted credential's summary back in the list: refused (not listed as if present).
    v.delete::<Card>("b").unwrap();
    db.execute("UPDATE summary_pages SET sealed = ?1", [&old])
        .unwrap();
    assert_eq!(v.list_summaries::<CardSummary>("card").unwrap(), None);
    assert_eq!(v.rebuild_summaries::<Card>().unwrap(), 2);
    assert_eq!(
        holders(&v),
        vec![("a".into(), "a".into()), ("c".into(), "c".into())]
    );
    // A newer credential's summary missing: refused too.
    let two = page();
    v.put("d", &card("d")).unwrap();
    db.execute("UPDATE summary_pages SET sealed = ?1", [&two])
        .unwrap();
    assert_eq!(v.list_summaries::<CardSummary>("card").unwrap(), None);
    assert_eq!(v.rebuild_summaries::<Card>().unwrap(), 3);
    assert_eq!(holders(&v).len(), 3);
}
