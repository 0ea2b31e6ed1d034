//! Fault injection on the real `kluis` binary: the disk fills up (RLIMIT_FSIZE set with
//! `prlimit`, SIGXFSZ ignored so writes fail with EFBIG as on a full disk) during imports and
//! PIN changes, and the process is killed (SIGKILL) at varying moments of a PIN change.
//! After each fault, with no limit: everything reported saved is there, the vault opens, the
//! audit chain holds, exactly one of the old and new PIN works, and the error the user saw was
//! one clear sentence. (SIGKILL during imports: crash_cli.rs.)
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod common;
use std::io::BufRead;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// `kluis --vault … ARGS` with every file it writes limited to `bytes`, SIGXFSZ ignored.
fn limited(v: &TestVault, bytes: u64, pin: &str, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("trap '' XFSZ; exec prlimit --fsize=\"$0\" -- \"$@\"")
        .arg(bytes.to_string())
        .arg(env!("CARGO_BIN_EXE_kluis"))
        .arg("--vault")
        .arg(v.dir())
        .args(args)
        .env("KLUIS_PIN", pin)
        .env_remove("KLUIS_NEW_PIN")
        .stdin(Stdio::null());
    c
}

/// Largest file in the vault directory (the database or its WAL).
fn largest_file(v: &TestVault) -> u64 {
    std::fs::read_dir(v.dir())
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// A failure the user can act on: a clean exit (no signal, no panic), one sentence.
fn assert_clear_failure(out: &Output, what: &str) {
    let err = stderr(out);
    let code = code(out);
    assert!(
        code == 1,
        "{what}: expected exit 1 (other failure), got {code}: {err}"
    );
    assert!(!err.contains("panicked"), "{what}: panic: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{what}: one sentence: {err}");
    assert!(
        err.contains("disk") || err.contains("storage"),
        "{what}: the error should say it is the storage: {err}"
    );
}

/// Ids `kluis --json import` reported saved (one file: one pretty object; more: one line each).
fn ids(out: &[u8]) -> Vec<String> {
    if let Ok(one) = serde_json::from_slice::<serde_json::Value>(out) {
        return vec![one["id"].as_str().unwrap().to_string()];
    }
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| {
            let s: serde_json::Value = serde_json::from_str(l).unwrap();
            s["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn disk_full_during_imports_loses_nothing_reported_saved() {
    let v = TestVault::new();
    let files = v.credential_files(120, "full");
    let mut reported = ids(&v.run(&["--json", "import", &files[0]]).stdout);
    let mut failures = 0;
    let mut messages = Vec::new();
    // Limits from below the current file size (even opening may fail) to a few pages above
    // it (some imports land, then one fails half-way through its transaction).
    let base = largest_file(&v);
    for (round, limit) in [
        base / 2,
        base,
        base + 20_000,
        base + 70_000,
        base + 150_000,
        base + 400_000,
    ]
    .into_iter()
    .enumerate()
    {
        let batch = &files[1 + round * 15..1 + (round + 1) * 15];
        let mut args = vec!["--json", "import"];
        args.extend(batch.iter().map(String::as_str));
        let out = limited(&v, limit, PIN, &args).output().unwrap();
        reported.extend(ids(&out.stdout));
        if code(&out) != 0 {
            failures += 1;
            assert_clear_failure(&out, &format!("import with files limited to {limit} B"));
            messages.push(stderr(&out).trim().to_string());
        }
        // Without the limit: everything reported is there, and the vault is whole.
        let stored = v.list_ids();
        for id in &reported {
            assert!(
                stored.contains(id),
                "{id} was reported saved, gone after a full disk"
            );
        }
        assert!(
            stored.len() <= reported.len(),
            "stored {} > reported {}",
            stored.len(),
            reported.len()
        );
        assert_ok(&v.run(&["status"]));
        assert_ok(&v.run(&["log"]));
    }
    assert!(
        failures >= 2,
        "the limits never made a write fail: {failures} failures"
    );
    eprintln!("disk-full import errors seen: {messages:#?}");
    // Control: the same wrapper with room to spare imports the rest, so the failures above
    // came from the limit and not from the wrapper.
    let rest = &files[91..];
    let mut args = vec!["--json", "import"];
    args.extend(rest.iter().map(String::as_str));
    let out = limited(&v, base + (256 << 20), PIN, &args)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(ids(&out.stdout).len(), rest.len());
}

/// Exactly one of the two PINs opens the vault; returns whether the new one does.
fn which_pin_works(v: &TestVault, old: &str, new: &str) -> bool {
    let with_new = v.run_with_pin(new, &["status"]);
    let new_ok = code(&with_new) == 0;
    let with_old = v.run_with_pin(old, &["status"]);
    let old_ok = code(&with_old) == 0;
    assert!(
        new_ok != old_ok,
        "after a fault exactly one PIN must work: old {old_ok}, new {new_ok}; {} / {}",
        stderr(&with_old),
        stderr(&with_new)
    );
    // Reset the wrong-PIN counter with the right PIN.
    assert_ok(&v.run_with_pin(if new_ok { new } else { old }, &["status"]));
    new_ok
}

#[test]
fn disk_full_during_pin_change_leaves_one_working_pin() {
    let v = TestVault::new();
    let files = v.credential_files(20, "pin");
    let mut args = vec!["--json", "import"];
    args.extend(files.iter().map(String::as_str));
    let saved = ids(&v.run(&args).stdout);
    assert_eq!(saved.len(), 20);

    let pins = [
        "314159", "161803", "141421", "273205", "223606", "244948", "264575",
    ];
    let mut current = PIN.to_string();
    let mut failures = 0;
    let base = largest_file(&v);
    for (i, limit) in [
        0,
        base / 4,
        base / 2,
        base,
        base + 8_000,
        base + 40_000,
        u64::MAX / 4,
    ]
    .into_iter()
    .enumerate()
    {
        let next = pins[i];
        let out = limited(&v, limit, &current, &["change-pin"])
            .env("KLUIS_NEW_PIN", next)
            .output()
            .unwrap();
        if code(&out) == 0 {
            assert!(
                which_pin_works(&v, &current, next),
                "change-pin said done, old PIN works"
            );
            current = next.to_string();
        } else {
            failures += 1;
            assert_clear_failure(&out, &format!("change-pin with files limited to {limit} B"));
            if which_pin_works(&v, &current, next) {
                current = next.to_string(); // failed after commit (e.g. the checkpoint): fine
            }
        }
        let stored = v
            .cmd(&["--json", "list"])
            .env("KLUIS_PIN", &current)
            .output()
            .unwrap();
        assert_ok(&stored);
        let stored = ids_of_list(&stored.stdout);
        for id in &saved {
            assert!(
                stored.contains(id),
                "{id} lost after a PIN change on a full disk"
            );
        }
    }
    assert!(failures >= 1, "no limit made the PIN change fail");
    assert_eq!(current, pins[6], "the last change, with room, went through");
}

fn ids_of_list(out: &[u8]) -> Vec<String> {
    serde_json::from_slice::<serde_json::Value>(out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sigkill_during_pin_change_leaves_one_working_pin() {
    let v = TestVault::new();
    let files = v.credential_files(5, "kill");
    let mut args = vec!["--json", "import"];
    args.extend(files.iter().map(String::as_str));
    let saved = ids(&v.run(&args).stdout);
    let mut current = PIN.to_string();
    let mut changed = 0;
    let mut killed = 0;
    for i in 0..24u64 {
        let next = format!("{:06}", 500_000 + i);
        let mut child = v
            .cmd(&["change-pin"])
            .env("KLUIS_PIN", &current)
            .env("KLUIS_NEW_PIN", &next)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each round: before, during and after the change.
        std::thread::sleep(Duration::from_micros(i * 700));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let printed: Vec<String> = std::io::BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .collect();
        if status.code().is_none() {
            killed += 1;
        }
        let new_works = which_pin_works(&v, &current, &next);
        if !printed.is_empty() {
            assert!(
                new_works,
                "change-pin reported done but the new PIN does not work"
            );
        }
        if new_works {
            current = next;
            changed += 1;
        }
        let out = v
            .cmd(&["--json", "list"])
            .env("KLUIS_PIN", &current)
            .output()
            .unwrap();
        assert_ok(&out);
        let stored = ids_of_list(&out.stdout);
        assert_eq!(stored.len(), saved.len());
    }
    assert!(killed > 0, "no run was killed");
    eprintln!("SIGKILL during change-pin: {killed} killed, {changed} changes landed of 24");
}
