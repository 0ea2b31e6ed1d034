//! `kluis backup` / `kluis restore` as a citizen runs them: the recovery words shown once at
//! `init`, a backup, the vault wiped, the backup restored into a new vault (another device secret,
//! another PIN) with `list`, `overview` and `log` as before plus one "restored" entry; typed exit
//! codes for wrong words, a damaged file and a foreign vault; SIGKILL at varying moments of a
//! backup and of a restore, and a full disk (RLIMIT_FSIZE through `prlimit`, SIGXFSZ ignored),
//! leave the old state: the old backup whole, no vault or a complete one.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

const NEW_PIN: &str = "577215";

/// A vault made with `kluis --json init`, the holders trusted, `citizen`'s credentials imported
/// and `extra` more DUO credentials; with the recovery words `init` showed.
fn wallet(citizen: &str, extra: usize) -> (TestVault, String) {
    let v = TestVault {
        tmp: tempfile::tempdir().unwrap(),
    };
    let init = v.json(&["init", "--dangerous-test-kdf"]);
    let words = init["recovery_words"].as_str().unwrap().to_string();
    assert_eq!(words.split(' ').count(), 12);
    for h in kluis_fixtures::holders().unwrap() {
        let f = v.file(
            &format!("{}.jwk", h.id),
            &h.public_jwk().unwrap().to_value().to_string(),
        );
        assert_ok(&v.run(&["trust", "add-issuer", &h.iss, f.to_str().unwrap()]));
    }
    for c in v.issue(citizen) {
        assert_ok(&v.import(&c.compact));
    }
    if extra > 0 {
        let files = v.credential_files(extra, "extra");
        let mut args = vec!["--json", "import"];
        args.extend(files.iter().map(String::as_str));
        assert_ok(&v.run(&args));
    }
    (v, words)
}

/// `kluis --vault DIR restore FILE` with these words and PIN.
fn restore_cmd(dir: &Path, file: &Path, words: &str, pin: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kluis"));
    c.arg("--vault")
        .arg(dir)
        .arg("restore")
        .arg(file)
        .arg("--dangerous-test-kdf")
        .env("KLUIS_RECOVERY_WORDS", words)
        .env("KLUIS_PIN", pin)
        .stdin(Stdio::null());
    c
}

fn restore(dir: &Path, file: &Path, words: &str) -> Output {
    restore_cmd(dir, file, words, NEW_PIN).output().unwrap()
}

/// `kluis --json ARGS` on the vault in `dir` with the new PIN.
fn json_at(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kluis"))
        .arg("--vault")
        .arg(dir)
        .arg("--json")
        .args(args)
        .env("KLUIS_PIN", NEW_PIN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn vault_in(dir: &Path) -> bool {
    dir.join("vault.sqlite3").is_file()
}

#[test]
fn backup_wipe_restore_gives_the_same_wallet_with_its_log_extended() {
    let (v, words) = wallet("sanne", 0);
    let file = v.tmp.path().join("wallet.kbak");
    let made = v.json(&["backup", "--out", file.to_str().unwrap()]);
    assert!(made["backup"]["credentials"].as_u64().unwrap() >= 3);
    let list = v.json(&["list"]);
    let overview = v.json(&["overview"]);
    let log = v.json(&["log"]);
    let log = log.as_array().unwrap();
    assert_eq!(log.last().unwrap()["event"]["type"], "backup_made");
    assert_ok(&v.run(&["wipe", "--yes"]));

    let new = tempfile::tempdir().unwrap();
    let dir = new.path().join("vault");
    let out = restore(&dir, &file, &words);
    assert_ok(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("Restored "), "{said}");
    assert!(!said.contains("To collect again"), "{said}");
    assert_eq!(json_at(&dir, &["list"]), list);
    assert_eq!(json_at(&dir, &["overview"]), overview);
    let after = json_at(&dir, &["log"]);
    let after = after.as_array().unwrap();
    assert_eq!(after.len(), log.len());
    assert_eq!(after[..log.len() - 1], log[..log.len() - 1]);
    assert_eq!(after.last().unwrap()["event"]["type"], "restored");
    // The old PIN does not open the new vault.
    let old_pin = Command::new(env!("CARGO_BIN_EXE_kluis"))
        .arg("--vault")
        .arg(&dir)
        .arg("list")
        .env("KLUIS_PIN", PIN)
        .output()
        .unwrap();
    assert_eq!(code(&old_pin), 3);

    // Twice: nothing changes.
    let again = restore(&dir, &file, &words);
    assert_ok(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already restored"));
    assert_eq!(
        json_at(&dir, &["log"]).as_array().unwrap().len(),
        after.len()
    );
}

#[test]
fn wrong_words_damaged_files_and_foreign_vaults_have_their_exit_codes() {
    let (v, words) = wallet("daan", 0);
    let file = v.tmp.path().join("w.kbak");
    assert_ok(&v.run(&["backup", "--out", file.to_str().unwrap()]));
    let (other, other_words) = wallet("sanne", 0);
    let fresh = tempfile::tempdir().unwrap();
    let dir = fresh.path().join("vault");

    // Words of another wallet: 3, like a wrong PIN. Not 12 list words: 2.
    let out = restore(&dir, &file, &other_words);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("recovery secret does not open this backup"));
    let out = restore(&dir, &file, "one two three");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let bytes = std::fs::read(&file).unwrap();
    // Cut short, or one byte of the contents changed: 4.
    for (name, damaged) in [
        ("cut", bytes[..bytes.len() / 2].to_vec()),
        ("edited", {
            let mut b = bytes.clone();
            let last = b.len() - 20;
            b[last] ^= 0x80;
            b
        }),
        ("not a backup", b"hello".to_vec()),
    ] {
        let f = fresh.path().join(name);
        std::fs::write(&f, damaged).unwrap();
        let out = restore(&dir, &f, &words);
        assert_eq!(code(&out), 4, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains("Backup unusable"), "{}", stderr(&out));
        assert_eq!(stderr(&out).trim().lines().count(), 1);
    }
    assert!(!vault_in(&dir), "a failed restore left a vault");
    // Over another wallet's vault: refused (2), that vault as it was.
    let before = other.json(&["log"]);
    let out = restore_cmd(&other.dir(), &file, &words, PIN)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("another wallet"), "{}", stderr(&out));
    assert_eq!(other.json(&["log"]), before);
    // Over its own wallet's vault: never overwritten (1).
    let out = restore_cmd(&v.dir(), &file, &words, PIN).output().unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // `recovery-secret` will not silently replace the words.
    assert_eq!(code(&v.run(&["recovery-secret"])), 2);
    let replaced = v.json(&["recovery-secret", "--replace"]);
    assert_ne!(replaced["recovery_words"].as_str().unwrap(), words);
    // The backup made before still opens with the old words.
    assert_ok(&restore(&dir, &file, &words));
}

/// Runs `cmd`, kills it with SIGKILL after `delay` (if still running), and waits.
fn kill_after(mut cmd: Command, delay: Duration) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn sigkill_during_backup_and_restore_leaves_the_old_state() {
    let (v, words) = wallet("sanne", 300);
    let expected = ids(&v.json(&["list"]));
    let file: PathBuf = v.tmp.path().join("w.kbak");
    assert_ok(&v.run(&["backup", "--out", file.to_str().unwrap()]));
    let first = std::fs::read(&file).unwrap();
    for ms in [0, 5, 15, 30, 60, 100, 200] {
        kill_after(
            v.cmd(&["backup", "--out", file.to_str().unwrap()]),
            Duration::from_millis(ms),
        );
        // The file at the path is the old backup or a complete new one, never a part.
        let now = std::fs::read(&file).unwrap();
        let check = tempfile::tempdir().unwrap();
        let out = restore(&check.path().join("v"), &file, &words);
        assert_ok(&out);
        if now != first {
            assert_eq!(ids(&json_at(&check.path().join("v"), &["list"])), expected);
        }
    }
    // SIGKILL during restore: no vault, or the whole one; a second restore finishes the job.
    for ms in [0, 5, 15, 30, 60, 100, 200, 400] {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("vault");
        kill_after(
            restore_cmd(&dir, &file, &words, NEW_PIN),
            Duration::from_millis(ms),
        );
        if vault_in(&dir) {
            assert_eq!(
                ids(&json_at(&dir, &["list"])),
                expected,
                "killed after {ms} ms"
            );
        }
        assert_ok(&restore(&dir, &file, &words));
        assert_eq!(ids(&json_at(&dir, &["list"])), expected);
        json_at(&dir, &["log"]);
        // What a killed restore left behind is gone: one vault, one device secret.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        assert!(!names.iter().any(|n| n.contains("restoring")), "{names:?}");
        let keys = names.iter().filter(|n| n.ends_with(".device.key")).count();
        assert_eq!(keys, 1, "{names:?}");
    }
}

/// `inner` with every file it writes limited to `bytes`, SIGXFSZ ignored (writes fail with
/// EFBIG, as on a full disk).
fn limited(bytes: u64, inner: Command) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("trap '' XFSZ; exec prlimit --fsize=\"$0\" -- \"$@\"")
        .arg(bytes.to_string())
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, val) in inner.get_envs() {
        match val {
            Some(val) => c.env(k, val),
            None => c.env_remove(k),
        };
    }
    c.stdin(Stdio::null());
    c
}

#[test]
fn a_full_disk_during_backup_and_restore_is_a_clear_error_that_changes_nothing() {
    // Larger than the limit below; each kluis process checkpoints and removes the WAL when it
    // ends, so unlocking writes only a few pages at its start, under the limit.
    let (v, words) = wallet("daan", 100);
    let file = v.tmp.path().join("w.kbak");
    assert_ok(&v.run(&["backup", "--out", file.to_str().unwrap()]));
    let first = std::fs::read(&file).unwrap();
    let log_len = v.json(&["log"]).as_array().unwrap().len();
    assert!(first.len() > 160 * 1024);
    let out = limited(
        128 * 1024,
        v.cmd(&["backup", "--out", file.to_str().unwrap()]),
    )
    .output()
    .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Not enough space"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).trim().lines().count(), 1);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        first,
        "the old backup was touched"
    );
    let left: Vec<_> = std::fs::read_dir(v.tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left");
    // Not logged as made.
    assert_eq!(v.json(&["log"]).as_array().unwrap().len(), log_len);

    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("vault");
    for limit in [2048, 16 * 1024, 64 * 1024] {
        let out = limited(limit, restore_cmd(&dir, &file, &words, NEW_PIN))
            .output()
            .unwrap();
        assert_eq!(code(&out), 1, "limit {limit}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains("disk") || err.contains("storage") || err.contains("space"),
            "limit {limit}: {err}"
        );
        assert!(!vault_in(&dir), "limit {limit}: a half-restored vault");
    }
    assert_ok(&restore(&dir, &file, &words));
}
