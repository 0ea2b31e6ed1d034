//! Trust through the scheme (afsprakenstelsel): a participant list signed by the scheme key.
//!
//! Whoever relies on the scheme pins its public key and the list's URL, fetches the list
//! ([`fetch_list`]) and verifies its signature (`typ` `participant-list+jwt`, ES256) and
//! validity ([`verify_participant_list`]). A holder's credential is then trusted only if the
//! list names its issuer with the signing key *and* the credential's `vct`. The list also names
//! the requesting parties with their registered purposes and the claims each may ask. The
//! wallet's pinned copy, sealed in its vault, is kluis-core's (docs/COLLECTING.md).

use std::collections::BTreeMap;

use kluis_sdjwt::PublicJwk;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{checked_url, Http};
use crate::jws::{header as jws_header, verify as jws_verify};
use crate::{now_unix, Error, NetworkFailure};

/// `typ` of the participant list JWT.
pub const PARTICIPANT_LIST_TYP: &str = "participant-list+jwt";

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
    /// Where a wallet sends a citizen's deletion request (`POST`, `application/jwt`; on one of
    /// `response_origins`), if the party takes them (docs/PRESENTING.md "Retention and
    /// deletion").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_uri: Option<String>,
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
    /// Mandate registries: who may sign the status lists of citizens' mandates.
    #[serde(default)]
    pub mandate_registries: Vec<ListedRegistry>,
    /// The scheme's certificate authorities (base64 DER, as in `x5c`): the trust anchors of
    /// requesting parties' access certificates (`x509_hash:` client identifiers) and of issuer
    /// `x5c` chains. Listed here, they are vouched for by the pinned scheme key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_authorities: Vec<String>,
    /// Wallet providers: who vouches for wallet instances (Wallet Attestations, key
    /// attestations; docs/COLLECTING.md "Wallet attestation").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wallet_providers: Vec<ListedWalletProvider>,
}

/// A wallet provider as the scheme lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedWalletProvider {
    /// Short id.
    pub id: String,
    /// Registered name.
    #[serde(default)]
    pub name: LocalizedName,
    /// Its base URL, also its identifier (the attestations' `iss`).
    pub url: String,
    /// Its certificates (base64 DER), which holders trust its attestations by (`x5c`).
    #[serde(default)]
    pub certificates: Vec<String>,
}

/// A mandate registry as the scheme lists it (docs/DELEGATION.md, "Revocation and expiry").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedRegistry {
    /// Short id.
    pub id: String,
    /// Registered name.
    #[serde(default)]
    pub name: LocalizedName,
    /// Its base URL, which is also its identifier (the lists' `iss`).
    pub url: String,
    /// The keys it signs status lists with (public JWKs).
    pub keys: Vec<Value>,
}

impl ParticipantList {
    /// The holder whose issuer identifier is `iss`.
    pub fn holder(&self, iss: &str) -> Option<&ListedHolder> {
        self.holders.iter().find(|h| h.credential_issuer == iss)
    }

    /// The mandate registry at `url` (a trailing `/` ignored).
    pub fn mandate_registry(&self, url: &str) -> Option<&ListedRegistry> {
        let url = url.trim_end_matches('/');
        self.mandate_registries
            .iter()
            .find(|r| r.url.trim_end_matches('/') == url)
    }

    /// The requesting party with client id `client_id`.
    pub fn requesting_party(&self, client_id: &str) -> Option<&RequestingParty> {
        self.requesting_parties
            .iter()
            .find(|p| p.client_id == client_id)
    }
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

/// Fetches the participant list at `list_uri` and verifies it with `key`: the token as fetched
/// and the list.
pub async fn fetch_list(
    http: &Http,
    list_uri: &str,
    key: &PublicJwk,
) -> Result<(String, ParticipantList), Error> {
    let url = checked_url(list_uri)?;
    let reply = http.get(&url, "application/jwt").await?;
    if !reply.status.is_success() {
        return Err(Error::Network {
            kind: NetworkFailure::HttpStatus {
                status: reply.status.as_u16(),
            },
            reason: format!(
                "the scheme's participant list is unavailable (HTTP {})",
                reply.status.as_u16()
            ),
        });
    }
    if reply.body.len() > MAX_LIST_BYTES {
        return Err(Error::Protocol {
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
