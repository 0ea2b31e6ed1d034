//! The configuration file (`kluis-verifier serve --config FILE`, TOML) and the embedded default
//! that runs with no file at all. Paths in the file are relative to the file's directory.
//! docs/VERIFIER.md shows every field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kluis_sdjwt::{PublicJwk, SigningKey};
use kluis_verifier::http::HttpPolicy;
use kluis_verifier::openid4vp::verifier::VerifierTrust;
use kluis_verifier::openid4vp::ResponseMode;
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::service::{NamedQuery, Party, Purpose, Settings, Trust};

/// The embedded default: one party with the rental query, memory state, on 127.0.0.1:7300.
pub const DEFAULT_CONFIG: &str = include_str!("../default.toml");

/// A configuration error: which field and why (never a key).
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

fn err(s: impl Into<String>) -> ConfigError {
    ConfigError(s.into())
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Address to listen on.
    pub listen: String,
    /// Base URL wallets reach (the load balancer in front of every instance).
    pub public_url: Option<String>,
    /// Request validity (s), at most 600.
    #[serde(default = "default_lifetime")]
    pub request_lifetime_secs: i64,
    /// How often results past their retention are deleted (s).
    #[serde(default = "default_sweep")]
    pub sweep_interval_secs: u64,
    /// The party.
    pub party: PartyFile,
    /// The scheme whose participant list decides which issuers are trusted.
    pub scheme: Option<SchemeFile>,
    /// Issuer keys trusted by hand (instead of, or without, a scheme).
    #[serde(default)]
    pub trusted_issuers: Vec<IssuerFile>,
    /// Where shared state lives.
    #[serde(default)]
    pub state: StateFile,
    /// Where verified results are pushed.
    pub webhook: Option<WebhookFile>,
    /// Relays a session QR may name (empty: any).
    #[serde(default)]
    pub relays: Vec<String>,
    /// Outbound HTTP.
    #[serde(default)]
    pub http: HttpFile,
}

fn default_lifetime() -> i64 {
    300
}
fn default_sweep() -> u64 {
    60
}

/// `[party]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyFile {
    /// Client identifier with prefix.
    pub client_id: String,
    /// The private JWK that signs request objects; absent: a fresh key per start.
    pub signing_key_file: Option<PathBuf>,
    /// A Verifier Attestation JWT (for `verifier_attestation:` client ids).
    pub attestation_file: Option<PathBuf>,
    /// The access certificate chain, PEM, leaf first (for `x509_hash:` client ids).
    pub certificate_chain_file: Option<PathBuf>,
    /// `direct_post` or `direct_post.jwt`.
    #[serde(default = "default_mode")]
    pub response_mode: String,
    /// Registered purposes.
    pub purposes: Vec<PurposeFile>,
    /// Named queries.
    pub queries: BTreeMap<String, QueryFile>,
    /// The query in-person sessions ask (default: the first).
    pub session_query: Option<String>,
}

fn default_mode() -> String {
    "direct_post.jwt".into()
}

/// `[[party.purposes]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeFile {
    /// Registered purpose id.
    pub id: String,
    /// Registered retention in days.
    pub retention_days: u32,
    /// The scheme's registration certificate for this purpose (a file with the JWT), sent in
    /// `verifier_info`.
    pub registration_file: Option<PathBuf>,
}

/// `[party.queries.NAME]`: one of `builtin`, `dcql_file`, `dcql`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryFile {
    /// Purpose id.
    pub purpose: String,
    /// `rental` (the landlord's rental application) or `mortgage` is not built in: see docs.
    pub builtin: Option<String>,
    /// A JSON file with the DCQL query.
    pub dcql_file: Option<PathBuf>,
    /// The DCQL query as JSON text.
    pub dcql: Option<String>,
}

/// `[scheme]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeFile {
    /// The participant list URL.
    pub list_uri: String,
    /// The scheme's public JWK.
    pub key_file: PathBuf,
    /// Longest time a fetched list is used (s).
    #[serde(default = "default_refresh")]
    pub refresh_secs: i64,
}

fn default_refresh() -> i64 {
    300
}

/// `[[trusted_issuers]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerFile {
    /// The issuer identifier (`iss`).
    pub iss: String,
    /// Its public JWK.
    pub key_file: PathBuf,
    /// Types it may issue (empty: any).
    #[serde(default)]
    pub types: Vec<String>,
}

/// `[state]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    /// `memory` or `redis`.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// `redis://host:port/db`.
    pub redis_url: Option<String>,
    /// Key prefix in Redis (default: `kluis-verifier:<client_id>:`).
    pub prefix: Option<String>,
    /// 32 random bytes as 64 hex characters, shared by every instance; absent: random per
    /// start (memory only).
    pub key_file: Option<PathBuf>,
}

impl Default for StateFile {
    fn default() -> Self {
        StateFile {
            backend: default_backend(),
            redis_url: None,
            prefix: None,
            key_file: None,
        }
    }
}

fn default_backend() -> String {
    "memory".into()
}

/// `[webhook]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    /// Where results are POSTed: https, or http to a loopback host.
    pub url: String,
    /// The HMAC secret (file with the secret's bytes, at least [`MIN_WEBHOOK_SECRET_BYTES`]).
    pub secret_file: PathBuf,
}

/// Shortest webhook secret accepted.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

/// The webhook URL if results may go there: https, or plain http only to a loopback host (a
/// back end on the same machine). Results carry personal data: never in the clear on a network.
/// The error does not repeat the URL (webhook URLs often carry a token).
fn webhook_url(url: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url).map_err(|_| err("webhook.url is not an absolute URL"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(url.to_string()),
        "http" if loopback => Ok(url.to_string()),
        "http" => Err(err(
            "webhook.url must be https: plain http is allowed only to a loopback host (127.0.0.1, ::1, localhost)",
        )),
        other => Err(err(format!(
            "webhook.url must be https (or http to a loopback host), not {other}:"
        ))),
    }
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    /// Plain http to loopback hosts (tests, demo).
    #[serde(default)]
    pub allow_loopback_http: bool,
    /// Whole-request timeout (ms).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

impl Default for HttpFile {
    fn default() -> Self {
        HttpFile {
            allow_loopback_http: false,
            timeout_ms: default_timeout(),
        }
    }
}

fn default_timeout() -> u64 {
    10_000
}

/// Which state backend, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// In this process.
    Memory,
    /// Redis at the URL, keys under the prefix.
    Redis {
        /// URL.
        url: String,
        /// Key prefix.
        prefix: String,
    },
}

/// A configuration read and resolved.
pub struct Config {
    /// The file.
    pub file: ConfigFile,
    dir: PathBuf,
}

impl Config {
    /// Reads FILE.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("{} cannot be read: {e}", path.display())))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::parse(&text, &dir)
    }

    /// Parses TOML text; relative paths are taken from `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| err(e.message().to_string()))?;
        Ok(Config {
            file,
            dir: dir.to_path_buf(),
        })
    }

    /// The embedded default.
    pub fn embedded() -> Result<Config, ConfigError> {
        Config::parse(DEFAULT_CONFIG, Path::new("."))
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    fn read(&self, p: &Path, what: &str) -> Result<String, ConfigError> {
        let full = self.path(p);
        std::fs::read_to_string(&full)
            .map_err(|e| err(format!("{what} {} cannot be read: {e}", full.display())))
    }

    /// The state backend.
    pub fn backend(&self) -> Result<Backend, ConfigError> {
        match self.file.state.backend.as_str() {
            "memory" => Ok(Backend::Memory),
            "redis" => {
                Ok(Backend::Redis {
                    url: self
                        .file
                        .state
                        .redis_url
                        .clone()
                        .ok_or_else(|| err("state.redis_url is required for the redis backend"))?,
                    prefix: self.file.state.prefix.clone().unwrap_or_else(|| {
                        format!("kluis-verifier:{}:", self.file.party.client_id)
                    }),
                })
            }
            other => Err(err(format!(
                "state.backend must be memory or redis, not {other}"
            ))),
        }
    }

    /// The service settings. `public_url` overrides the file's (or the listen address).
    pub fn settings(&self, public_url: Option<&str>) -> Result<Settings, ConfigError> {
        let f = &self.file;
        let signing_key = match &f.party.signing_key_file {
            Some(p) => {
                let v: Value = serde_json::from_str(&self.read(p, "party.signing_key_file")?)
                    .map_err(|_| err("party.signing_key_file is not a JWK"))?;
                SigningKey::from_jwk(&v)
                    .map_err(|_| err("party.signing_key_file is not a P-256 private JWK"))?
            }
            None => SigningKey::make_random().map_err(|e| err(e.to_string()))?,
        };
        let attestation = match &f.party.attestation_file {
            Some(p) => Some(self.read(p, "party.attestation_file")?.trim().to_string()),
            None => None,
        };
        let x5c = match &f.party.certificate_chain_file {
            Some(p) => kluis_verifier::x509::chain_from_pem(
                self.read(p, "party.certificate_chain_file")?.as_bytes(),
            )
            .map_err(|e| err(format!("party.certificate_chain_file: {e}")))?,
            None => Vec::new(),
        };
        // An x509_hash party's client_id names its leaf: a mismatch would be refused by every
        // wallet, so it is a configuration error here.
        if f.party
            .client_id
            .starts_with(kluis_verifier::x509::X509_HASH_PREFIX)
        {
            let named = kluis_verifier::x509::x509_hash_client_id(&x5c)
                .map_err(|_| err("an x509_hash client_id needs party.certificate_chain_file"))?;
            if named != f.party.client_id {
                return Err(err(format!(
                    "party.client_id is not the x509_hash of the certificate chain's leaf ({named})"
                )));
            }
        }
        let response_mode = match f.party.response_mode.as_str() {
            "direct_post" => ResponseMode::DirectPost,
            "direct_post.jwt" => ResponseMode::DirectPostJwt,
            other => {
                return Err(err(format!(
                    "party.response_mode must be direct_post or direct_post.jwt, not {other}"
                )))
            }
        };
        let mut queries = BTreeMap::new();
        for (name, q) in &f.party.queries {
            let dcql = match (&q.builtin, &q.dcql_file, &q.dcql) {
                (Some(b), None, None) if b == "rental" => kluis_verifier::openid4vp::rental_dcql(),
                (Some(b), None, None) => {
                    return Err(err(format!("party.queries.{name}: no built-in query {b}")))
                }
                (None, Some(p), None) => serde_json::from_str(&self.read(p, "dcql_file")?)
                    .map_err(|_| err(format!("party.queries.{name}: dcql_file is not JSON")))?,
                (None, None, Some(text)) => serde_json::from_str(text)
                    .map_err(|_| err(format!("party.queries.{name}: dcql is not JSON")))?,
                _ => {
                    return Err(err(format!(
                        "party.queries.{name}: give exactly one of builtin, dcql_file, dcql"
                    )))
                }
            };
            queries.insert(
                name.clone(),
                NamedQuery {
                    dcql,
                    purpose: q.purpose.clone(),
                },
            );
        }
        if f.party.purposes.is_empty() {
            return Err(err("party.purposes: register at least one purpose"));
        }
        let mut purposes = Vec::new();
        for p in &f.party.purposes {
            let registration = match &p.registration_file {
                Some(file) => Some(
                    self.read(file, "party.purposes.registration_file")?
                        .trim()
                        .to_string(),
                ),
                None => None,
            };
            purposes.push(Purpose {
                id: p.id.clone(),
                retention_days: p.retention_days,
                registration,
            });
        }
        let mut fixed = VerifierTrust::default();
        for i in &f.trusted_issuers {
            let v: Value =
                serde_json::from_str(&self.read(&i.key_file, "trusted_issuers.key_file")?)
                    .map_err(|_| err("trusted_issuers.key_file is not a JWK"))?;
            let jwk = PublicJwk::from_value(&v)
                .map_err(|_| err("trusted_issuers.key_file is not a P-256 public JWK"))?;
            fixed.issuers.add(&i.iss, jwk);
            if !i.types.is_empty() {
                fixed.types.insert(i.iss.clone(), i.types.clone());
            }
        }
        let trust = match &f.scheme {
            Some(s) => {
                if !f.trusted_issuers.is_empty() {
                    return Err(err("give either scheme or trusted_issuers, not both"));
                }
                let v: Value = serde_json::from_str(&self.read(&s.key_file, "scheme.key_file")?)
                    .map_err(|_| err("scheme.key_file is not a JWK"))?;
                Trust::Scheme {
                    list_uri: s.list_uri.clone(),
                    key: PublicJwk::from_value(&v)
                        .map_err(|_| err("scheme.key_file is not a P-256 public JWK"))?,
                    refresh_secs: s.refresh_secs.max(1),
                }
            }
            None => Trust::Fixed(fixed),
        };
        let state_key = match &f.state.key_file {
            Some(p) => {
                let text = Zeroizing::new(self.read(p, "state.key_file")?);
                let bytes = Zeroizing::new(
                    hex::decode(text.trim())
                        .map_err(|_| err("state.key_file must hold 64 hex characters"))?,
                );
                let arr: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| err("state.key_file must hold 64 hex characters"))?;
                Zeroizing::new(arr)
            }
            None => {
                if self.backend()? != Backend::Memory {
                    return Err(err(
                        "state.key_file is required with a shared backend (every instance seals with it)",
                    ));
                }
                let mut k = Zeroizing::new([0u8; 32]);
                rand::RngCore::fill_bytes(&mut rand::thread_rng(), k.as_mut());
                k
            }
        };
        let webhook = match &f.webhook {
            Some(w) => {
                let url = webhook_url(&w.url)?;
                let secret = Zeroizing::new(
                    std::fs::read(self.path(&w.secret_file))
                        .map_err(|e| err(format!("webhook.secret_file cannot be read: {e}")))?,
                );
                if secret.len() < MIN_WEBHOOK_SECRET_BYTES {
                    return Err(err(format!(
                        "webhook.secret_file holds {} bytes; the secret must be at least {MIN_WEBHOOK_SECRET_BYTES}",
                        secret.len()
                    )));
                }
                Some((url, secret))
            }
            None => None,
        };
        let public_url = public_url
            .map(str::to_string)
            .or_else(|| f.public_url.clone())
            .unwrap_or_else(|| format!("http://{}", f.listen));
        Ok(Settings {
            party: Party {
                client_id: f.party.client_id.clone(),
                signing_key,
                attestation,
                x5c,
                response_mode,
                purposes,
                queries,
                session_query: f.party.session_query.clone(),
            },
            public_url,
            trust,
            state_key,
            request_lifetime_secs: f.request_lifetime_secs.clamp(1, 600),
            http: HttpPolicy {
                timeout: Duration::from_millis(f.http.timeout_ms),
                connect_timeout: Duration::from_millis(f.http.timeout_ms.min(3000)),
                allow_loopback_http: f.http.allow_loopback_http,
                ..HttpPolicy::default()
            },
            webhook,
            relays: f.relays.clone(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_resolves() {
        let c = Config::embedded().unwrap();
        assert_eq!(c.backend().unwrap(), Backend::Memory);
        let s = c.settings(None).unwrap();
        assert_eq!(s.public_url, "http://127.0.0.1:7300");
        assert!(s.party.queries.contains_key("rental"));
    }

    #[test]
    fn a_purpose_carries_its_registration_certificate_from_its_file() {
        let dir = std::env::temp_dir().join(format!("kluis-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rental.jwt"), "eyJ.rc.sig\n").unwrap();
        let text = DEFAULT_CONFIG.replace(
            "retention_days = 30",
            "retention_days = 30\nregistration_file = \"rental.jwt\"",
        );
        let s = Config::parse(&text, &dir).unwrap().settings(None).unwrap();
        assert_eq!(
            s.party.purposes[0].registration.as_deref(),
            Some("eyJ.rc.sig")
        );
        std::fs::remove_file(dir.join("rental.jwt")).unwrap();
        let missing = Config::parse(&text, &dir)
            .unwrap()
            .settings(None)
            .map(|_| ());
        assert!(missing.unwrap_err().0.contains("registration_file"));
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn mistakes_are_named() {
        let bad =
            |t: &str| Config::parse(t, Path::new(".")).and_then(|c| c.settings(None).map(|_| ()));
        let base = DEFAULT_CONFIG;
        assert!(bad(&base.replace("memory", "etcd"))
            .unwrap_err()
            .0
            .contains("state.backend"));
        assert!(bad(&format!("{base}\nunknown_field = 1\n")).is_err());
        let redis = base.replace(
            r#"backend = "memory""#,
            "backend = \"redis\"\nredis_url = \"redis://127.0.0.1:1\"",
        );
        assert!(bad(&redis).unwrap_err().0.contains("state.key_file"));
        assert!(bad(&base.replace("direct_post.jwt", "fragment"))
            .unwrap_err()
            .0
            .contains("response_mode"));
    }

    /// Results carry personal data: a webhook off this machine must be https, whatever else the
    /// URL tries; the error never repeats the URL (it may hold a token).
    #[test]
    fn a_webhook_url_off_this_machine_must_be_https() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::write(dir.join("hook.secret"), [7u8; 32]).unwrap();
        std::fs::write(dir.join("short.secret"), b"tiny").unwrap();
        let with = |url: &str, secret: &str| {
            let text = format!(
                "{DEFAULT_CONFIG}\n[webhook]\nurl = \"{url}\"\nsecret_file = \"{secret}\"\n"
            );
            Config::parse(&text, &dir).and_then(|c| c.settings(None).map(|s| s.webhook))
        };
        for ok in [
            "https://backend.example/hook",
            "http://127.0.0.1:9000/hook",
            "http://127.8.0.1/hook",
            "http://[::1]:9000/hook",
            "http://localhost/hook",
        ] {
            let (url, secret) = with(ok, "hook.secret").unwrap().unwrap();
            assert_eq!(url, ok);
            assert_eq!(secret.len(), 32);
        }
        for refused in [
            "http://backend.example/hook?token=s3cr3t",
            "http://10.0.0.5/hook?token=s3cr3t",
            "http://127.0.0.1.nip.io/hook?token=s3cr3t",
            "http://localhost.example/hook?token=s3cr3t",
            "ftp://backend.example/hook?token=s3cr3t",
            "file:///etc/passwd?token=s3cr3t",
            "https://?token=s3cr3t",
            "/hook?token=s3cr3t",
            "",
        ] {
            let e = with(refused, "hook.secret").unwrap_err().0;
            assert!(e.contains("webhook.url"), "{refused}: {e}");
            assert!(!e.contains("s3cr3t"), "{refused}: {e}");
        }
        let e = with("https://backend.example/hook", "short.secret")
            .unwrap_err()
            .0;
        assert!(e.contains("at least 16"), "{e}");
        let e = with("https://backend.example/hook", "missing.secret")
            .unwrap_err()
            .0;
        assert!(e.contains("webhook.secret_file"), "{e}");
    }
}
