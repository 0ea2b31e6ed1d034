//! Trust through the scheme (afsprakenstelsel): a participant list signed by the scheme key.
//!
//! The wallet pins the scheme's public key and the list's URL ([`Wallet::set_scheme`]), fetches
//! the list, verifies its signature (`typ` `participant-list+jwt`, ES256) and validity, and caches
//! it sealed in the vault. A holder's credential is then trusted only if the list names its
//! issuer with the signing key *and* the credential's `vct`. Keys added by hand
//! (`kluis trust add-issuer`) stay trusted for any type, for tests and imports; see
//! docs/COLLECTING.md. The list also names the requesting parties with their registered
//! purposes and the claims each may ask, for the presenting flow.

use kluis_sdjwt::{Credential, PublicJwk};
use kluis_vault::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use kluis_verifier::scheme::fetch_list;
pub use kluis_verifier::scheme::{
    verify_participant_list, ListedHolder, ListedRegistry, ListedWalletProvider, LocalizedName,
    ParticipantList, RegisteredPurpose, RequestingParty, PARTICIPANT_LIST_TYP,
};

use crate::audit::{self, Actor, AuditEvent};
use crate::http::{checked_url, Http, HttpPolicy};
use crate::trust::TrustList;
use crate::{now_unix, Error, Wallet};

/// Refetch the list when the cached copy is older than this, even if still valid.
pub const REFRESH_AFTER_SECS: i64 = 3600;

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

    /// The mandate registry at `url` as the scheme lists it (its identifier and first key): the
    /// party that signs the status lists of this wallet's mandates there. The list is refetched
    /// when due, or once more when it does not name the registry.
    pub(crate) async fn listed_mandate_registry(
        &self,
        url: &str,
        policy: &HttpPolicy,
    ) -> Result<crate::delegation::StatusRegistry, Error> {
        let http = Http::new(policy.clone())?;
        self.refresh_scheme_if_due(&http).await?;
        let find = |w: &Wallet| -> Result<Option<crate::delegation::StatusRegistry>, Error> {
            Ok(w.participant_list()?.and_then(|l| {
                let r = l.mandate_registry(url)?;
                let key = r.keys.iter().find_map(|k| PublicJwk::from_value(k).ok())?;
                Some(crate::delegation::StatusRegistry {
                    iss: r.url.trim_end_matches('/').to_string(),
                    key,
                })
            }))
        };
        if let Some(r) = find(self)? {
            return Ok(r);
        }
        if self.vault.get::<SchemeConfig>(CONFIG_ID)?.is_none() {
            return Err(Error::invalid_input(
                "a mandate registry must be listed in the scheme, and no scheme is pinned \
                 (kluis trust scheme)",
            ));
        }
        self.refetch_scheme(&http).await?;
        find(self)?.ok_or_else(|| {
            Error::invalid_input(format!(
                "the mandate registry {} is not listed in the scheme",
                crate::http::shorten(url)
            ))
        })
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
