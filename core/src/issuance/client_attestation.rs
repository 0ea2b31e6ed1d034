//! The wallet's side of the wallet provider (HAIP 1.0 §4.3–4.4, OpenID4VCI 1.0 Appendix D–E):
//! a Wallet Attestation for attestation-based client authentication at a holder's PAR and token
//! endpoints (draft-ietf-oauth-attestation-based-client-auth, `attest_jwt_client_auth`), and key
//! attestations over the keys of a batch.
//!
//! Not trackable: every issuance gets a **fresh instance key** (made in the wallet's holder key
//! store with the provider's nonce as attestation challenge, deleted from a device store again
//! when the issuance ends) and a fresh, short-lived Wallet Attestation for it. The attestation's
//! `sub` is the `client_id` all kluis wallets share, so two holders comparing what they received
//! find no common key or identifier. The wallet provider is the one the scheme lists
//! (`wallet_providers`); it learns that some kluis wallet collects, not from whom.
//!
//! Each request gets a PoP (`typ` `oauth-client-attestation-pop+jwt`: `iss` the `client_id`,
//! `aud` the authorization server's issuer identifier, a fresh `jti`, `iat`, a one-minute `exp`,
//! and the server's challenge from its `challenge_endpoint` or its last
//! `OAuth-Client-Attestation-Challenge` header, also as `nonce` for servers built to drafts
//! before -05). A server that answers `use_attestation_challenge` with a new challenge gets one
//! retry.

use std::sync::Mutex;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use kluis_sdjwt::UnsignedJws;
use rand::RngCore as _;
use reqwest::Url;
use serde_json::{json, Value};

use super::metadata::IssuerMetadata;
use crate::holder_key::{HolderKey, MadeKeys};
use crate::http::{Http, Reply};
use crate::{now_unix, AuthorizationRefusal, Error, IssuanceFailure, Wallet};

/// `typ` of the Client Attestation PoP JWT.
pub const CLIENT_ATTESTATION_POP_TYP: &str = "oauth-client-attestation-pop+jwt";
/// `typ` of the Wallet Attestation.
pub const WALLET_ATTESTATION_TYP: &str = "oauth-client-attestation+jwt";
/// `typ` of the wallet's proof of possession of a key, sent to its wallet provider.
pub const WALLET_KEY_PROOF_TYP: &str = "kluis-wallet-key-proof+jwt";

fn refused(reason: impl Into<String>) -> Error {
    Error::Authorization {
        refusal: AuthorizationRefusal::ClientAttestationRefused {
            reason: reason.into(),
        },
    }
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A Wallet Attestation for one issuance and the instance key it is bound to. No `Debug`.
pub(crate) struct ClientAttestation {
    jwt: String,
    key: HolderKey,
    /// Deletes the instance key from a device store when the issuance is over.
    _made: MadeKeys,
    challenge: Mutex<Option<String>>,
}

impl ClientAttestation {
    /// The `OAuth-Client-Attestation` and `OAuth-Client-Attestation-PoP` headers for one request
    /// to the authorization server `aud`. Uses up the challenge it has.
    pub(crate) fn headers(
        &self,
        wallet: &Wallet,
        aud: &str,
    ) -> Result<Vec<(&'static str, String)>, Error> {
        let now = now_unix();
        let mut claims = json!({
            "iss": super::WALLET_CLIENT_ID,
            "aud": aud,
            "jti": random_b64(16),
            "iat": now,
            "exp": now + 60,
        });
        let challenge = self
            .challenge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = challenge {
            claims["challenge"] = json!(c);
            claims["nonce"] = json!(c);
        }
        let header = json!({ "typ": CLIENT_ATTESTATION_POP_TYP, "alg": "ES256" });
        let jws = UnsignedJws::new(&header, &claims).map_err(|e| Error::Internal {
            reason: format!("client attestation PoP: {e}"),
        })?;
        let pop = wallet.sign_jws(&self.key, jws, "client attestation PoP")?;
        Ok(vec![
            ("oauth-client-attestation", self.jwt.clone()),
            ("oauth-client-attestation-pop", pop),
        ])
    }

    /// Keeps the challenge a reply hands out for the next PoP.
    pub(crate) fn observe(&self, reply: &Reply) {
        if let Some(c) = &reply.attestation_challenge {
            *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        }
    }

    /// Fetches a challenge from the authorization server's challenge endpoint, if it has one
    /// (the draft: the client MUST then use one) and no earlier reply gave one.
    pub(crate) async fn fetch_challenge(
        &self,
        http: &Http,
        meta: &IssuerMetadata,
    ) -> Result<(), Error> {
        let Some(url) = &meta.challenge_endpoint else {
            return Ok(());
        };
        if self
            .challenge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let reply = http.post_form(url, &[]).await?;
        if !reply.status.is_success() {
            return Err(refused(format!(
                "the challenge endpoint refused ({})",
                reply.oauth_error()
            )));
        }
        let c = reply
            .json("challenge response")?
            .get("attestation_challenge")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty() && c.len() <= 512)
            .map(str::to_string)
            .ok_or_else(|| refused("the challenge response has no attestation_challenge"))?;
        *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
        Ok(())
    }

    /// POSTs `form` to `url` with the attestation and a fresh PoP; once more when the server
    /// asks for another challenge.
    pub(crate) async fn post_form(
        &self,
        wallet: &Wallet,
        http: &Http,
        meta: &IssuerMetadata,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<Reply, Error> {
        let mut retried = false;
        loop {
            let headers = self.headers(wallet, &meta.auth_server)?;
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let reply = http.post_with_headers(url, &headers, None, form).await?;
            self.observe(&reply);
            if !retried && asks_for_challenge(&reply) {
                retried = true;
                continue;
            }
            return Ok(reply);
        }
    }
}

/// What a request needs to authenticate with a Wallet Attestation (passed to the DPoP sender).
pub(crate) struct ClientAuth<'a> {
    pub attestation: &'a ClientAttestation,
    pub wallet: &'a Wallet,
    /// The authorization server's issuer identifier (the PoP's `aud`).
    pub aud: &'a str,
}

/// `use_attestation_challenge` with a new challenge: worth one retry.
pub(crate) fn asks_for_challenge(reply: &Reply) -> bool {
    !reply.status.is_success()
        && reply.attestation_challenge.is_some()
        && reply.oauth_error().starts_with("use_attestation_challenge")
}

/// A holder's refusal of the client attestation, typed; else `None`.
pub(crate) fn refusal(reply: &Reply) -> Option<Error> {
    let e = reply.oauth_error();
    let ours = e.starts_with("invalid_client")
        || e.starts_with("use_fresh_attestation")
        || e.starts_with("use_attestation_challenge");
    ours.then(|| refused(format!("the holder refused the wallet attestation ({e})")))
}

impl Wallet {
    /// The wallet provider the pinned scheme lists.
    fn wallet_provider(&self) -> Result<Url, Error> {
        let list = self.participant_list()?.ok_or_else(|| {
            refused("the holder requires a wallet attestation and no scheme is pinned")
        })?;
        let p = list.wallet_providers.first().ok_or_else(|| {
            refused(
                "the holder requires a wallet attestation and the scheme lists no wallet provider",
            )
        })?;
        Url::parse(&p.url).map_err(|_| refused("the scheme's wallet provider URL is not a URL"))
    }

    async fn provider_nonce(http: &Http, provider: &Url) -> Result<String, Error> {
        let url = at(provider, "nonce")?;
        let reply = http.post_json(&url, None, &json!({})).await?;
        if !reply.status.is_success() {
            return Err(refused(format!(
                "the wallet provider refused a nonce ({})",
                reply.oauth_error()
            )));
        }
        reply
            .json("wallet provider nonce")?
            .get("nonce")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| refused("the wallet provider's nonce response has no nonce"))
    }

    /// Proof to the provider that the wallet holds `key` (and its platform chain, if any).
    fn provider_key_proof(
        &self,
        key: &HolderKey,
        provider: &Url,
        nonce: &str,
    ) -> Result<(String, Value), Error> {
        let header = json!({ "typ": WALLET_KEY_PROOF_TYP, "alg": "ES256",
            "jwk": key.public.to_value() });
        let claims = json!({ "aud": provider_id(provider), "nonce": nonce, "iat": now_unix() });
        let jws = UnsignedJws::new(&header, &claims).map_err(|e| Error::Internal {
            reason: format!("wallet provider key proof: {e}"),
        })?;
        let proof = self.sign_jws(key, jws, "wallet provider key proof")?;
        let chain = if key.attestation.is_empty() {
            Value::Null
        } else {
            json!(key
                .attestation
                .iter()
                .map(|c| STANDARD.encode(c))
                .collect::<Vec<_>>())
        };
        Ok((proof, chain))
    }

    /// A fresh instance key and a Wallet Attestation for it, for one issuance.
    pub(crate) async fn client_attestation(&self, http: &Http) -> Result<ClientAttestation, Error> {
        let provider = self.wallet_provider()?;
        let nonce = Self::provider_nonce(http, &provider).await?;
        let made = self.made_keys();
        let key = self.new_credential_key(Some(nonce.as_bytes()))?;
        made.note(&key);
        let (proof, chain) = self.provider_key_proof(&key, &provider, &nonce)?;
        let url = at(&provider, "wallet-attestation")?;
        let body = json!({ "nonce": nonce, "proof": proof, "platform_attestation": chain });
        let reply = http.post_json(&url, None, &body).await?;
        if !reply.status.is_success() {
            return Err(refused(format!(
                "the wallet provider refused a wallet attestation ({})",
                reply.oauth_error()
            )));
        }
        let jwt = reply
            .json("wallet attestation response")?
            .get("wallet_attestation")
            .and_then(Value::as_str)
            .filter(|j| j.len() <= 16 * 1024 && j.split('.').count() == 3)
            .map(str::to_string)
            .ok_or_else(|| refused("the wallet provider sent no wallet attestation"))?;
        Ok(ClientAttestation {
            jwt,
            key,
            _made: made,
            challenge: Mutex::new(None),
        })
    }

    /// The wallet provider and a fresh nonce of it, for a batch that needs a key attestation:
    /// the batch's keys are made with this nonce as their platform attestation challenge, so
    /// the provider sees they are new.
    pub(crate) async fn key_attestation_nonce(&self, http: &Http) -> Result<ProviderNonce, Error> {
        let issuance = |reason: String| Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason,
        };
        let provider = self.wallet_provider().map_err(|_| {
            issuance(
                "the holder requires key attestations and the scheme lists no wallet provider"
                    .into(),
            )
        })?;
        let nonce = Self::provider_nonce(http, &provider)
            .await
            .map_err(|e| issuance(format!("key attestation: {e}")))?;
        Ok(ProviderNonce { provider, nonce })
    }

    /// One key attestation from the wallet provider over all of `keys` (a batch), carrying the
    /// holder's `c_nonce` when it gave one.
    pub(crate) async fn key_attestation(
        &self,
        http: &Http,
        pn: &ProviderNonce,
        keys: &[HolderKey],
        c_nonce: Option<&str>,
    ) -> Result<String, Error> {
        let issuance = |reason: String| Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason,
        };
        let mut proofs = Vec::new();
        let mut chains = Vec::new();
        for k in keys {
            let (p, c) = self.provider_key_proof(k, &pn.provider, &pn.nonce)?;
            proofs.push(p);
            chains.push(c);
        }
        let url = at(&pn.provider, "key-attestation")?;
        let mut body =
            json!({ "nonce": pn.nonce, "proofs": proofs, "platform_attestations": chains });
        if let Some(c) = c_nonce {
            body["c_nonce"] = json!(c);
        }
        let reply = http.post_json(&url, None, &body).await?;
        if !reply.status.is_success() {
            return Err(issuance(format!(
                "the wallet provider refused a key attestation ({})",
                reply.oauth_error()
            )));
        }
        reply
            .json("key attestation response")?
            .get("key_attestation")
            .and_then(Value::as_str)
            .filter(|j| j.len() <= 32 * 1024 && j.split('.').count() == 3)
            .map(str::to_string)
            .ok_or_else(|| issuance("the wallet provider sent no key attestation".into()))
    }
}

/// A wallet provider's nonce for one key attestation.
pub(crate) struct ProviderNonce {
    provider: Url,
    /// Also the platform attestation challenge of the batch's keys.
    pub nonce: String,
}

/// The provider's endpoint `name` (below its URL, whatever its path).
fn at(provider: &Url, name: &str) -> Result<Url, Error> {
    Url::parse(&format!("{}/{name}", provider_id(provider)))
        .map_err(|_| refused("the scheme's wallet provider URL is not a URL"))
}

/// The provider's identifier: its URL without a trailing `/`.
fn provider_id(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}
