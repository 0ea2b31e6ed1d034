//! Helpers for tests that drive the real `kluis` binary against real vaults in temp dirs.
#![allow(dead_code, clippy::unwrap_used, clippy::new_without_default)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const PIN: &str = "271828";

pub struct TestVault {
    pub tmp: tempfile::TempDir,
}

impl TestVault {
    /// A fresh vault (cheap test KDF, short back-off), with the simulated holders trusted.
    pub fn new() -> Self {
        let v = TestVault {
            tmp: tempfile::tempdir().unwrap(),
        };
        let out = v.run(&["init", "--dangerous-test-kdf"]);
        assert_ok(&out);
        for h in kluis_fixtures::holders().unwrap() {
            let f = v.file(
                &format!("{}.jwk", h.id),
                &h.public_jwk().unwrap().to_value().to_string(),
            );
            assert_ok(&v.run(&["trust", "add-issuer", &h.iss, f.to_str().unwrap()]));
        }
        v
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("vault")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kluis"));
        c.arg("--vault")
            .arg(self.dir())
            .args(args)
            .env("KLUIS_PIN", PIN)
            .env_remove("KLUIS_NEW_PIN");
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn run_with_pin(&self, pin: &str, args: &[&str]) -> Output {
        self.cmd(args).env("KLUIS_PIN", pin).output().unwrap()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.run(&a);
        assert_ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Writes a file in the temp dir (outside the vault dir) and returns its path.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn holder_jwk(&self) -> kluis_core::sdjwt::PublicJwk {
        let out = self.run(&["--json", "key"]);
        assert_ok(&out);
        kluis_core::sdjwt::PublicJwk::from_json(std::str::from_utf8(&out.stdout).unwrap().trim())
            .unwrap()
    }

    /// Issues `citizen`'s credentials to this vault's holder key and returns them.
    pub fn issue(&self, citizen: &str) -> Vec<kluis_fixtures::IssuedSample> {
        kluis_fixtures::issue_all_for(citizen, &self.holder_jwk(), kluis_core::now_unix()).unwrap()
    }

    /// Issues `n` distinct DUO credentials (one a second apart) to this vault's key and writes
    /// them to files named `{tag}-{i}.sdjwt`; their paths.
    pub fn credential_files(&self, n: usize, tag: &str) -> Vec<String> {
        let jwk = self.holder_jwk();
        let holder = kluis_fixtures::holder("duo").unwrap();
        let citizen = kluis_fixtures::citizen("sanne").unwrap();
        let now = kluis_core::now_unix();
        (0..n)
            .map(|i| {
                let c = holder
                    .issue(&citizen, "urn:nl:duo:student-debt:1", &jwk, now - i as i64)
                    .unwrap();
                self.file(&format!("{tag}-{i}.sdjwt"), &c)
                    .to_string_lossy()
                    .to_string()
            })
            .collect()
    }

    pub fn import(&self, compact: &str) -> Output {
        let f = self.file(&format!("cred-{}.txt", rand_name()), compact);
        self.run(&["--json", "import", f.to_str().unwrap()])
    }

    pub fn list_ids(&self) -> Vec<String> {
        self.json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn db_path(&self) -> PathBuf {
        find_db(&self.dir())
    }
}

pub fn find_db(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            !name.contains('-')
                && std::fs::read(p)
                    .map(|d| d.starts_with(b"SQLite format 3\0"))
                    .unwrap_or(false)
        })
        .expect("a SQLite database file in the vault dir")
}

pub fn rand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[track_caller]
pub fn assert_ok(out: &Output) {
    assert_eq!(
        code(out),
        0,
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// A clear error: exit code as expected, one line on stderr, no panic or backtrace.
#[track_caller]
pub fn assert_fails(out: &Output, expected_code: i32) -> String {
    let err = stderr(out);
    assert_eq!(code(out), expected_code, "stderr: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic: {err}"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one sentence on stderr: {err}"
    );
    err
}
