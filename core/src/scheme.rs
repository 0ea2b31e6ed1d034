//! Trust through the scheme (afsprakenstelsel): a participant list signed by the scheme key.
//!
//! The wallet pins the scheme's public key and the list's URL ([`Wallet::set_scheme`]), fetches
//! the list, verifies its signature (`typ` `participant-list+jwt`, ES256) and validity, and caches
//! it sealed in the vault. A holder's credential is then trusted only if the list names its
//! issuer with the signing key *and* the credential's `vct`. Keys added by hand
//! (`kluis trust add-issuer`) stay trusted for any type, for tests and imports; see
//! docs/COLLECTING.md. The list also names the requesting parties with their registered
//! purposes and the claims each may ask, for the presenting flow.

use std::collections::BTreeMap;

use kluis_sdjwt::{Credential, PublicJwk};
use kluis_vault::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::{self, Actor, AuditEvent};
use crate::http::{checked_url, Http, HttpPolicy};
use crate::jws::{header as jws_header, verify as jws_verify};
use crate::trust::TrustList;
use crate::{now_unix, Error, Wallet};

/// `typ` of the participant list JWT.
pub const PARTICIPANT_LIST_TYP: &str = "participant-list+jwt";

/// Refetch the list when the cached copy is older than this, even if still valid.
pub const REFRESH_AFTER_SECS: i64 = 3600;

/// Largest list accepted.
const MAX_LIST_BYTES: usize = 2 * 1024 * 1024;

/// A name in Dutch and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LocalizedName {
    /// Dutch.
    #[serde(default)]
    pub nl: String,
    /// English.
    #[serde(default)]
    pub en: String,
}

impl LocalizedName {
    /// The name in `lang` (`en` or else Dutch).
    pub fn get(&self, lang: &str) -> &str {
        if lang.starts_with("en") && !self.en.is_empty() {
            &self.en
        } else {
            &self.nl
        }
    }
}

/// A data holder as the scheme lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedHolder {
    /// Short id.
    pub id: String,
    /// Registered name.
    pub name: LocalizedName,
    /// Its issuer identifier (`credential_issuer`, the credentials' `iss`).
    pub credential_issuer: String,
    /// Its signing keys (public JWKs).
    pub keys: Vec<Value>,
    /// The credential types it may issue.
    pub credential_types: Vec<String>,
}

/// A purpose a requesting party registered, with the claims it may ask per credential type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredPurpose {
    /// Short id, e.g. `rental`.
    pub id: String,
    /// Name shown to the citizen.
    pub name: LocalizedName,
    /// How long the party may keep the data.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Claim paths per `vct`.
    #[serde(default)]
    pub claims: BTreeMap<String, Vec<String>>,
}

/// A requesting party (gegevensvrager) as the scheme lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestingParty {
    /// Short id.
    pub id: String,
    /// Its OpenID4VP client identifier without prefix (pre-registered), e.g.
    /// `woningcorporatie-eemland`; with `verifier_attestation:` the part after the prefix.
    pub client_id: String,
    /// Registered name.
    pub name: LocalizedName,
    /// Registered purposes.
    #[serde(default)]
    pub purposes: Vec<RegisteredPurpose>,
    /// Public JWKs that sign its request objects.
    #[serde(default)]
    pub keys: Vec<Value>,
    /// Origins its `response_uri` may use (`https://…`, or `http://` on loopback).
    #[serde(default)]
    pub response_origins: Vec<String>,
}

impl RequestingParty {
    /// Its request-signing keys that parse as P-256 public JWKs.
    pub fn public_keys(&self) -> Vec<PublicJwk> {
        self.keys
            .iter()
            .filter_map(|k| PublicJwk::from_value(k).ok())
            .collect()
    }

    /// The registered purpose `id`.
    pub fn purpose(&self, id: &str) -> Option<&RegisteredPurpose> {
        self.purposes.iter().find(|p| p.id == id)
    }
}

/// The verified participant list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantList {
    /// The scheme's identifier.
    pub iss: String,
    /// Issued at.
    pub iat: i64,
    /// Valid until.
    pub exp: i64,
    /// Data holders.
    #[serde(default)]
    pub holders: Vec<ListedHolder>,
    /// Requesting parties.
    #[serde(default)]
    pub requesting_parties: Vec<RequestingParty>,
}

impl ParticipantList {
    /// The holder whose issuer identifier is `iss`.
    pub fn holder(&self, iss: &str) -> Option<&ListedHolder> {
        self.holders.iter().find(|h| h.credential_issuer == iss)
    }

    /// The requesting party with client id `client_id`.
    pub fn requesting_party(&self, client_id: &str) -> Option<&RequestingParty> {
        self.requesting_parties
            .iter()
            .find(|p| p.client_id == client_id)
    }
}

/// What the wallet pins: where the list is and the key that must sign it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SchemeConfig {
    list_uri: String,
    key: String,
}

impl Record for SchemeConfig {
    const KIND: &'static str = "scheme_config";
}

/// The cached, verified list.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedList {
    jwt: String,
    list: ParticipantList,
    fetched_at: i64,
}

impl Record for CachedList {
    const KIND: &'static str = "scheme_list";
}

const CONFIG_ID: &str = "scheme-config";
const LIST_ID: &str = "scheme-list";

/// What `kluis trust scheme` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemeSummary {
    /// Where the list is published.
    pub list_uri: String,
    /// Thumbprint of the pinned scheme key.
    pub key_thumbprint: String,
    /// Holders listed.
    pub holders: usize,
    /// Requesting parties listed.
    pub requesting_parties: usize,
    /// List valid until.
    pub expires_at: i64,
}

/// Verifies a participant list JWT with the pinned key: signature, `typ`, `exp`, shape.
pub fn verify_participant_list(
    jwt: &str,
    key: &PublicJwk,
    now: i64,
) -> Result<ParticipantList, Error> {
    let bad = |why: &str| Error::UntrustedIssuer {
        issuer: format!("scheme participant list ({why})"),
    };
    let header = jws_header(jwt).ok_or_else(|| bad("not a JWT"))?;
    if header.get("typ").and_then(Value::as_str) != Some(PARTICIPANT_LIST_TYP) {
        return Err(bad("wrong typ"));
    }
    let v = jws_verify(jwt, std::slice::from_ref(key))
        .ok_or_else(|| bad("signature does not verify with the pinned scheme key"))?;
    let list: ParticipantList =
        serde_json::from_value(Value::Object(v.payload)).map_err(|_| bad("malformed"))?;
    if list.exp < now {
        return Err(bad("expired"));
    }
    Ok(list)
}

impl Wallet {
    /// Pins the scheme key (`key_jwk_json`, a public P-256 JWK) and the list URL, then fetches
    /// and verifies the list and caches it. Replaces any previous scheme.
    pub async fn set_scheme(
        &self,
        list_uri: &str,
        key_jwk_json: &str,
        policy: HttpPolicy,
    ) -> Result<SchemeSummary, Error> {
        checked_url(list_uri)?;
        let value: Value = serde_json::from_str(key_jwk_json)
            .map_err(|_| Error::invalid_input("the scheme key is not JSON"))?;
        if value.get("d").is_some() {
            return Err(Error::invalid_input(
                "the scheme key contains a private part ('d'): give the public JWK only",
            ));
        }
        let key = PublicJwk::from_value(&value).map_err(|e| {
            Error::invalid_input(format!("the scheme key is not a P-256 public JWK: {e}"))
        })?;
        let http = Http::new(policy)?;
        let (jwt, list) = fetch_list(&http, list_uri, &key).await?;
        let now = now_unix();
        let config = SchemeConfig {
            list_uri: list_uri.to_string(),
            key: key.to_value().to_string(),
        };
        let summary = summary(&config, &key, &list);
        self.vault.write(|tx| {
            tx.put(CONFIG_ID, &config)?;
            tx.put(
                LIST_ID,
                &CachedList {
                    jwt,
                    list,
                    fetched_at: now,
                },
            )?;
            audit::append(
                tx,
                now,
                Actor::Citizen,
                AuditEvent::SchemePinned {
                    list_uri: config.list_uri.clone(),
                    thumbprint: key.thumbprint(),
                },
            )?;
            Ok(())
        })?;
        Ok(summary)
    }

    /// Fetches the list again now (with the pinned key).
    pub async fn refresh_scheme(&self, policy: HttpPolicy) -> Result<Option<SchemeSummary>, Error> {
        let http = Http::new(policy)?;
        self.refetch_scheme(&http).await
    }

    async fn refetch_scheme(&self, http: &Http) -> Result<Option<SchemeSummary>, Error> {
        let Some(config) = self.vault.get::<SchemeConfig>(CONFIG_ID)? else {
            return Ok(None);
        };
        let key = PublicJwk::from_json(&config.key).map_err(|_| Error::Integrity {
            record: "scheme_config record (key)".into(),
        })?;
        let (jwt, list) = fetch_list(http, &config.list_uri, &key).await?;
        let s = summary(&config, &key, &list);
        self.vault.put(
            LIST_ID,
            &CachedList {
                jwt,
                list,
                fetched_at: now_unix(),
            },
        )?;
        Ok(Some(s))
    }

    /// Refetches the list if a scheme is pinned and the cache is missing, expired or older than
    /// [`REFRESH_AFTER_SECS`]. If the fetch fails, a still-valid cached list is used.
    pub(crate) async fn refresh_scheme_if_due(&self, http: &Http) -> Result<(), Error> {
        if self.vault.get::<SchemeConfig>(CONFIG_ID)?.is_none() {
            return Ok(());
        }
        let now = now_unix();
        let cached = self.vault.get::<CachedList>(LIST_ID)?;
        let due = cached
            .as_ref()
            .is_none_or(|c| c.list.exp < now || now - c.fetched_at > REFRESH_AFTER_SECS);
        if !due {
            return Ok(());
        }
        match self.refetch_scheme(http).await {
            Ok(_) => Ok(()),
            Err(_) if cached.as_ref().is_some_and(|c| c.list.exp >= now) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The cached participant list, if a scheme is pinned.
    pub fn participant_list(&self) -> Result<Option<ParticipantList>, Error> {
        Ok(self.vault.get::<CachedList>(LIST_ID)?.map(|c| c.list))
    }

    /// The pinned scheme, if any.
    pub fn scheme(&self) -> Result<Option<SchemeSummary>, Error> {
        let Some(config) = self.vault.get::<SchemeConfig>(CONFIG_ID)? else {
            return Ok(None);
        };
        let Some(cached) = self.vault.get::<CachedList>(LIST_ID)? else {
            return Ok(None);
        };
        let key = PublicJwk::from_json(&config.key).map_err(|_| Error::Integrity {
            record: "scheme_config record (key)".into(),
        })?;
        Ok(Some(summary(&config, &key, &cached.list)))
    }

    /// The pinned scheme key, if a scheme is pinned (it signs Verifier Attestations too).
    pub(crate) fn scheme_key(&self) -> Result<Option<PublicJwk>, Error> {
        let Some(config) = self.vault.get::<SchemeConfig>(CONFIG_ID)? else {
            return Ok(None);
        };
        PublicJwk::from_json(&config.key)
            .map(Some)
            .map_err(|_| Error::Integrity {
                record: "scheme_config record (key)".into(),
            })
    }

    /// The listed holder for issuer `iss`, if the scheme lists it.
    pub(crate) fn listed_holder(&self, iss: &str) -> Result<Option<ListedHolder>, Error> {
        Ok(self
            .participant_list()?
            .and_then(|l| l.holder(iss).cloned()))
    }

    /// Adds every listed holder's keys to `list` (their `vct`s are checked after verification,
    /// in [`Wallet::check_listed_type`]).
    pub(crate) fn add_scheme_holders(&self, list: &mut TrustList) -> Result<(), Error> {
        if let Some(p) = self.participant_list()? {
            for h in &p.holders {
                for k in &h.keys {
                    if let Ok(jwk) = PublicJwk::from_value(k) {
                        list.add(&h.credential_issuer, jwk);
                    }
                }
            }
        }
        Ok(())
    }

    /// A credential that verified against the trust store is accepted if its issuer was trusted
    /// by hand, or if the scheme lists its `vct` for that issuer.
    pub(crate) fn check_listed_type(&self, c: &Credential) -> Result<(), Error> {
        if self
            .trusted_issuers()?
            .iter()
            .any(|t| t.issuer_id == c.issuer())
        {
            return Ok(());
        }
        match self.listed_holder(c.issuer())? {
            Some(h) if h.credential_types.iter().any(|t| t == c.vct()) => Ok(()),
            Some(_) => Err(Error::InvalidCredential {
                reason: format!(
                    "the scheme does not list type {} for issuer {}",
                    crate::http::shorten(c.vct()),
                    c.issuer()
                ),
            }),
            None => Err(Error::UntrustedIssuer {
                issuer: c.issuer().to_string(),
            }),
        }
    }
}

fn summary(config: &SchemeConfig, key: &PublicJwk, list: &ParticipantList) -> SchemeSummary {
    SchemeSummary {
        list_uri: config.list_uri.clone(),
        key_thumbprint: key.thumbprint(),
        holders: list.holders.len(),
        requesting_parties: list.requesting_parties.len(),
        expires_at: list.exp,
    }
}

async fn fetch_list(
    http: &Http,
    list_uri: &str,
    key: &PublicJwk,
) -> Result<(String, ParticipantList), Error> {
    let url = checked_url(list_uri)?;
    let reply = http.get(&url, "application/jwt").await?;
    if !reply.status.is_success() {
        return Err(Error::Network {
            reason: format!(
                "the scheme's participant list is unavailable (HTTP {})",
                reply.status.as_u16()
            ),
        });
    }
    if reply.body.len() > MAX_LIST_BYTES {
        return Err(Error::Issuance {
            reason: "the participant list is too large".into(),
        });
    }
    let jwt = String::from_utf8(reply.body)
        .map_err(|_| Error::UntrustedIssuer {
            issuer: "scheme participant list (not text)".into(),
        })?
        .trim()
        .to_string();
    let list = verify_participant_list(&jwt, key, now_unix())?;
    Ok((jwt, list))
}
