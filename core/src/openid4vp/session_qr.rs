//! In person, replay-safe: the session QR, the wallet's end. The wallet shows a small
//! engagement QR (`KS1:`): an ephemeral P-256 key and how to reach the wallet; the verifier's
//! request arrives encrypted to that key over a [`SessionChannel`], bound to this engagement
//! (`kluis_engagement`), and is verified exactly as a remote request
//! ([`Wallet::presentation_from_request_object`]); the answer is the `direct_post.jwt` response
//! over the same channel. The protocol, the party's end and the relay are kluis-verifier's
//! ([`kluis_verifier::openid4vp::proximity`]).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::ECDH_ES;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::Jwk;
use kluis_qr::engagement::{Engagement, Transport, KEY_LEN, SESSION_ID_LEN};
use rand::RngCore;
use serde_json::Value;

use super::request::{reason_code, refused, ResponseMode};
use super::response::Form;
use super::session::{DisclosedCredential, PresentationChoice, PresentationRequest};
use crate::audit::{self, Actor, AuditEvent, Channel, DeclineReason, Delivery};
use crate::{now_unix, Error, RequestRefusal, Wallet};
use kluis_verifier::openid4vp::proximity::{
    engagement_hash, HttpRelay, SessionChannel, ENGAGEMENT_CLAIM,
};

fn b64_field(jwk: &Jwk, name: &str) -> Result<Vec<u8>, Error> {
    jwk.parameter(name)
        .and_then(Value::as_str)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .ok_or_else(|| Error::Internal {
            reason: "ephemeral key".into(),
        })
}

/// The wallet's side of one session: the ephemeral key (never stored, gone with this value) and
/// the engagement it shows.
pub struct WalletEngagement {
    private: Jwk,
    engagement: Engagement,
    text: String,
}

impl std::fmt::Debug for WalletEngagement {
    // The private key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletEngagement")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

impl WalletEngagement {
    /// A fresh ephemeral key and session id, reachable through the relay at `relay_base`.
    pub fn new(relay_base: &str) -> Result<WalletEngagement, Error> {
        crate::http::checked_url(relay_base)?;
        let pair = ECDH_ES
            .generate_ec_key_pair(EcCurve::P256)
            .map_err(|_| Error::Internal {
                reason: "ephemeral key".into(),
            })?;
        let public = pair.to_jwk_public_key();
        let (x, y) = (b64_field(&public, "x")?, b64_field(&public, "y")?);
        let mut key = [0u8; KEY_LEN];
        key[0] = if y.last().is_some_and(|b| b & 1 == 1) {
            3
        } else {
            2
        };
        key[1..].copy_from_slice(&x);
        let mut session_id = [0u8; SESSION_ID_LEN];
        rand::thread_rng().fill_bytes(&mut session_id);
        let engagement = Engagement {
            key,
            session_id,
            transports: vec![Transport::HttpRelay(relay_base.to_string())],
        };
        let text = engagement
            .encode()
            .map_err(|e| Error::invalid_input(format!("session QR: {e}")))?;
        Ok(WalletEngagement {
            private: pair.to_jwk_private_key(),
            engagement,
            text,
        })
    }

    /// The QR text to show (`KS1:...`).
    pub fn qr_text(&self) -> &str {
        &self.text
    }

    /// The decoded engagement.
    pub fn engagement(&self) -> &Engagement {
        &self.engagement
    }

    /// The relay channel this engagement names.
    pub fn relay(&self) -> Result<HttpRelay, Error> {
        Ok(HttpRelay::for_engagement(&self.engagement)?)
    }

    /// Decrypts the verifier's message to the request object JWT.
    fn open(&self, message: &[u8]) -> Result<String, Error> {
        let text = std::str::from_utf8(message)
            .map_err(|_| {
                refused(
                    RequestRefusal::NotForThisSession,
                    "the session request is not a JWE",
                )
            })?
            .trim();
        let decrypter = ECDH_ES
            .decrypter_from_jwk(&self.private)
            .map_err(|_| Error::Internal {
                reason: "ephemeral key".into(),
            })?;
        let (payload, header) =
            josekit::jwe::deserialize_compact(text, &decrypter).map_err(|_| {
                refused(
                    RequestRefusal::NotForThisSession,
                    "the session request is not encrypted to this session's key",
                )
            })?;
        if header.algorithm() != Some("ECDH-ES") {
            return Err(refused(
                RequestRefusal::NotForThisSession,
                "the session request does not use ECDH-ES",
            ));
        }
        String::from_utf8(payload).map_err(|_| {
            refused(
                RequestRefusal::NotForThisSession,
                "the session request is not a JWT",
            )
        })
    }
}

fn unverified_claim(jwt: &str, name: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

pub(crate) fn form_bytes(form: &Form) -> Vec<u8> {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(b as char)
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in form.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out.into_bytes()
}

impl Wallet {
    /// Logs a refused in-person request under the refusal's code (the one the app is given).
    fn log_session_refusal(&self, audience: &str, refusal: &Error) -> Result<(), Error> {
        let audience = super::client_id::clean(audience);
        self.vault.write(|tx| {
            audit::append(
                tx,
                now_unix(),
                Actor::Citizen,
                AuditEvent::PresentationRefused {
                    audience,
                    reason: reason_code(refusal).to_string(),
                    channel: Channel::SessionQr,
                },
            )
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Waits up to `wait` for the verifier's request on `channel`, decrypts it with the session
    /// key, checks it is bound to this engagement and asks for an encrypted answer, and verifies
    /// and matches it exactly as a remote request. Refusals are logged; nothing is sent.
    pub async fn receive_session_request(
        &self,
        session: &WalletEngagement,
        channel: &dyn SessionChannel,
        wait: Duration,
        lang: &str,
    ) -> Result<PresentationRequest, Error> {
        let message = channel.receive_request(wait).await?;
        let jwt = match session.open(&message) {
            Ok(j) => j,
            Err(e) => {
                self.log_session_refusal("(unknown)", &e)?;
                return Err(e);
            }
        };
        let claimed = unverified_claim(&jwt, "client_id").unwrap_or_else(|| "(unknown)".into());
        if unverified_claim(&jwt, ENGAGEMENT_CLAIM).as_deref()
            != Some(engagement_hash(session.qr_text()).as_str())
        {
            let e = refused(
                RequestRefusal::NotForThisSession,
                "the request is not bound to this session QR (kluis_engagement): it was made for another session or replayed",
            );
            self.log_session_refusal(&claimed, &e)?;
            return Err(e);
        }
        let req = self.presentation_from_request_object(&jwt, None, Channel::SessionQr, lang)?;
        if req.request.response_mode != ResponseMode::DirectPostJwt {
            let e = refused(
                RequestRefusal::UnencryptedResponseMode,
                "an in-person request must ask for an encrypted answer (direct_post.jwt)",
            );
            self.log_session_refusal(&claimed, &e)?;
            return Err(e);
        }
        Ok(req)
    }

    /// Sends exactly the chosen claims over the session channel (the encrypted `direct_post.jwt`
    /// form) and logs the disclosure (channel `session-qr`).
    pub async fn accept_session_presentation(
        &self,
        req: &PresentationRequest,
        choice: &PresentationChoice,
        channel: &dyn SessionChannel,
    ) -> Result<Vec<DisclosedCredential>, Error> {
        let _turn = self.answering.lock().await;
        let built = self.build_presentation_response(req, choice)?;
        // A channel that fails may still have delivered it: logged as possibly shared, the
        // nonce used, never re-sent.
        if let Err(e) = channel.send_response(form_bytes(&built.form)).await {
            self.record_delivery(req, &built, Some(Delivery::Uncertain))?;
            return Err(e.into());
        }
        self.record_presentation(req, &built)?;
        Ok(built.disclosed)
    }

    /// Tells the verifier the citizen declined (`error=access_denied`) and logs it.
    pub async fn decline_session_presentation(
        &self,
        req: &PresentationRequest,
        channel: &dyn SessionChannel,
    ) -> Result<(), Error> {
        let _turn = self.answering.lock().await;
        self.ensure_unanswered(&req.request)?;
        let form = super::response::decline_form(&req.request, DeclineReason::Citizen)?;
        let sent = channel.send_response(form_bytes(&form)).await;
        self.record_decline(req)?;
        Ok(sent?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kluis_verifier::openid4vp::proximity::seal_request;

    #[test]
    fn engagement_key_round_trips_and_others_cannot_open() {
        let w = WalletEngagement::new("http://127.0.0.1:9/relay").unwrap();
        let text = w.qr_text().to_string();
        assert!(text.len() <= kluis_qr::engagement::MAX_TEXT);
        let e = Engagement::decode(&text).unwrap();
        // The decompressed key is the wallet's own: what is sealed to it, the wallet opens.
        let sealed = seal_request("a.b.c", &e).unwrap();
        assert_eq!(w.open(&sealed).unwrap(), "a.b.c");
        let other = WalletEngagement::new("http://127.0.0.1:9/relay").unwrap();
        assert!(other.open(&sealed).is_err());
        assert!(
            WalletEngagement::new("http://relay.example/x").is_err(),
            "plain http off loopback"
        );
        assert!(!format!("{w:?}").contains("\"d\""));
    }
}
