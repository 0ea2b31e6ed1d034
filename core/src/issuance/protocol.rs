//! The OpenID4VCI requests themselves: token (pre-authorized code or refresh token), nonce,
//! key proofs, credential, deferred credential and notification, with their responses read
//! strictly. No vault access here; the use cases in `mod.rs` decide what to keep.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::metadata::IssuerMetadata;
use super::offer::{self, CredentialOffer};
use kluis_sdjwt::{PublicJwk, UnsignedJws};

use super::dpop::Dpop;
use super::PROOF_TYP;
use crate::http::{self, Http};
use crate::jws;
use crate::{Error, IssuanceFailure};

/// Tokens from the token endpoint; bearer secrets, zeroized, never shown. With `dpop`, the
/// access token is DPoP-bound: every use sends a proof by that key.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    #[zeroize(skip)]
    pub dpop: Option<std::sync::Arc<Dpop>>,
}

impl Tokens {
    pub(crate) fn bearer(access: String, refresh: Option<String>) -> Tokens {
        Tokens {
            access,
            refresh,
            dpop: None,
        }
    }

    /// POSTs `body` to a resource of the holder with the access token.
    async fn post(
        &self,
        http: &Http,
        url: &reqwest::Url,
        body: &Value,
    ) -> Result<http::Reply, Error> {
        match &self.dpop {
            None => Ok(http.post_json(url, Some(&self.access), body).await?),
            Some(d) => {
                d.post(http, url, Some(&self.access), Some(body), &[], None)
                    .await
            }
        }
    }
}

pub(crate) fn token_reply(reply: http::Reply, what: &str) -> Result<Tokens, Error> {
    token_reply_with(reply, what, None)
}

/// Reads a token response; `dpop`: the key the request was proven with, so a `DPoP` token is
/// expected (a `Bearer` one is used as such).
pub(crate) fn token_reply_with(
    reply: http::Reply,
    what: &str,
    dpop: Option<std::sync::Arc<Dpop>>,
) -> Result<Tokens, Error> {
    if !reply.status.is_success() {
        return Err(Error::Issuance {
            kind: IssuanceFailure::refused(&reply),
            reason: format!("the holder refused the {what} ({})", reply.oauth_error()),
        });
    }
    let v = reply.json("token response")?;
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason: "the token response has no access_token".into(),
        })?;
    let token_type = v.get("token_type").and_then(Value::as_str).unwrap_or("");
    let dpop = if token_type.eq_ignore_ascii_case("bearer") {
        None
    } else if token_type.eq_ignore_ascii_case("dpop") && dpop.is_some() {
        dpop
    } else {
        return Err(Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason: format!(
                "the token response has token_type {:?}, not Bearer{}",
                token_type.chars().take(20).collect::<String>(),
                if dpop.is_some() { " or DPoP" } else { "" }
            ),
        });
    };
    Ok(Tokens {
        access: access.to_string(),
        // A refresh token of a DPoP grant would be bound to a key the wallet does not keep.
        refresh: v
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|_| dpop.is_none())
            .map(str::to_string),
        dpop,
    })
}

pub(crate) async fn pre_authorized_token(
    http: &Http,
    meta: &IssuerMetadata,
    offer: &CredentialOffer,
    tx_code: Option<&str>,
) -> Result<Tokens, Error> {
    let offer::OfferGrant::PreAuthorized(code) = &offer.grant else {
        return Err(Error::Issuance {
            kind: IssuanceFailure::Unsupported,
            reason: "this offer is collected with the authorization code flow".into(),
        });
    };
    let mut form = vec![
        ("grant_type", offer::PRE_AUTHORIZED_GRANT),
        ("pre-authorized_code", code.as_str()),
    ];
    if let (Some(_), Some(code)) = (&offer.tx_code, tx_code) {
        form.push(("tx_code", code));
    }
    let reply = http.post_form(&meta.token_endpoint, &form).await?;
    token_reply(reply, "pre-authorized code or transaction code")
}

pub(crate) async fn refresh_token_grant(
    http: &Http,
    meta: &IssuerMetadata,
    refresh_token: &str,
) -> Result<Tokens, Error> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    let reply = http.post_form(&meta.token_endpoint, &form).await?;
    token_reply(reply, "refresh token")
}

pub(crate) enum CredentialReply {
    Issued {
        credentials: Vec<String>,
        notification_id: Option<String>,
    },
    Deferred {
        transaction_id: String,
        interval: u64,
    },
}

pub(crate) async fn fresh_nonce(
    http: &Http,
    meta: &IssuerMetadata,
) -> Result<Option<String>, Error> {
    let Some(url) = &meta.nonce_endpoint else {
        return Ok(None);
    };
    let reply = http.post_json(url, None, &json!({})).await?;
    if !reply.status.is_success() {
        return Err(Error::Issuance {
            kind: IssuanceFailure::refused(&reply),
            reason: format!("the nonce endpoint refused ({})", reply.oauth_error()),
        });
    }
    let v = reply.json("nonce response")?;
    v.get("c_nonce")
        .and_then(Value::as_str)
        .map(|n| Some(n.to_string()))
        .ok_or_else(|| Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason: "the nonce response has no c_nonce".into(),
        })
}

/// The key proof for `key`, for `aud` = the issuer and the fresh `c_nonce`, to be signed by it.
pub(crate) fn key_proof(
    meta: &IssuerMetadata,
    key: &PublicJwk,
    nonce: Option<&str>,
    now: i64,
) -> Result<UnsignedJws, Error> {
    let mut payload = json!({ "aud": meta.credential_issuer, "iat": now });
    if let Some(n) = nonce {
        payload["nonce"] = json!(n);
    }
    Ok(jws::unsigned(PROOF_TYP, Some(key), &payload)?)
}

/// The one key proof of a batch whose keys a key attestation covers (OpenID4VCI 1.0 Appendix
/// D, HAIP 1.0 §4.4): signed by the first key, the attestation in the `key_attestation` header;
/// the holder issues one credential per attested key.
pub(crate) fn attested_key_proof(
    meta: &IssuerMetadata,
    key: &PublicJwk,
    key_attestation: &str,
    nonce: Option<&str>,
    now: i64,
) -> Result<UnsignedJws, Error> {
    let mut payload = json!({ "aud": meta.credential_issuer, "iat": now });
    if let Some(n) = nonce {
        payload["nonce"] = json!(n);
    }
    let header = json!({ "alg": "ES256", "typ": PROOF_TYP, "jwk": key.to_value(),
        "key_attestation": key_attestation });
    UnsignedJws::new(&header, &payload).map_err(|_| Error::Internal {
        reason: "encoding a key proof".into(),
    })
}

/// Signs one key proof per copy, given the holder's fresh `c_nonce` (or none).
pub(crate) type SignProofs<'a> = dyn Fn(Option<&str>) -> Result<Vec<String>, Error> + Sync + 'a;

pub(crate) async fn request_credential(
    http: &Http,
    meta: &IssuerMetadata,
    tokens: &Tokens,
    config: &str,
    sign_proofs: &SignProofs<'_>,
) -> Result<CredentialReply, Error> {
    let nonce = fresh_nonce(http, meta).await?;
    let proofs = sign_proofs(nonce.as_deref())?;
    send_credential_request(http, meta, tokens, config, "jwt", proofs).await
}

/// The credential request with `proofs` of `proof_type` (`jwt`, `attestation`) already made
/// (for the holder's `c_nonce`).
pub(crate) async fn send_credential_request(
    http: &Http,
    meta: &IssuerMetadata,
    tokens: &Tokens,
    config: &str,
    proof_type: &str,
    proofs: Vec<String>,
) -> Result<CredentialReply, Error> {
    let body = json!({
        "credential_configuration_id": config,
        "proofs": { (proof_type): proofs },
    });
    let reply = tokens.post(http, &meta.credential_endpoint, &body).await?;
    if let Some(e) = super::dpop::refused(&reply) {
        return Err(e);
    }
    match reply.status {
        StatusCode::OK => {
            let v = reply.json("credential response")?;
            Ok(CredentialReply::Issued {
                credentials: credentials_of(&v)?,
                notification_id: notification_of(&v),
            })
        }
        StatusCode::ACCEPTED => {
            let v = reply.json("credential response")?;
            let transaction_id =
                v.get("transaction_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::Issuance {
                        kind: IssuanceFailure::Malformed,
                        reason: "a deferred credential response has no transaction_id".into(),
                    })?;
            if meta.deferred_endpoint.is_none() {
                return Err(Error::Issuance {
                    kind: IssuanceFailure::Malformed,
                    reason: "the holder defers issuance but has no deferred_credential_endpoint"
                        .into(),
                });
            }
            Ok(CredentialReply::Deferred {
                transaction_id: transaction_id.to_string(),
                interval: v.get("interval").and_then(Value::as_u64).unwrap_or(5),
            })
        }
        _ => Err(Error::Issuance {
            kind: IssuanceFailure::refused(&reply),
            reason: format!(
                "the holder refused the credential request ({})",
                reply.oauth_error()
            ),
        }),
    }
}

fn credentials_of(v: &Value) -> Result<Vec<String>, Error> {
    let bad = || Error::Issuance {
        kind: IssuanceFailure::Malformed,
        reason: "the credential response has no credentials array of strings".into(),
    };
    v.get("credentials")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|c| {
            c.get("credential")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(bad)
        })
        .collect()
}

fn notification_of(v: &Value) -> Option<String> {
    v.get("notification_id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub(crate) enum DeferredReply {
    Ready(Vec<String>, Option<String>),
    Pending,
    Unknown,
    /// 401: the access token expired (or was never valid).
    Unauthorized,
}

pub(crate) async fn deferred_once(
    http: &Http,
    meta: &IssuerMetadata,
    tokens: &Tokens,
    transaction_id: &str,
) -> Result<DeferredReply, Error> {
    let Some(url) = &meta.deferred_endpoint else {
        return Err(Error::Issuance {
            kind: IssuanceFailure::Unsupported,
            reason: "the holder has no deferred_credential_endpoint".into(),
        });
    };
    let reply = tokens
        .post(http, url, &json!({ "transaction_id": transaction_id }))
        .await?;
    match reply.status {
        StatusCode::OK => {
            let v = reply.json("deferred credential response")?;
            Ok(DeferredReply::Ready(
                credentials_of(&v)?,
                notification_of(&v),
            ))
        }
        StatusCode::ACCEPTED => Ok(DeferredReply::Pending),
        StatusCode::UNAUTHORIZED => Ok(DeferredReply::Unauthorized),
        _ => {
            let e = reply.oauth_error();
            // Drafts before 1.0 said "issuance_pending" as a 400 error: accept that too.
            if e.starts_with("issuance_pending") {
                Ok(DeferredReply::Pending)
            } else if e.starts_with("invalid_transaction_id") {
                Ok(DeferredReply::Unknown)
            } else {
                Err(Error::Issuance {
                    kind: IssuanceFailure::refused(&reply),
                    reason: format!("the holder refused the deferred credential request ({e})"),
                })
            }
        }
    }
}

pub(crate) async fn poll_until(
    http: &Http,
    meta: &IssuerMetadata,
    tokens: &Tokens,
    transaction_id: &str,
    interval: u64,
    wait: Duration,
) -> Result<Option<(Vec<String>, Option<String>)>, Error> {
    let deadline = Instant::now() + wait;
    let step = Duration::from_secs(interval.clamp(1, 60));
    loop {
        if Instant::now() + step > deadline {
            return Ok(None);
        }
        tokio::time::sleep(step).await;
        match deferred_once(http, meta, tokens, transaction_id).await? {
            DeferredReply::Ready(c, n) => return Ok(Some((c, n))),
            DeferredReply::Pending => continue,
            DeferredReply::Unknown | DeferredReply::Unauthorized => {
                return Err(Error::Issuance {
                    kind: IssuanceFailure::Refused {
                        status: 400,
                        error: Some("invalid_transaction_id".into()),
                    },
                    reason: "the holder no longer knows the deferred transaction".into(),
                })
            }
        }
    }
}

/// Notification event: the credential was stored.
pub(crate) const ACCEPTED: &str = "credential_accepted";
/// Notification event: the credential was received but not kept (it failed verification).
pub(crate) const FAILURE: &str = "credential_failure";

/// Sends a notification `event`; best effort (the citizen's outcome does not depend on it).
pub(crate) async fn notify(
    http: &Http,
    meta: &IssuerMetadata,
    tokens: &Tokens,
    notification_id: Option<&str>,
    event: &str,
) {
    if let (Some(url), Some(id)) = (&meta.notification_endpoint, notification_id) {
        let _ = tokens
            .post(http, url, &json!({ "notification_id": id, "event": event }))
            .await;
    }
}
