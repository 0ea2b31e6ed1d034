//! Vaults written by older formats open with this `kluis`, are migrated in place, and show
//! exactly what they showed before, also when the migrating process is killed with SIGKILL at
//! varying moments. Committed fixtures in core/vault/tests/data: format-1 (before the file seal
//! and the summaries: `kluis init` + 10 imports on the main of that day), format-3 (per-record
//! summaries: that file migrated and listed by the main before summary pages, with that main's
//! `list`, `overview` and `log` output beside it) and format-4 (summary pages of 128 records in
//! JSON: the format-3 file migrated and listed by the main before compact pages, likewise).
#![allow(clippy::unwrap_used)]

mod common;
use std::path::Path;
use std::process::Stdio;

use common::*;

/// The format this `kluis` writes.
const FORMAT: i64 = 5;

fn fixture(format: u32) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../core/vault/tests/data/format-{format}"))
}

fn old_vault(format: u32) -> TestVault {
    let v = TestVault {
        tmp: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(v.dir()).unwrap();
    for e in std::fs::read_dir(fixture(format)).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            continue;
        }
        std::fs::copy(&p, v.dir().join(p.file_name().unwrap())).unwrap();
    }
    v
}

/// What the fixture's `kluis` printed, with the fields added since stripped as from `out`
/// (format 4's `kluis` printed `needs_reissuance` already).
fn expected(format: u32, name: &str) -> serde_json::Value {
    as_printed_then(
        serde_json::from_slice(&std::fs::read(fixture(format).join(name)).unwrap()).unwrap(),
    )
}

/// Output fields added after the fixtures were made, with the value every migrated credential
/// must have: dropped before comparing with what the old `kluis` printed.
const ADDED_SINCE: &[(&str, serde_json::Value)] =
    &[("needs_reissuance", serde_json::Value::Bool(false))];

/// Overview amounts became integer cents after the fixtures were made (they printed euros):
/// the new name and the old one.
const CENTS_SINCE: &[(&str, &str)] = &[
    ("total_cents", "total_eur"),
    ("amount_cents", "amount_eur"),
    ("monthly_payment_cents", "monthly_payment_eur"),
];

/// `out` as the fixture's `kluis` would have printed it: the fields added since removed where
/// they hold their expected value (any other value stays and fails the comparison), cents as
/// the euros printed then.
fn as_printed_then(mut out: serde_json::Value) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, want) in ADDED_SINCE {
                    if m.get(*k) == Some(want) {
                        m.remove(*k);
                    }
                }
                for (cents, eur) in CENTS_SINCE {
                    if let Some(c) = m.remove(*cents) {
                        let euros = c.as_i64().map(|c| serde_json::json!(c as f64 / 100.0));
                        m.insert(eur.to_string(), euros.unwrap_or(c));
                    }
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut out);
    out
}

fn user_version(v: &TestVault) -> i64 {
    rusqlite::Connection::open(v.db_path())
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn summary_pages(v: &TestVault) -> i64 {
    rusqlite::Connection::open(v.db_path())
        .unwrap()
        .query_row("SELECT COUNT(*) FROM summary_pages", [], |r| r.get(0))
        .unwrap()
}

/// How many summary pages the credentials need: the ranges of 32 `seq`s (kluis-vault's
/// PAGE_ENTRIES) that hold one.
fn credential_ranges(v: &TestVault) -> i64 {
    rusqlite::Connection::open(v.db_path())
        .unwrap()
        .query_row(
            "SELECT COUNT(DISTINCT seq / 32) FROM records WHERE kind = 'credential'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn opens_migrated_with_the_same_list_overview_and_log(format: u32) {
    let v = old_vault(format);
    assert_eq!(user_version(&v), i64::from(format));
    assert_eq!(
        as_printed_then(v.json(&["list"])),
        expected(format, "list.json")
    );
    assert_eq!(user_version(&v), FORMAT);
    assert_eq!(
        as_printed_then(v.json(&["overview"])),
        expected(format, "overview.json")
    );
    assert_eq!(
        as_printed_then(v.json(&["log"])),
        expected(format, "log.json")
    );
    // The summaries of the 10 credentials were written, one page per range of their `seq`s that
    // holds one; the old table is gone.
    assert!(credential_ranges(&v) >= 1);
    assert_eq!(summary_pages(&v), credential_ranges(&v));
    let old: i64 = rusqlite::Connection::open(v.db_path())
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'summaries'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0);
    // And it stays usable: a delete removes the summary with the credential.
    let id = expected(format, "list.json")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ok(&v.run(&["delete", &id]));
    assert_eq!(v.list_ids().len(), 9);
    assert_eq!(v.json(&["list"]).as_array().unwrap().len(), 9);
}

#[test]
fn format_1_vault_opens_migrated_with_the_same_list_overview_and_log() {
    opens_migrated_with_the_same_list_overview_and_log(1);
}

#[test]
fn format_3_vault_opens_migrated_with_the_same_list_overview_and_log() {
    opens_migrated_with_the_same_list_overview_and_log(3);
}

#[test]
fn format_4_vault_opens_migrated_with_the_same_list_overview_and_log() {
    opens_migrated_with_the_same_list_overview_and_log(4);
}

fn sigkill_during_the_migration_leaves_a_vault_that_opens_whole(format: u32) {
    for delay_ms in [0u64, 1, 3, 6, 10, 20, 40, 80] {
        let v = old_vault(format);
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
            as_printed_then(v.json(&["list"])),
            expected(format, "list.json"),
            "killed after {delay_ms} ms"
        );
        assert_eq!(
            as_printed_then(v.json(&["log"])),
            expected(format, "log.json")
        );
        assert_eq!(user_version(&v), FORMAT);
        assert_eq!(summary_pages(&v), credential_ranges(&v));
    }
}

#[test]
fn sigkill_during_the_migration_from_format_1_leaves_a_vault_that_opens_whole() {
    sigkill_during_the_migration_leaves_a_vault_that_opens_whole(1);
}

#[test]
fn sigkill_during_the_migration_from_format_3_leaves_a_vault_that_opens_whole() {
    sigkill_during_the_migration_leaves_a_vault_that_opens_whole(3);
}

#[test]
fn sigkill_during_the_migration_from_format_4_leaves_a_vault_that_opens_whole() {
    sigkill_during_the_migration_leaves_a_vault_that_opens_whole(4);
}
