//! The vault through the `kluis` command: PINs, back-off across restarts, change-pin, wipe, and no
//! plaintext on disk.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn init_status_and_double_init() {
    let v = TestVault::new();
    let st = v.json(&["status"]);
    assert_eq!(st["unlocked"], true);
    assert_eq!(st["failed_attempts"], 0);
    // Without a PIN, status still tells a locked vault's state.
    let out = v
        .cmd(&["--json", "status"])
        .env_remove("KLUIS_PIN")
        .output()
        .unwrap();
    assert_ok(&out);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["unlocked"], false);
    // A second init on the same dir is refused and changes nothing.
    let out = v.run(&["init", "--dangerous-test-kdf"]);
    let err = assert_fails(&out, 1);
    assert!(err.to_lowercase().contains("already exists"), "{err}");
    assert_eq!(v.json(&["trust", "list"]).as_array().unwrap().len(), 6);
}

#[test]
fn missing_pin_and_missing_vault_are_clear_errors() {
    let v = TestVault::new();
    let out = v.cmd(&["list"]).env_remove("KLUIS_PIN").output().unwrap();
    let err = assert_fails(&out, 2);
    assert!(err.contains("KLUIS_PIN"), "{err}");
    let other = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kluis"))
        .arg("--vault")
        .arg(other.path().join("none"))
        .arg("list")
        .env("KLUIS_PIN", PIN)
        .output()
        .unwrap();
    let err = assert_fails(&out, 1);
    assert!(err.contains("kluis init"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kluis"))
        .arg("no-such-command")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
}

#[test]
fn wrong_pin_is_counted_with_backoff_that_survives_restarts() {
    let v = TestVault::new();
    // Every CLI run is a new process: the counter and back-off live in the vault file.
    let first = v.run_with_pin("000000", &["list"]);
    let err1 = assert_fails(&first, 3);
    assert!(err1.contains("attempts left"), "{err1}");
    let st = v
        .cmd(&["--json", "status"])
        .env_remove("KLUIS_PIN")
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(st["failed_attempts"], 1);

    let mut saw_backoff = false;
    for _ in 0..4 {
        let out = v.run_with_pin("111111", &["list"]);
        let err = assert_fails(&out, 3);
        if err.contains("try again in") || err.contains("wait") {
            saw_backoff = true;
        }
    }
    assert!(saw_backoff, "repeated wrong PINs must trigger back-off");
    // While the back-off runs, even the right PIN is refused with the wait time.
    let st = v
        .cmd(&["--json", "status"])
        .env_remove("KLUIS_PIN")
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let wait = st["retry_after_secs"].as_u64().unwrap();
    if wait > 0 {
        let out = v.run(&["list"]);
        let err = assert_fails(&out, 3);
        assert!(
            err.contains("try again in") || err.contains("wait"),
            "{err}"
        );
        std::thread::sleep(std::time::Duration::from_secs(wait + 1));
    }
    // After the wait, the right PIN works and resets the counter.
    assert_ok(&v.run(&["list"]));
    assert_eq!(v.json(&["status"])["failed_attempts"], 0);
}

#[test]
fn change_pin_then_old_pin_fails_and_data_stays() {
    let v = TestVault::new();
    let samples = v.issue("sanne");
    assert_ok(&v.import(&samples[0].compact));
    let out = v
        .cmd(&["change-pin"])
        .env("KLUIS_NEW_PIN", "99887766")
        .output()
        .unwrap();
    assert_ok(&out);
    assert_fails(&v.run(&["list"]), 3);
    let out = v.run_with_pin("99887766", &["--json", "list"]);
    assert_ok(&out);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // New PIN from stdin with --pin-stdin: first line old PIN, second line new PIN.
    let mut child = v
        .cmd(&["--pin-stdin", "change-pin"])
        .env_remove("KLUIS_PIN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"99887766\n13572468\n")
        .unwrap();
    assert_ok(&child.wait_with_output().unwrap());
    assert_ok(&v.run_with_pin("13572468", &["list"]));
}

#[test]
fn wipe_needs_confirmation_and_removes_everything() {
    let v = TestVault::new();
    assert_fails(&v.run(&["wipe"]), 2);
    assert_ok(&v.run(&["wipe", "--yes"]));
    let left: Vec<_> = std::fs::read_dir(v.dir())
        .map(|rd| rd.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left after wipe: {left:?}");
    assert_fails(&v.run(&["list"]), 1);
}

#[test]
fn vault_files_hold_no_plaintext_after_imports() {
    let v = TestVault::new();
    let mut needles = Vec::new();
    for citizen in ["sanne", "mohamed"] {
        for s in v.issue(citizen) {
            assert_ok(&v.import(&s.compact));
            needles.push(s.vct.clone());
            needles.push(s.holder.iss.clone());
            needles.push(s.holder.name.nl.clone());
        }
        needles.extend(kluis_fixtures::plaintext_needles(
            &kluis_fixtures::citizen(citizen).unwrap(),
        ));
    }
    // Present once so the audit log holds a disclosure with an audience, too.
    let id = v.list_ids()[0].clone();
    assert_ok(&v.run(&[
        "present",
        &id,
        "--claims",
        "/given_name",
        "--nonce",
        "n-1",
        "--aud",
        "https://landlord.example",
    ]));
    needles.push("https://landlord.example".into());
    // Record ids and the vault id are opaque hex tags in the clear; a short numeric needle such
    // as "2025" turns up inside one by chance now and then, so they are blanked before the scan.
    let opaque = opaque_ids(&v);
    assert!(opaque.len() > 10, "{} opaque ids", opaque.len());
    let mut scanned = 0;
    for entry in std::fs::read_dir(v.dir()).unwrap().flatten() {
        let mut data = std::fs::read(entry.path()).unwrap();
        blank(&mut data, &opaque);
        scanned += data.len();
        for n in &needles {
            assert!(
                !data.windows(n.len()).any(|w| w == n.as_bytes()),
                "{:?} holds plaintext {n:?}",
                entry.file_name()
            );
        }
    }
    assert!(scanned > 10_000, "scanned only {scanned} bytes");
    assert!(needles.len() > 40);
}

/// The hex ids the vault keeps unencrypted: the records' tags and the vault's own id.
fn opaque_ids(v: &TestVault) -> Vec<String> {
    let conn = rusqlite::Connection::open_with_flags(
        v.db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut ids: Vec<String> = conn
        .prepare("SELECT id FROM records UNION SELECT vault_id FROM header")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Fixed names such as the audit log's "head" are not personal data and stay scanned.
    ids.retain(|id| id.len() >= 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    ids.sort();
    ids.dedup();
    ids
}

/// Overwrites every occurrence of the given ids with zero bytes.
fn blank(data: &mut [u8], ids: &[String]) {
    for id in ids {
        let n = id.len();
        let mut i = 0;
        while i + n <= data.len() {
            if &data[i..i + n] == id.as_bytes() {
                data[i..i + n].fill(0);
                i += n;
            } else {
                i += 1;
            }
        }
    }
}

/// `kluis forget ENTRY` (the citizen's deletion request, docs/PRESENTING.md "Retention and
/// deletion"; the whole flow against a party is tests/tests/verifier_service.rs): an entry that
/// is no disclosure, or none at all, is refused with the reason and logs nothing.
#[test]
fn forget_refuses_entries_that_are_no_disclosure() {
    let v = TestVault::new();
    let before = v.json(&["log"]).as_array().unwrap().len();
    let err = assert_fails(&v.run(&["forget", "1"]), 2);
    assert!(err.contains("is not a disclosure"), "{err}");
    let out = v.run(&["forget", "999"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("audit entry 999"), "{}", stderr(&out));
    assert_eq!(code(&v.run(&["forget", "x"])), 2, "not an entry id: usage");
    assert_eq!(v.json(&["log"]).as_array().unwrap().len(), before);
}
