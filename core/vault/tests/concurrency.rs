//! Several writers on one vault: threads sharing a handle, threads with their own handles,
//! and separate processes. Every write lands or fails with a clear `Busy`; nothing is lost
//! or corrupted.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::*;
use kluis_vault::*;

const WRITES: usize = 40;

fn write_many(v: &Vault, writer: usize) -> (usize, usize) {
    let (mut ok, mut busy) = (0, 0);
    for i in 0..WRITES {
        let id = format!("w{writer}-{i}");
        let r = if i % 4 == 0 {
            // Some multi-record transactions in the mix.
            v.write(|tx| {
                tx.put(&id, &credential(i))?;
                tx.put(&format!("{id}-s"), &Setting { value: id.clone() })
            })
        } else {
            v.put(&id, &credential(i))
        };
        match r {
            Ok(()) => ok += 1,
            Err(VaultError::Busy) => busy += 1,
            Err(e) => panic!("writer {writer}: unexpected {e:?}"),
        }
    }
    (ok, busy)
}

fn check_all_landed(v: &Vault, writers: usize, busy: usize) {
    let creds = v.list::<Credential>().unwrap();
    assert!(creds.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(
        creds.len() + busy,
        writers * WRITES,
        "every write landed or reported Busy"
    );
    // Multi-record writes are all-or-nothing.
    let settings = v.list::<Setting>().unwrap();
    for (id, s) in settings {
        let base = id.trim_end_matches("-s");
        assert_eq!(s.unwrap().value, base);
        assert!(v.get::<Credential>(base).unwrap().is_some());
    }
}

#[test]
fn threads_sharing_one_handle() {
    let root = tempfile::tempdir().unwrap();
    let v = Arc::new(new_vault(root.path(), test_options()));
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let v = Arc::clone(&v);
            std::thread::spawn(move || write_many(&v, w))
        })
        .collect();
    let busy: usize = handles.into_iter().map(|h| h.join().unwrap().1).sum();
    assert_eq!(busy, 0, "one handle serialises its own writers");
    check_all_landed(&v, 4, 0);
}

#[test]
fn threads_with_their_own_connections() {
    let root = tempfile::tempdir().unwrap();
    drop(new_vault(root.path(), test_options()));
    let root_path: PathBuf = root.path().to_path_buf();
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let root_path = root_path.clone();
            std::thread::spawn(move || {
                let v = reopen(&root_path);
                v.unlock(&pin()).unwrap();
                // Readers run alongside the writers.
                let _ = v.list::<Credential>().unwrap();
                write_many(&v, w)
            })
        })
        .collect();
    let busy: usize = handles.into_iter().map(|h| h.join().unwrap().1).sum();
    let v = reopen(root.path());
    v.unlock(&pin()).unwrap();
    check_all_landed(&v, 4, busy);
}

/// Run by the parent test as a child process (ignored when run directly).
#[test]
#[ignore]
fn child_process_writer() {
    let (Ok(root), Ok(writer)) = (
        std::env::var("KLUIS_CHILD_ROOT"),
        std::env::var("KLUIS_CHILD_WRITER"),
    ) else {
        return;
    };
    let root = PathBuf::from(root);
    let v = reopen(&root);
    v.unlock(&pin()).unwrap();
    let (_, busy) = write_many(&v, writer.parse().unwrap());
    println!("KLUIS_BUSY={busy}");
}

#[test]
fn separate_processes() {
    let root = tempfile::tempdir().unwrap();
    drop(new_vault(root.path(), test_options()));
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|w| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "child_process_writer",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("KLUIS_CHILD_ROOT", root.path())
                .env("KLUIS_CHILD_WRITER", w.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut busy = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        // libtest may print the test name on the same line: find the marker anywhere.
        let at = text.find("KLUIS_BUSY=").expect("child reported") + "KLUIS_BUSY=".len();
        let digits: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        busy += digits.parse::<usize>().unwrap();
    }
    let v = reopen(root.path());
    v.unlock(&pin()).unwrap();
    check_all_landed(&v, 3, busy);
    let integrity: String = raw(root.path())
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn a_held_write_lock_gives_busy_not_corruption() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    v.put("before", &credential(0)).unwrap();
    // Another "process" holds the write lock longer than the busy timeout.
    let blocker = raw(root.path());
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        v.put("during", &credential(1)).err(),
        Some(VaultError::Busy)
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "waited for the busy timeout first"
    );
    // Reads still work while the writer holds the lock (WAL).
    assert_eq!(v.get::<Credential>("before").unwrap(), Some(credential(0)));
    blocker.execute_batch("ROLLBACK").unwrap();
    v.put("after", &credential(2)).unwrap();
    assert_eq!(v.get::<Credential>("during").unwrap(), None);
    assert_eq!(v.list::<Credential>().unwrap().len(), 2);
}
