//! Crash safety and concurrency: a `kluis import` killed with SIGKILL in the middle of 1,000
//! imports loses nothing it reported saved; two processes on one vault give correct results or a
//! clear "busy", never corruption.
#![allow(clippy::unwrap_used)]

mod common;
use std::io::BufRead;
use std::process::Stdio;

use common::*;

/// Starts `kluis --json import FILES...`, reads the ids it reports as saved, and kills it with
/// SIGKILL once `kill_after` ids were reported (or lets it finish). Returns the reported ids.
fn import_and_kill(v: &TestVault, files: &[String], kill_after: Option<usize>) -> Vec<String> {
    let mut args = vec!["--json", "import"];
    args.extend(files.iter().map(String::as_str));
    let mut child = v
        .cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reported = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let s: serde_json::Value = serde_json::from_str(&line).unwrap();
        reported.push(s["id"].as_str().unwrap().to_string());
        if Some(reported.len()) == kill_after {
            child.kill().unwrap(); // SIGKILL on Unix
            break;
        }
    }
    let _ = child.wait();
    reported
}

#[test]
fn sigkill_during_1000_imports_loses_nothing_reported_saved() {
    let v = TestVault::new();
    let files = v.credential_files(1000, "crash");
    let mut reported = Vec::new();
    // Three runs over disjoint slices, each killed part-way; the last runs to completion.
    reported.extend(import_and_kill(&v, &files[..400], Some(137)));
    reported.extend(import_and_kill(&v, &files[400..800], Some(251)));
    let killed_runs = reported.len();
    assert_eq!(killed_runs, 137 + 251);
    let stored = v.list_ids();
    for id in &reported {
        assert!(
            stored.contains(id),
            "import {id} was reported saved but is gone after SIGKILL"
        );
    }
    // At most the one import in flight at the kill may have landed without being reported.
    assert!(
        stored.len() <= reported.len() + 2,
        "{} stored, {} reported",
        stored.len(),
        reported.len()
    );
    reported.extend(import_and_kill(&v, &files[800..], None));
    let stored = v.list_ids();
    for id in &reported {
        assert!(stored.contains(id));
    }
    // The vault is whole: every record opens, the audit chain holds.
    let log = v.json(&["log"]);
    assert!(log.as_array().unwrap().len() >= stored.len());
    assert_ok(&v.run(&["status"]));
}

#[test]
fn two_processes_on_one_vault_never_corrupt_it() {
    let v = TestVault::new();
    let a = v.credential_files(60, "a");
    let b = v.credential_files(60, "b");
    let spawn = |files: &[String]| {
        let mut args = vec!["--json", "import"];
        args.extend(files.iter().map(String::as_str));
        v.cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ca, cb) = (spawn(&a), spawn(&b));
    let (oa, ob) = (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    );
    let mut reported = Vec::new();
    for out in [&oa, &ob] {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let s: serde_json::Value = serde_json::from_str(line).unwrap();
            reported.push(s["id"].as_str().unwrap().to_string());
        }
        if code(out) != 0 {
            let err = assert_fails(out, 1);
            assert!(
                err.to_lowercase().contains("busy"),
                "only 'busy' is an acceptable failure: {err}"
            );
        }
    }
    let stored = v.list_ids();
    assert_eq!(
        stored.len(),
        reported.len(),
        "stored exactly what was reported"
    );
    for id in &reported {
        assert!(stored.contains(id));
    }
    // Audit log chain intact after interleaved writers.
    assert_ok(&v.run(&["log"]));
}
