//! The landlord as a `kluis-verifier serve` process: the configuration the service tests and the
//! load benchmark (tests/examples/verifier_load.rs) both run it with, and the process itself
//! ([`Instance`]).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use kluis_fixtures::servers::{Network, LANDLORD};

/// Writes the landlord's key, the scheme's key, a state key and `{name}.toml` into `dir`: the
/// rental query under `direct_post.jwt`, the scheme's list on loopback, state in the Redis at
/// `redis_url` (prefix `landlord:`) or in memory. `top` holds extra top-level settings (e.g. the
/// request lifetime); `timeout_ms` is the service's HTTP timeout.
pub fn write_landlord_config(
    dir: &Path,
    net: &Network,
    name: &str,
    redis_url: Option<&str>,
    top: &str,
    timeout_ms: u32,
) -> PathBuf {
    std::fs::write(
        dir.join("landlord.jwk"),
        kluis_fixtures::key_json("verifier-woningcorporatie-eemland").unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("scheme.jwk"),
        net.scheme.public_jwk().unwrap().to_value().to_string(),
    )
    .unwrap();
    let key: String = (0..32)
        .map(|i| format!("{:02x}", (i * 7 + 3) as u8))
        .collect();
    std::fs::write(dir.join("state.key"), key).unwrap();
    let state = match redis_url {
        Some(url) => format!(
            "backend = \"redis\"\nredis_url = \"{url}\"\nprefix = \"landlord:\"\nkey_file = \"state.key\""
        ),
        None => "backend = \"memory\"\nkey_file = \"state.key\"".to_string(),
    };
    let config = format!(
        r#"
listen = "127.0.0.1:0"
{top}
[party]
client_id = "{LANDLORD}"
signing_key_file = "landlord.jwk"
response_mode = "direct_post.jwt"
[[party.purposes]]
id = "rental"
retention_days = 30
[party.queries.rental]
purpose = "rental"
builtin = "rental"
[scheme]
list_uri = "{list}"
key_file = "scheme.jwk"
[state]
{state}
[http]
allow_loopback_http = true
timeout_ms = {timeout_ms}
"#,
        list = net.scheme.list_uri()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    path
}

/// A free port on loopback (bound and released: another process could take it in between).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `kluis-verifier serve` process on `127.0.0.1:PORT`; killed (SIGKILL) on drop.
pub struct Instance {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The JSON line it printed once listening (`listening`, `public_url`, `client_id`,
    /// `state`).
    pub start_line: Value,
}

impl Instance {
    /// Starts `bin` (the `kluis-verifier` binary) with `config` on `port`, handing out
    /// `public_url` in its links (a load balancer's, or its own base), its stderr in `log`;
    /// with `cpu`, pinned to that core by `taskset` when installed. Returns once it printed its
    /// start line; panics with the log when it did not.
    pub fn start(
        bin: &Path,
        config: &Path,
        port: u16,
        public_url: &str,
        log: &Path,
        cpu: Option<usize>,
    ) -> Instance {
        let mut cmd = match cpu {
            Some(cpu) if has("taskset") => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string()]).arg(bin);
                c
            }
            Some(_) => {
                eprintln!("taskset is missing: the instance is not pinned to a core");
                Command::new(bin)
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", public_url])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let start_line: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "kluis-verifier did not start: {line:?}; log: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
        assert_eq!(start_line["listening"], format!("127.0.0.1:{port}"));
        assert_eq!(start_line["public_url"], public_url);
        Instance {
            child,
            base: format!("http://127.0.0.1:{port}"),
            start_line,
        }
    }

    /// The process id (to read its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it (SIGKILL: no chance to finish anything) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
