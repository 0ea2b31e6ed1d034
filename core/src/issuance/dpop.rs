//! DPoP (RFC 9449) for one issuance: a fresh P-256 key made for it (never a holder key, so the
//! token binding cannot link credentials), a proof per request (`htm`, `htu`, `iat`, a fresh
//! `jti`, the server's `nonce`, and `ath` with an access token), and the one retry RFC 9449 §8
//! allows when the server answers `use_dpop_nonce` with a `DPoP-Nonce`.

use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kluis_sdjwt::{SigningKey, UnsignedJws};
use rand::RngCore as _;
use reqwest::Url;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::client_attestation::{asks_for_challenge, ClientAuth};
use crate::http::{Http, Reply};
use crate::{now_unix, AuthorizationRefusal, Error};

/// `typ` of a DPoP proof JWT.
pub const DPOP_TYP: &str = "dpop+jwt";

/// The DPoP key of one issuance and the last nonce the holder gave.
pub(crate) struct Dpop {
    key: SigningKey,
    nonce: Mutex<Option<String>>,
}

fn b64_random(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

impl Dpop {
    pub(crate) fn new() -> Result<Dpop, Error> {
        Ok(Dpop {
            key: SigningKey::make_random().map_err(|e| Error::Internal {
                reason: format!("DPoP key: {e}"),
            })?,
            nonce: Mutex::new(None),
        })
    }

    fn nonce(&self) -> Option<String> {
        self.nonce.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn proof(&self, url: &Url, access_token: Option<&str>) -> Result<String, Error> {
        // htu is the URI without query and fragment (RFC 9449 §4.2).
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut claims = json!({
            "htm": "POST",
            "htu": htu.as_str(),
            "iat": now_unix(),
            "jti": b64_random(16),
        });
        if let Some(n) = self.nonce() {
            claims["nonce"] = json!(n);
        }
        if let Some(t) = access_token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(t.as_bytes())));
        }
        let header =
            json!({ "typ": DPOP_TYP, "alg": "ES256", "jwk": self.key.public_jwk().to_value() });
        UnsignedJws::new(&header, &claims)
            .and_then(|j| j.sign(&self.key))
            .map_err(|e| Error::Internal {
                reason: format!("DPoP proof: {e}"),
            })
    }

    /// POSTs `json` (or else `form`) with a DPoP proof (and `Authorization: DPoP` when an
    /// access token is given); once more with the new nonce if the holder asks for one. With
    /// `client`, every attempt also carries the Wallet Attestation and a fresh PoP (and one more
    /// attempt is made when the server asks for another attestation challenge).
    pub(crate) async fn post(
        &self,
        http: &Http,
        url: &Url,
        access_token: Option<&str>,
        json: Option<&Value>,
        form: &[(&str, &str)],
        client: Option<&ClientAuth<'_>>,
    ) -> Result<Reply, Error> {
        let auth = access_token.map(|t| format!("DPoP {t}"));
        let mut retried = false;
        let mut challenge_retried = false;
        loop {
            let proof = self.proof(url, access_token)?;
            let attested = match client {
                Some(c) => c.attestation.headers(c.wallet, c.aud)?,
                None => Vec::new(),
            };
            let mut headers = vec![("dpop", proof.as_str())];
            if let Some(a) = &auth {
                headers.push(("authorization", a.as_str()));
            }
            headers.extend(attested.iter().map(|(k, v)| (*k, v.as_str())));
            let reply = http.post_with_headers(url, &headers, json, form).await?;
            if let Some(c) = client {
                c.attestation.observe(&reply);
                if !challenge_retried && asks_for_challenge(&reply) {
                    challenge_retried = true;
                    continue;
                }
            }
            let fresh = reply.dpop_nonce.clone();
            if let Some(n) = &fresh {
                *self.nonce.lock().unwrap_or_else(|p| p.into_inner()) = Some(n.clone());
            }
            if !reply.status.is_success() && asks_for_nonce(&reply) {
                if retried || fresh.is_none() {
                    return Err(Error::Authorization {
                        refusal: AuthorizationRefusal::DpopRefused {
                            reason: "the holder asks for a DPoP nonce again after the retry".into(),
                        },
                    });
                }
                retried = true;
                continue;
            }
            return Ok(reply);
        }
    }
}

/// `use_dpop_nonce` in the body (token endpoint, 400, RFC 9449 §8), or a 401 from a resource
/// that sends a new `DPoP-Nonce` (§9 puts the error in `WWW-Authenticate`, not the body).
fn asks_for_nonce(reply: &Reply) -> bool {
    reply.oauth_error().starts_with("use_dpop_nonce")
        || (reply.status == reqwest::StatusCode::UNAUTHORIZED && reply.dpop_nonce.is_some())
}

/// Maps a holder's DPoP refusal (`invalid_dpop_proof`) to the typed error, else `None`.
pub(crate) fn refused(reply: &Reply) -> Option<Error> {
    let e = reply.oauth_error();
    if !e.starts_with("invalid_dpop_proof") {
        return None;
    }
    Some(Error::Authorization {
        refusal: AuthorizationRefusal::DpopRefused { reason: e },
    })
}
