//! Tampering with the vault file: a flipped byte, swapped ciphertexts, a truncated file. Each gives
//! exit code 4 and a sentence naming the record; the other records still open; nothing panics.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

fn vault_with_credentials() -> (TestVault, Vec<String>) {
    let v = TestVault::new();
    for s in v.issue("mohamed") {
        assert_ok(&v.import(&s.compact));
    }
    let ids = v.list_ids();
    assert_eq!(ids.len(), 5);
    (v, ids)
}

fn sql(v: &TestVault) -> rusqlite::Connection {
    rusqlite::Connection::open(v.db_path()).unwrap()
}

fn sealed(conn: &rusqlite::Connection, id: &str) -> Vec<u8> {
    conn.query_row(
        "SELECT sealed FROM records WHERE kind = 'credential' AND id = ?1",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

fn set_sealed(conn: &rusqlite::Connection, id: &str, blob: &[u8]) {
    let n = conn
        .execute(
            "UPDATE records SET sealed = ?1 WHERE kind = 'credential' AND id = ?2",
            rusqlite::params![blob, id],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn flipped_byte_names_the_record_and_others_still_open() {
    let (v, ids) = vault_with_credentials();
    {
        let conn = sql(&v);
        let mut blob = sealed(&conn, &ids[2]);
        let mid = blob.len() / 2;
        blob[mid] ^= 0x01;
        set_sealed(&conn, &ids[2], &blob);
    }
    let err = assert_fails(&v.run(&["show", &ids[2]]), 4);
    assert!(err.contains(&ids[2]), "the error names the record: {err}");
    for (i, id) in ids.iter().enumerate() {
        if i != 2 {
            assert_ok(&v.run(&["show", id]));
        }
    }
    // The overview refuses to pretend all is well.
    assert_fails(&v.run(&["list"]), 4);
}

#[test]
fn swapped_ciphertexts_fail_to_open() {
    let (v, ids) = vault_with_credentials();
    {
        let conn = sql(&v);
        let (a, b) = (sealed(&conn, &ids[0]), sealed(&conn, &ids[1]));
        set_sealed(&conn, &ids[0], &b);
        set_sealed(&conn, &ids[1], &a);
    }
    for id in &ids[..2] {
        let err = assert_fails(&v.run(&["show", id]), 4);
        assert!(err.contains(id.as_str()), "{err}");
    }
    for id in &ids[2..] {
        assert_ok(&v.run(&["show", id]));
    }
}

#[test]
fn record_moved_to_another_kind_fails() {
    let (v, ids) = vault_with_credentials();
    {
        let conn = sql(&v);
        // Relabel a credential as a trusted issuer entry: the AD binds the kind.
        let blob = sealed(&conn, &ids[0]);
        let n = conn
            .execute("UPDATE records SET sealed = ?1 WHERE kind = 'trusted_issuer' AND seq = (SELECT MIN(seq) FROM records WHERE kind = 'trusted_issuer')", [blob])
            .unwrap();
        assert_eq!(n, 1);
    }
    assert_fails(&v.run(&["trust", "list"]), 4);
    // The credentials themselves still open (showing one re-verifies it against the trust
    // store, which is now broken, so that refuses too: a broken trust store is not trusted).
    assert_eq!(v.list_ids(), ids);
}

#[test]
fn truncated_file_is_an_integrity_error() {
    let (v, _ids) = vault_with_credentials();
    {
        let conn = sql(&v);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let db = v.db_path();
    let len = std::fs::metadata(&db).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    assert_fails(&v.run(&["list"]), 4);
    // A file cut to a few bytes, or garbage, is not taken for a vault either.
    std::fs::write(&db, b"SQLite format 3\0garbage").unwrap();
    assert_fails(&v.run(&["list"]), 4);
}

#[test]
fn deleted_audit_entry_breaks_the_chain() {
    let (v, _ids) = vault_with_credentials();
    {
        let conn = sql(&v);
        let n = conn
            .execute("DELETE FROM records WHERE seq = (SELECT seq FROM records WHERE kind = 'audit' ORDER BY seq LIMIT 1 OFFSET 2)", [])
            .unwrap();
        assert_eq!(n, 1);
    }
    let err = assert_fails(&v.run(&["log"]), 4);
    assert!(err.contains("audit"), "{err}");
}
