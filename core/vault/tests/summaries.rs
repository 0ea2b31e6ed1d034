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
    raw(root.path())
        .execute("DELETE FROM summaries WHERE id = 'id2'", [])
        .unwrap();
    assert_eq!(v.list_summaries::<CardSummary>("card").unwrap(), None);
    assert_eq!(v.rebuild_summaries::<Card>().unwrap(), 5);
    assert_eq!(holders(&v).len(), 5);
    assert_eq!(holders(&v)[2], ("id2".into(), "h2".into()));
}

#[test]
fn edited_or_swapped_summaries_fail_that_entry_only() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    for id in ["a", "b", "c"] {
        v.put(id, &card(id)).unwrap();
    }
    let db = raw(root.path());
    let get = |id: &str| -> Vec<u8> {
        db.query_row("SELECT sealed FROM summaries WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let (a, c) = (get("a"), get("c"));
    db.execute("UPDATE summaries SET sealed = ?1 WHERE id = 'a'", [&c])
        .unwrap();
    let mut flipped = get("b");
    flipped[30] ^= 1;
    db.execute(
        "UPDATE summaries SET sealed = ?1 WHERE id = 'b'",
        [&flipped],
    )
    .unwrap();
    // A record's own ciphertext is not a summary either.
    let rec: Vec<u8> = db
        .query_row("SELECT sealed FROM records WHERE id = 'c'", [], |r| {
            r.get(0)
        })
        .unwrap();
    db.execute("UPDATE summaries SET sealed = ?1 WHERE id = 'c'", [&rec])
        .unwrap();
    let listed = v.list_summaries::<CardSummary>("card").unwrap().unwrap();
    for (id, r) in &listed {
        assert!(
            matches!(r, Err(VaultError::Integrity { id: i, .. }) if i == id),
            "{id}: {r:?}"
        );
    }
    drop(a);
    // The records themselves still open.
    assert_eq!(v.get::<Card>("a").unwrap(), Some(card("a")));
}
