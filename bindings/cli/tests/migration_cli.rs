//! A vault written by format 1 (before the file seal and the summaries; committed fixture
//! core/vault/tests/data/format-1, made by `kluis init` + 10 imports on the main of that day)
//! opens with this `kluis`, is migrated in place, and shows exactly what it showed before, also
//! when the migrating process is killed with SIGKILL at varying moments.
#![allow(clippy::unwrap_used)]

mod common;
use std::path::Path;
use std::process::Stdio;

use common::*;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../core/vault/tests/data/format-1")
}

fn format_1_vault() -> TestVault {
    let v = TestVault {
        tmp: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(v.dir()).unwrap();
    for e in std::fs::read_dir(fixture()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            continue;
        }
        std::fs::copy(&p, v.dir().join(p.file_name().unwrap())).unwrap();
    }
    v
}

fn expected(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture().join(name)).unwrap()).unwrap()
}

fn user_version(v: &TestVault) -> i64 {
    rusqlite::Connection::open(v.db_path())
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn format_1_vault_opens_migrated_with_the_same_list_overview_and_log() {
    let v = format_1_vault();
    assert_eq!(user_version(&v), 1);
    assert_eq!(v.json(&["list"]), expected("list.json"));
    assert_eq!(user_version(&v), 3);
    assert_eq!(v.json(&["overview"]), expected("overview.json"));
    assert_eq!(v.json(&["log"]), expected("log.json"));
    // Summaries were written for every credential, once.
    let n: i64 = rusqlite::Connection::open(v.db_path())
        .unwrap()
        .query_row("SELECT COUNT(*) FROM summaries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 10);
    // And it stays usable: a delete removes the summary with the credential.
    let id = expected("list.json")[0]["id"].as_str().unwrap().to_string();
    assert_ok(&v.run(&["delete", &id]));
    assert_eq!(v.list_ids().len(), 9);
}

#[test]
fn sigkill_during_the_migration_leaves_a_vault_that_opens_whole() {
    for delay_ms in [0u64, 1, 3, 6, 10, 20, 40, 80] {
        let v = format_1_vault();
        let mut child = v
            .cmd(&["--json", "list"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        assert_eq!(
            v.json(&["list"]),
            expected("list.json"),
            "killed after {delay_ms} ms"
        );
        assert_eq!(v.json(&["log"]), expected("log.json"));
        assert_eq!(user_version(&v), 3);
    }
}
