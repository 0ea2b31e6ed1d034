//! The landlord as a `kluis-verifier serve` process: the configuration the service tests and the
//! load benchmark (tests/examples/verifier_load.rs) both run it with.

use std::path::{Path, PathBuf};

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
