//! The binaries as people run them: `kluis` and `kluis-fixtures` from the target directory the
//! test was built in, a `kluis` vault driven through the binary ([`KluisVault`]),
//! `kluis-fixtures verifiers` as a child process with its announced lines read, and plain
//! HTTP/1.1 to what it serves (no client library needed).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// A binary of this workspace, built next to the running test
/// (`target/debug/deps/<test>-… → target/debug/<name>`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build -p kluis-cli -p kluis-fixtures -p kluis-verifier-server` first",
        path.display()
    );
    path
}

/// The PIN of every [`KluisVault`] (given as `$KLUIS_PIN`).
pub const CLI_PIN: &str = "271828";

/// A `kluis` vault in its own temp dir (the vault at `<tmp>/vault`, the files a test writes
/// beside it), driven through the binary as a script would: `$KLUIS_PIN` set, stdin not a
/// terminal, no `$KLUIS_RELAY` from the environment.
pub struct KluisVault {
    pub tmp: tempfile::TempDir,
}

impl KluisVault {
    /// A temp dir for a vault not created yet.
    pub fn new() -> KluisVault {
        KluisVault {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    /// A vault created with `kluis init --dangerous-test-kdf`.
    pub fn init() -> KluisVault {
        let v = KluisVault::new();
        v.ok(&["init", "--dangerous-test-kdf"]);
        v
    }

    /// The vault directory (`--vault`).
    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("vault")
    }

    /// A file beside the vault.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `kluis --vault <dir> args…`, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("kluis"));
        c.arg("--vault")
            .arg(self.dir())
            .args(args)
            .env("KLUIS_PIN", CLI_PIN)
            .env_remove("KLUIS_RELAY")
            .stdin(Stdio::null());
        c
    }

    /// Runs `kluis args…` with this stdin.
    pub fn run_with(&self, args: &[&str], stdin: Stdio) -> Output {
        self.command(args).stdin(stdin).output().unwrap()
    }

    /// Runs `kluis args…`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs `kluis args…` and checks it exits 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `kluis --json args…`, checks it exits 0, and parses what it prints.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_slice(&self.ok(&all).stdout).unwrap()
    }
}

impl Default for KluisVault {
    fn default() -> Self {
        Self::new()
    }
}

/// A `kluis-fixtures` child process, killed when dropped.
pub struct Fixtures(pub Child);

impl Drop for Fixtures {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kluis-fixtures verifiers --json --citizen <citizen>` running: the landlord's and the bank's
/// announced lines and the citizen's offers.
pub struct Verifiers {
    /// The child process (killed on drop).
    pub fixtures: Fixtures,
    /// The two parties' JSON lines (stdout), in the order printed.
    pub parties: Vec<Value>,
    /// The citizen's offers (URI, transaction code), one per holder with data about the citizen
    /// (stderr).
    pub offers: Vec<(String, String)>,
}

impl Verifiers {
    /// Starts the fixtures and reads what they announce; both pipes are drained afterwards, so
    /// the fixtures never block on (or write to) a closed pipe.
    pub fn start(citizen: &str) -> Verifiers {
        let mut child = Command::new(bin("kluis-fixtures"))
            .args(["verifiers", "--json", "--citizen", citizen])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let fixtures = Fixtures(child);
        let mut parties = Vec::new();
        for _ in 0..2 {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            parties.push(serde_json::from_str::<Value>(&line).unwrap());
        }
        let citizen_data = kluis_fixtures::citizen(citizen).unwrap();
        let holders_with_data = kluis_fixtures::holders()
            .unwrap()
            .into_iter()
            .filter(|h| {
                h.credential_types
                    .iter()
                    .any(|t| citizen_data.credentials.contains_key(t))
            })
            .count();
        let mut offers = Vec::new();
        while offers.len() < holders_with_data {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "fixtures ended early"
            );
            if let Some(rest) = line.trim().strip_prefix("offer ") {
                let (_, rest) = rest.split_once(": ").unwrap();
                let (uri, code) = rest.split_once(" (tx_code ").unwrap();
                offers.push((uri.to_string(), code.trim_end_matches(')').to_string()));
            }
        }
        // The fixtures print more (purpose offers) and must never hit a full or closed pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        });
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        Verifiers {
            fixtures,
            parties,
            offers,
        }
    }

    /// The announced line of the party with this id (`woningcorporatie-eemland`, `bank-utrecht`).
    pub fn party(&self, id: &str) -> Value {
        self.parties
            .iter()
            .find(|p| p["party"] == id)
            .unwrap()
            .clone()
    }
}

/// One plain HTTP/1.1 request to a loopback URL; the response body.
pub fn http(method: &str, url: &str, body: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// GETs a loopback URL and parses the body as JSON.
pub fn get_json(url: &str) -> Value {
    serde_json::from_str(&http("GET", url, "")).unwrap()
}
