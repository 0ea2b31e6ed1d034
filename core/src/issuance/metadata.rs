//! The credential issuer's metadata (`/.well-known/openid-credential-issuer`) and its
//! authorization server's (`/.well-known/oauth-authorization-server`, RFC 8414), fetched and
//! checked: identifiers must match what they were fetched for, every endpoint obeys the
//! transport rule, only `dc+sd-jwt` configurations are kept.

use std::collections::HashMap;

use reqwest::Url;
use serde_json::Value;

use crate::http::{checked_url, Http};
use crate::{Error, IssuanceFailure};

/// `token_endpoint_auth_methods_supported` value of attestation-based client authentication.
pub const ATTEST_JWT_CLIENT_AUTH: &str = "attest_jwt_client_auth";

/// The issuer's metadata, checked.
#[derive(Debug, Clone)]
pub(crate) struct IssuerMetadata {
    pub credential_issuer: String,
    pub token_endpoint: Url,
    pub credential_endpoint: Url,
    pub nonce_endpoint: Option<Url>,
    pub deferred_endpoint: Option<Url>,
    pub notification_endpoint: Option<Url>,
    pub batch_size: usize,
    pub display: Vec<(String, String)>,
    pub configs: HashMap<String, ConfigMetadata>,
    /// The authorization server's identifier (`issuer` of its metadata; `iss` in redirects).
    pub auth_server: String,
    pub authorization_endpoint: Option<Url>,
    pub par_endpoint: Option<Url>,
    /// `code_challenge_methods_supported` lists S256.
    pub pkce_s256: bool,
    /// `token_endpoint_auth_methods_supported` lists `attest_jwt_client_auth`: the wallet
    /// authenticates with a Wallet Attestation at PAR and token endpoints.
    pub attest_client_auth: bool,
    /// The authorization server's `challenge_endpoint` for attestation PoPs.
    pub challenge_endpoint: Option<Url>,
}

#[derive(Debug, Clone)]
pub(crate) struct ConfigMetadata {
    pub vct: String,
    pub display: Vec<(String, String)>,
    /// The OAuth scope the issuer names for this configuration.
    pub scope: Option<String>,
    /// The `jwt` proof type's `key_attestations_required` is present: every batch key must be
    /// attested (OpenID4VCI 1.0 §12.2.4, Appendix D).
    pub key_attestation_required: bool,
    /// The issuer offers only the `attestation` proof type (a key attestation without proof of
    /// possession, Appendix F.3), not `jwt`.
    pub attestation_proof_only: bool,
}

pub(crate) fn pick_display(display: &[(String, String)], lang: &str) -> Option<String> {
    display
        .iter()
        .find(|(l, _)| l.eq_ignore_ascii_case(lang))
        .or_else(|| display.first())
        .map(|(_, n)| n.clone())
}

fn displays(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    let name = d.get("name")?.as_str()?;
                    let locale = d.get("locale").and_then(Value::as_str).unwrap_or("");
                    Some((
                        locale.chars().take(16).collect(),
                        name.chars().take(200).collect(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The RFC 8615 well-known URL for `path` of `issuer` (`https://h/p` → `https://h/.well-known/x/p`).
fn well_known(issuer: &str, name: &str) -> Result<Url, Error> {
    let base = checked_url(issuer)?;
    let path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_path(&format!("/.well-known/{name}{path}"));
    url.set_query(None);
    Ok(url)
}

fn endpoint(meta: &Value, name: &str) -> Result<Option<Url>, Error> {
    match meta.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(checked_url(s)?)),
        Some(_) => Err(Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason: format!("the issuer metadata's {name} is not a URL"),
        }),
    }
}

impl IssuerMetadata {
    /// Fetches the credential issuer metadata and the authorization server metadata and checks
    /// them: `credential_issuer` and `issuer` must equal the identifiers they were fetched for.
    pub(crate) async fn fetch(http: &Http, issuer: &str) -> Result<IssuerMetadata, Error> {
        let bad = |what: String| Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason: what,
        };
        let reply = http
            .get(
                &well_known(issuer, "openid-credential-issuer")?,
                "application/json",
            )
            .await?;
        if !reply.status.is_success() {
            return Err(bad(format!(
                "the issuer metadata of {issuer} is unavailable (HTTP {})",
                reply.status.as_u16()
            )));
        }
        let meta = reply.json("issuer metadata")?;
        let auth_server = Self::check_issuer_document(issuer, &meta)?;
        let reply = http
            .get(
                &well_known(&auth_server, "oauth-authorization-server")?,
                "application/json",
            )
            .await?;
        if !reply.status.is_success() {
            return Err(bad(format!(
                "the authorization server metadata of {auth_server} is unavailable (HTTP {})",
                reply.status.as_u16()
            )));
        }
        let as_meta = reply.json("authorization server metadata")?;
        Self::from_documents(issuer, &meta, &auth_server, &as_meta)
    }

    /// Checks the issuer metadata document fetched for `issuer`; returns the authorization
    /// server to ask next.
    pub(crate) fn check_issuer_document(issuer: &str, meta: &Value) -> Result<String, Error> {
        let bad = |what: String| Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason: what,
        };
        if meta.get("credential_issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(bad(format!(
                "the issuer metadata of {issuer} names another credential_issuer"
            )));
        }
        endpoint(meta, "credential_endpoint")?
            .ok_or_else(|| bad("the issuer metadata has no credential_endpoint".into()))?;
        Ok(meta
            .get("authorization_servers")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .unwrap_or(issuer)
            .to_string())
    }

    /// Builds the checked metadata from the two documents (no I/O, so it can be fuzzed).
    pub(crate) fn from_documents(
        issuer: &str,
        meta: &Value,
        auth_server: &str,
        as_meta: &Value,
    ) -> Result<IssuerMetadata, Error> {
        let bad = |what: String| Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason: what,
        };
        Self::check_issuer_document(issuer, meta)?;
        let credential_endpoint = endpoint(meta, "credential_endpoint")?
            .ok_or_else(|| bad("the issuer metadata has no credential_endpoint".into()))?;
        if as_meta.get("issuer").and_then(Value::as_str) != Some(auth_server) {
            return Err(bad(
                "the authorization server metadata names another issuer".into(),
            ));
        }
        let token_endpoint = endpoint(as_meta, "token_endpoint")?
            .ok_or_else(|| bad("the authorization server has no token_endpoint".into()))?;
        let batch_size = meta
            .get("batch_credential_issuance")
            .and_then(|b| b.get("batch_size"))
            .and_then(Value::as_u64)
            .map_or(1, |n| n.clamp(1, 1000) as usize);
        let mut configs = HashMap::new();
        if let Some(map) = meta
            .get("credential_configurations_supported")
            .and_then(Value::as_object)
        {
            for (id, c) in map {
                if c.get("format").and_then(Value::as_str) != Some("dc+sd-jwt") {
                    continue; // kluis holds SD-JWT VCs only
                }
                let Some(vct) = c.get("vct").and_then(Value::as_str) else {
                    continue;
                };
                let display = displays(
                    c.get("credential_metadata")
                        .and_then(|m| m.get("display"))
                        .or_else(|| c.get("display")),
                );
                let scope = c
                    .get("scope")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty() && s.len() <= 256 && !s.contains(' '))
                    .map(str::to_string);
                let proof_types = c.get("proof_types_supported");
                let attestation_proof_only = proof_types
                    .is_some_and(|p| p.get("attestation").is_some() && p.get("jwt").is_none());
                let key_attestation_required = c
                    .get("proof_types_supported")
                    .and_then(|p| p.get("jwt"))
                    .and_then(|j| j.get("key_attestations_required"))
                    .is_some_and(Value::is_object);
                configs.insert(
                    id.clone(),
                    ConfigMetadata {
                        vct: vct.to_string(),
                        display,
                        scope,
                        key_attestation_required,
                        attestation_proof_only,
                    },
                );
            }
        }
        Ok(IssuerMetadata {
            credential_issuer: issuer.to_string(),
            token_endpoint,
            nonce_endpoint: endpoint(meta, "nonce_endpoint")?,
            deferred_endpoint: endpoint(meta, "deferred_credential_endpoint")?,
            notification_endpoint: endpoint(meta, "notification_endpoint")?,
            credential_endpoint,
            batch_size,
            display: displays(meta.get("display")),
            configs,
            auth_server: auth_server.to_string(),
            authorization_endpoint: endpoint(as_meta, "authorization_endpoint")?,
            par_endpoint: endpoint(as_meta, "pushed_authorization_request_endpoint")?,
            pkce_s256: as_meta
                .get("code_challenge_methods_supported")
                .and_then(Value::as_array)
                .is_some_and(|m| m.iter().any(|x| x == "S256")),
            attest_client_auth: as_meta
                .get("token_endpoint_auth_methods_supported")
                .and_then(Value::as_array)
                .is_some_and(|m| m.iter().any(|x| x == ATTEST_JWT_CLIENT_AUTH)),
            challenge_endpoint: endpoint(as_meta, "challenge_endpoint")?,
        })
    }

    pub(crate) fn vct_of(&self, config: &str) -> Result<&str, Error> {
        self.configs
            .get(config)
            .map(|c| c.vct.as_str())
            .ok_or_else(|| Error::Issuance {
                kind: IssuanceFailure::Malformed,
                reason: format!(
                    "the issuer does not describe the offered configuration {config:?} as an SD-JWT VC"
                ),
            })
    }
}
