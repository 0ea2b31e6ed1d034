//! The authorization code flow of OpenID4VCI 1.0 §5–6 as HAIP 1.0 asks of a wallet: a pushed
//! authorization request (RFC 9126) with PKCE S256, `state`, the offer's `issuer_state` and the
//! issuer's `scope` (or `authorization_details`); the citizen logs in at the holder in a browser;
//! the redirect back is checked (`state`, `iss` against the authorization server: RFC 9207
//! mix-up defence, its own `redirect_uri`) before the code is exchanged with a DPoP proof by a
//! key made for this issuance (dpop.rs). The rest is the same as the pre-authorized flow.
//!
//! [`PendingAuthorization`] is consumed by [`Wallet::finish_authorization`], so one redirect
//! is used at most once; the holder refuses a code used twice as well.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::client_attestation::{self, ClientAttestation, ClientAuth};
use super::dpop::{self, Dpop};
use super::offer::{OfferGrant, AUTHORIZATION_CODE_GRANT};
use super::protocol::token_reply_with;
use super::{check_trusted, reporting, CollectOutcome, CollectProgress, NoProgress, OfferSession};
use crate::{AuthorizationRefusal, Error, IssuanceFailure, Wallet};

/// The `client_id` the wallet uses at authorization servers: the same for every kluis wallet
/// (a public client, RFC 8252), so it identifies no one.
pub const WALLET_CLIENT_ID: &str = "kluis-wallet";

fn refused(refusal: AuthorizationRefusal) -> Error {
    Error::Authorization { refusal }
}

fn unsupported(reason: &str) -> Error {
    refused(AuthorizationRefusal::Unsupported {
        reason: reason.into(),
    })
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// An authorization the citizen is to complete in a browser: open [`Self::authorization_url`],
/// then hand the URL the browser was redirected to to [`Wallet::finish_authorization`].
/// Holds the PKCE verifier and the DPoP key: no `Debug`, zeroized where it can be.
pub struct PendingAuthorization {
    session: OfferSession,
    url: String,
    redirect_uri: Url,
    state: Zeroizing<String>,
    code_verifier: Zeroizing<String>,
    dpop: Arc<Dpop>,
    /// The Wallet Attestation of this issuance, when the holder wants one.
    client: Option<ClientAttestation>,
}

impl PendingAuthorization {
    /// Where to send the citizen's browser (the holder's login page).
    pub fn authorization_url(&self) -> &str {
        &self.url
    }

    /// The redirect URI the holder will send the browser back to.
    pub fn redirect_uri(&self) -> &str {
        self.redirect_uri.as_str()
    }

    /// What the citizen was shown about the offer.
    pub fn preview(&self) -> &super::OfferPreview {
        &self.session.preview
    }
}

/// Same scheme, host, port and path (the query carries the answer).
fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

impl Wallet {
    /// Starts the authorization code flow for an offer that needs it
    /// ([`OfferSession::needs_authorization`]): checks trust first (nothing is asked of an
    /// unlisted holder), pushes the authorization request and returns where the citizen logs
    /// in. `redirect_uri`: where the browser comes back (the CLI's loopback listener, an app's
    /// claimed https link or custom scheme).
    pub async fn start_authorization(
        &self,
        session: OfferSession,
        redirect_uri: &str,
    ) -> Result<PendingAuthorization, Error> {
        check_trusted(&session.preview)?;
        let OfferGrant::AuthorizationCode { issuer_state } = &session.offer.grant else {
            return Err(Error::invalid_input(
                "this offer has a pre-authorized code: accept it with the transaction code",
            ));
        };
        let redirect = Url::parse(redirect_uri)
            .map_err(|_| Error::invalid_input("the redirect URI is not a URI"))?;
        let meta = &session.metadata;
        let authorization_endpoint = meta
            .authorization_endpoint
            .clone()
            .ok_or_else(|| unsupported("no authorization_endpoint"))?;
        // HAIP 1.0 requires PAR and PKCE S256; without them the flow is not high assurance.
        let par = meta
            .par_endpoint
            .clone()
            .ok_or_else(|| unsupported("no pushed_authorization_request_endpoint (PAR)"))?;
        if !meta.pkce_s256 {
            return Err(unsupported(
                "PKCE S256 is not in code_challenge_methods_supported",
            ));
        }
        let code_verifier = Zeroizing::new(random_b64(32));
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let state = Zeroizing::new(random_b64(16));
        let ids = &session.offer.credential_configuration_ids;
        let scopes: Option<Vec<&str>> = ids
            .iter()
            .map(|id| meta.configs.get(id).and_then(|c| c.scope.as_deref()))
            .collect();
        // The issuer's scope values when it names one for every offered configuration, else
        // authorization_details (OpenID4VCI 1.0 §5.1.1–5.1.2).
        let (ask_name, ask_value) = match scopes {
            Some(s) => ("scope", s.join(" ")),
            None => (
                "authorization_details",
                Value::Array(
                    ids.iter()
                        .map(|id| json!({ "type": "openid_credential", "credential_configuration_id": id }))
                        .collect(),
                )
                .to_string(),
            ),
        };
        let mut form = vec![
            ("response_type", "code"),
            ("client_id", WALLET_CLIENT_ID),
            ("redirect_uri", redirect_uri),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", state.as_str()),
            (ask_name, ask_value.as_str()),
        ];
        if let Some(s) = issuer_state {
            form.push(("issuer_state", s.as_str()));
        }
        // HAIP 1.0 §4.2: the wallet authenticates at PAR as at the token endpoint.
        let client = if meta.attest_client_auth {
            let c = self.client_attestation(&session.http).await?;
            c.fetch_challenge(&session.http, meta).await?;
            Some(c)
        } else {
            None
        };
        let reply = match &client {
            Some(c) => c.post_form(self, &session.http, meta, &par, &form).await?,
            None => session.http.post_form(&par, &form).await?,
        };
        if !reply.status.is_success() {
            if client.is_some() {
                if let Some(e) = client_attestation::refusal(&reply) {
                    return Err(e);
                }
            }
            return Err(Error::Issuance {
                kind: IssuanceFailure::refused(&reply),
                reason: format!(
                    "the holder refused the pushed authorization request ({})",
                    reply.oauth_error()
                ),
            });
        }
        let v = reply.json("pushed authorization response")?;
        let request_uri = v
            .get("request_uri")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty() && r.len() <= 2048)
            .ok_or_else(|| Error::Issuance {
                kind: IssuanceFailure::Malformed,
                reason: "the pushed authorization response has no request_uri".into(),
            })?;
        let mut url = authorization_endpoint;
        url.query_pairs_mut()
            .append_pair("client_id", WALLET_CLIENT_ID)
            .append_pair("request_uri", request_uri);
        Ok(PendingAuthorization {
            url: url.to_string(),
            session,
            redirect_uri: redirect,
            state,
            code_verifier,
            dpop: Arc::new(Dpop::new()?),
            client,
        })
    }

    /// Finishes the authorization with the URL the browser came back to: checks it is the
    /// answer to this request (its redirect URI, `state`, `iss`), exchanges the code with PKCE
    /// and DPoP, and collects as [`Wallet::accept_offer`] does. On any failure nothing is stored.
    pub async fn finish_authorization(
        &self,
        pending: PendingAuthorization,
        redirected_to: &str,
    ) -> Result<CollectOutcome, Error> {
        self.finish_authorization_reporting(pending, redirected_to, &NoProgress)
            .await
    }

    /// As [`Wallet::finish_authorization`], reporting to `progress` as
    /// [`Wallet::accept_offer_reporting`] does (a refused redirect is reported as failed too).
    pub async fn finish_authorization_reporting(
        &self,
        pending: PendingAuthorization,
        redirected_to: &str,
        progress: &dyn CollectProgress,
    ) -> Result<CollectOutcome, Error> {
        let issuer = pending.session.preview.issuer.clone();
        reporting(
            issuer,
            progress,
            self.finish_authorization_inner(pending, redirected_to, progress),
        )
        .await
    }

    async fn finish_authorization_inner(
        &self,
        pending: PendingAuthorization,
        redirected_to: &str,
        progress: &dyn CollectProgress,
    ) -> Result<CollectOutcome, Error> {
        let back = Url::parse(redirected_to.trim())
            .map_err(|_| refused(AuthorizationRefusal::OtherRedirect))?;
        if !same_endpoint(&back, &pending.redirect_uri) {
            return Err(refused(AuthorizationRefusal::OtherRedirect));
        }
        let mut params: HashMap<String, String> = HashMap::new();
        for (k, v) in back.query_pairs() {
            // A repeated parameter is ambiguous: which state, which iss? Refuse.
            if params.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(refused(AuthorizationRefusal::StateMismatch));
            }
        }
        // state first (an answer to another request is not read further), then iss (RFC 9207
        // §2.4: before the error or the code is used).
        if params.get("state").map(String::as_str) != Some(pending.state.as_str()) {
            return Err(refused(AuthorizationRefusal::StateMismatch));
        }
        let meta = &pending.session.metadata;
        if params.get("iss").map(String::as_str) != Some(meta.auth_server.as_str()) {
            return Err(refused(AuthorizationRefusal::WrongIssuer));
        }
        if let Some(e) = params.get("error") {
            return Err(refused(AuthorizationRefusal::Denied {
                error: e.chars().filter(|c| !c.is_control()).take(80).collect(),
            }));
        }
        let code = params
            .get("code")
            .filter(|c| !c.is_empty())
            .map(|c| Zeroizing::new(c.clone()))
            .ok_or_else(|| refused(AuthorizationRefusal::NoCode))?;
        let redirect_uri = pending.redirect_uri.as_str();
        let form = [
            ("grant_type", AUTHORIZATION_CODE_GRANT),
            ("code", code.as_str()),
            ("code_verifier", pending.code_verifier.as_str()),
            ("redirect_uri", redirect_uri),
            ("client_id", WALLET_CLIENT_ID),
        ];
        let http = &pending.session.http;
        let client = match &pending.client {
            Some(c) => {
                c.fetch_challenge(http, meta).await?;
                Some(ClientAuth {
                    attestation: c,
                    wallet: self,
                    aud: &meta.auth_server,
                })
            }
            None => None,
        };
        let reply = pending
            .dpop
            .post(
                http,
                &meta.token_endpoint,
                None,
                None,
                &form,
                client.as_ref(),
            )
            .await?;
        if !reply.status.is_success() {
            if let Some(e) = dpop::refused(&reply) {
                return Err(e);
            }
            if client.is_some() {
                if let Some(e) = client_attestation::refusal(&reply) {
                    return Err(e);
                }
            }
            let reason = reply.oauth_error();
            if reply.status == StatusCode::BAD_REQUEST && reason.starts_with("invalid_grant") {
                return Err(refused(AuthorizationRefusal::CodeRefused { reason }));
            }
        }
        let tokens =
            token_reply_with(reply, "authorization code", Some(Arc::clone(&pending.dpop)))?;
        self.collect_with(pending.session, tokens, progress).await
    }
}
