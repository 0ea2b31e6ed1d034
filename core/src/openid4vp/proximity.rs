//! In person, replay-safe: the session QR. The wallet shows a small engagement QR (`KS1:`, like
//! ISO 18013-5's `mdoc:` device engagement): an ephemeral P-256 key and how to reach the wallet.
//! The verifier scans it and sends its signed OpenID4VP request object, with its own nonce,
//! encrypted to that key (JWE ECDH-ES) over a [`SessionChannel`]; the wallet decrypts and verifies
//! it exactly as a remote request ([`Wallet::presentation_from_request_object`]), the citizen
//! consents, and the wallet answers with the `direct_post.jwt` response (a JWE to the verifier's
//! key) over the same channel. The relay in between sees only ciphertext.
//!
//! Binding: the request object must carry `kluis_engagement`, base64url SHA-256 of the exact
//! engagement text the verifier scanned (a departure: OpenID4VP has no field for it; ISO 18013-5
//! binds its session transcript the same way). A request object recorded from another session is
//! refused, and one replayed within the session meets the answered-nonce check.
//!
//! Transports: [`HttpRelay`] (a mailbox relay over HTTPS, or HTTP on loopback); BLE and NFC are
//! for the apps, which implement [`SessionChannel`] over them.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::{JweHeader, ECDH_ES};
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::Jwk;
use kluis_qr::engagement::{Engagement, Transport, KEY_LEN, SESSION_ID_LEN};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcPoint, PointConversionForm};
use openssl::nid::Nid;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::request::ResponseMode;
use super::response::Form;
use super::session::{DisclosedCredential, PresentationChoice, PresentationRequest};
use super::verifier::{
    new_request, parse_form, verify_response_with, PendingRequest, ResponseOutcome, VerifierConfig,
    VerifierTrust,
};
use crate::audit::{self, Actor, AuditEvent, Channel, DeclineReason, Delivery};
use crate::http::HttpPolicy;
use crate::{now_unix, Error, Wallet};

/// The request object claim that binds it to one engagement (see the module docs).
pub const ENGAGEMENT_CLAIM: &str = "kluis_engagement";
/// Content type of the encrypted request.
const REQUEST_CTY: &str = "oauth-authz-req+jwt";
/// Largest message accepted from a channel.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// A boxed future, so the channel traits stay object-safe (apps implement them over BLE or NFC).
pub type ChannelFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// The wallet's end of a session channel.
pub trait SessionChannel: Send + Sync {
    /// Waits up to `wait` for the verifier's (encrypted) request.
    fn receive_request(&self, wait: Duration) -> ChannelFuture<'_, Vec<u8>>;
    /// Sends the wallet's answer (a `direct_post.jwt` form, or a decline form).
    fn send_response(&self, message: Vec<u8>) -> ChannelFuture<'_, ()>;
}

/// The verifier's end of a session channel.
pub trait VerifierChannel: Send + Sync {
    /// Sends the encrypted request.
    fn send_request(&self, message: Vec<u8>) -> ChannelFuture<'_, ()>;
    /// Waits up to `wait` for the wallet's answer.
    fn receive_response(&self, wait: Duration) -> ChannelFuture<'_, Vec<u8>>;
}

fn refused(reason: impl Into<String>) -> Error {
    Error::InvalidRequest {
        reason: reason.into(),
    }
}

fn network(reason: impl Into<String>) -> Error {
    Error::Network {
        reason: reason.into(),
    }
}

/// The mailbox relay over HTTP (`fixtures` runs one on loopback): `POST {base}/{sid}/request`,
/// `GET {base}/{sid}/request?wait=S`, and the same for `response`. Either side may use it.
#[derive(Clone)]
pub struct HttpRelay {
    client: reqwest::Client,
    base: String,
    session: String,
}

impl HttpRelay {
    /// The relay at `base` (https, or http to loopback) for session `session_id`, with the
    /// long-poll policy ([`HttpPolicy::long_poll`]).
    pub fn new(base: &str, session_id: &[u8; SESSION_ID_LEN]) -> Result<HttpRelay, Error> {
        HttpRelay::with_policy(base, session_id, &HttpPolicy::long_poll())
    }

    /// As [`HttpRelay::new`] with `policy` (its timeout must outlast the relay's 30 s wait).
    pub fn with_policy(
        base: &str,
        session_id: &[u8; SESSION_ID_LEN],
        policy: &HttpPolicy,
    ) -> Result<HttpRelay, Error> {
        let url = crate::http::checked_url(base)?;
        policy.check(&url)?;
        let client = crate::http::client(policy)?;
        Ok(HttpRelay {
            client,
            base: url.as_str().trim_end_matches('/').to_string(),
            session: URL_SAFE_NO_PAD.encode(session_id),
        })
    }

    /// The relay named in an engagement.
    pub fn for_engagement(e: &Engagement) -> Result<HttpRelay, Error> {
        let base = e
            .relay()
            .ok_or_else(|| refused("the session QR names no relay this wallet can use"))?;
        HttpRelay::new(base, &e.session_id)
    }

    fn url(&self, mailbox: &str) -> String {
        format!("{}/{}/{mailbox}", self.base, self.session)
    }

    async fn post(&self, mailbox: &str, message: Vec<u8>) -> Result<(), Error> {
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(Error::invalid_input(
                "the message is too large for the channel",
            ));
        }
        let r = self
            .client
            .post(self.url(mailbox))
            .header("content-type", "application/octet-stream")
            .body(message)
            .send()
            .await
            .map_err(|e| crate::http::transport_error(&e, &self.base))?;
        match r.status().as_u16() {
            200..=299 => Ok(()),
            409 => Err(network(
                "the relay already holds a message for this session",
            )),
            s => Err(network(format!("the relay answered HTTP {s}"))),
        }
    }

    async fn take(&self, mailbox: &str, wait: Duration) -> Result<Vec<u8>, Error> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let secs = left.as_secs().min(30);
            let r = self
                .client
                .get(format!("{}?wait={secs}", self.url(mailbox)))
                .send()
                .await
                .map_err(|e| crate::http::transport_error(&e, &self.base))?;
            match r.status().as_u16() {
                200 => {
                    let body = r
                        .bytes()
                        .await
                        .map_err(|e| crate::http::transport_error(&e, &self.base))?;
                    if body.len() > MAX_MESSAGE_BYTES {
                        return Err(refused("the message on the channel is too large"));
                    }
                    return Ok(body.to_vec());
                }
                204 if Instant::now() < deadline => continue,
                204 => return Err(network("nothing arrived on the session channel in time")),
                s => return Err(network(format!("the relay answered HTTP {s}"))),
            }
        }
    }
}

impl SessionChannel for HttpRelay {
    fn receive_request(&self, wait: Duration) -> ChannelFuture<'_, Vec<u8>> {
        Box::pin(self.take("request", wait))
    }

    fn send_response(&self, message: Vec<u8>) -> ChannelFuture<'_, ()> {
        Box::pin(self.post("response", message))
    }
}

impl VerifierChannel for HttpRelay {
    fn send_request(&self, message: Vec<u8>) -> ChannelFuture<'_, ()> {
        Box::pin(self.post("request", message))
    }

    fn receive_response(&self, wait: Duration) -> ChannelFuture<'_, Vec<u8>> {
        Box::pin(self.take("response", wait))
    }
}

fn b64_field(jwk: &Jwk, name: &str) -> Result<Vec<u8>, Error> {
    jwk.parameter(name)
        .and_then(Value::as_str)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .ok_or_else(|| Error::Internal {
            reason: "ephemeral key".into(),
        })
}

/// The public JWK of a compressed P-256 point; refuses a point that is not on the curve.
fn jwk_from_compressed(key: &[u8; KEY_LEN]) -> Result<Jwk, Error> {
    let bad = || refused("the session QR's key is not a P-256 public key");
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(|_| bad())?;
    let mut ctx = BigNumContext::new().map_err(|_| bad())?;
    let point = EcPoint::from_bytes(&group, key, &mut ctx).map_err(|_| bad())?;
    let raw = point
        .to_bytes(&group, PointConversionForm::UNCOMPRESSED, &mut ctx)
        .map_err(|_| bad())?;
    if raw.len() != 65 {
        return Err(bad());
    }
    let mut jwk = Jwk::new("EC");
    let set = |jwk: &mut Jwk, k: &str, v: &[u8]| {
        jwk.set_parameter(k, Some(Value::String(URL_SAFE_NO_PAD.encode(v))))
            .map_err(|_| bad())
    };
    jwk.set_parameter("crv", Some(Value::String("P-256".into())))
        .map_err(|_| bad())?;
    set(&mut jwk, "x", &raw[1..33])?;
    set(&mut jwk, "y", &raw[33..65])?;
    Ok(jwk)
}

/// base64url SHA-256 of the engagement text, the value of [`ENGAGEMENT_CLAIM`].
pub fn engagement_hash(engagement_text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(engagement_text.trim().as_bytes()))
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
        HttpRelay::for_engagement(&self.engagement)
    }

    /// Decrypts the verifier's message to the request object JWT.
    fn open(&self, message: &[u8]) -> Result<String, Error> {
        let text = std::str::from_utf8(message)
            .map_err(|_| refused("the session request is not a JWE"))?
            .trim();
        let decrypter = ECDH_ES
            .decrypter_from_jwk(&self.private)
            .map_err(|_| Error::Internal {
                reason: "ephemeral key".into(),
            })?;
        let (payload, header) = josekit::jwe::deserialize_compact(text, &decrypter)
            .map_err(|_| refused("the session request is not encrypted to this session's key"))?;
        if header.algorithm() != Some("ECDH-ES") {
            return Err(refused("the session request does not use ECDH-ES"));
        }
        String::from_utf8(payload).map_err(|_| refused("the session request is not a JWT"))
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
    fn log_session_refusal(&self, audience: &str, reason: &str) -> Result<(), Error> {
        let audience = super::client_id::clean(audience);
        self.vault.write(|tx| {
            audit::append(
                tx,
                now_unix(),
                Actor::Citizen,
                AuditEvent::PresentationRefused {
                    audience,
                    reason: reason.to_string(),
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
                self.log_session_refusal("(unknown)", "not_for_this_session")?;
                return Err(e);
            }
        };
        let claimed = unverified_claim(&jwt, "client_id").unwrap_or_else(|| "(unknown)".into());
        if unverified_claim(&jwt, ENGAGEMENT_CLAIM).as_deref()
            != Some(engagement_hash(session.qr_text()).as_str())
        {
            self.log_session_refusal(&claimed, "not_for_this_session")?;
            return Err(refused(
                "the request is not bound to this session QR (kluis_engagement): it was made for another session or replayed",
            ));
        }
        let req = self.presentation_from_request_object(&jwt, None, Channel::SessionQr, lang)?;
        if req.request.response_mode != ResponseMode::DirectPostJwt {
            self.log_session_refusal(&claimed, "unencrypted_response_mode")?;
            return Err(refused(
                "an in-person request must ask for an encrypted answer (direct_post.jwt)",
            ));
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
            return Err(e);
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
        sent
    }
}

/// The verifier's side of a session after scanning the citizen's QR.
pub struct VerifierSession {
    /// The request handed to the wallet (keep it to verify the answer).
    pub pending: PendingRequest,
    /// The encrypted request (JWE to the wallet's ephemeral key) to send on the channel.
    pub message: Vec<u8>,
    /// The engagement scanned.
    pub engagement: Engagement,
}

/// Reads the citizen's session QR and prepares the party's request: a fresh nonce and state, the
/// DCQL query, `direct_post.jwt`, bound to this engagement ([`ENGAGEMENT_CLAIM`]), signed with
/// the party's key and encrypted to the wallet's ephemeral key.
pub fn start_verifier_session(
    engagement_text: &str,
    config: &VerifierConfig,
    dcql: &Value,
    now: i64,
) -> Result<VerifierSession, Error> {
    let engagement =
        Engagement::decode(engagement_text).map_err(|e| Error::InvalidPresentation {
            reason: format!("session QR: {e}"),
        })?;
    if config.response_mode != ResponseMode::DirectPostJwt {
        return Err(Error::invalid_input(
            "an in-person request must use direct_post.jwt (the answer crosses a relay)",
        ));
    }
    // Refuse a bad key before signing anything.
    jwk_from_compressed(&engagement.key).map_err(|_| Error::InvalidPresentation {
        reason: "session QR: the key is not a P-256 public key".into(),
    })?;
    let mut pending = new_request(config, dcql, now)?;
    let mut claims = pending.claims.clone();
    claims[ENGAGEMENT_CLAIM] = Value::String(engagement_hash(engagement_text));
    pending.resign(&config.signing_key, config.attestation.as_deref(), claims)?;
    let jwe = seal_request(&pending.request_object, &engagement)?;
    Ok(VerifierSession {
        pending,
        message: jwe,
        engagement,
    })
}

/// Encrypts a signed request object to the wallet key of `engagement` (JWE, `alg` ECDH-ES, `enc`
/// A128GCM, `cty` `oauth-authz-req+jwt`): the message the verifier puts on the channel.
pub fn seal_request(request_object: &str, engagement: &Engagement) -> Result<Vec<u8>, Error> {
    let wallet_key =
        jwk_from_compressed(&engagement.key).map_err(|_| Error::InvalidPresentation {
            reason: "session QR: the key is not a P-256 public key".into(),
        })?;
    let encrypter = ECDH_ES
        .encrypter_from_jwk(&wallet_key)
        .map_err(|_| Error::Internal {
            reason: "session: wallet key".into(),
        })?;
    let mut header = JweHeader::new();
    header.set_content_encryption("A128GCM");
    header.set_content_type(REQUEST_CTY);
    josekit::jwe::serialize_compact(request_object.as_bytes(), &header, &encrypter)
        .map(String::into_bytes)
        .map_err(|_| Error::Internal {
            reason: "session: encrypting the request".into(),
        })
}

/// Sends the request on `channel`, waits up to `wait` for the wallet's answer and verifies it
/// with the remote flow's checks (decryption, state, nonce, audience, issuers, the query).
pub async fn run_verifier_session(
    session: &VerifierSession,
    channel: &dyn VerifierChannel,
    trust: &VerifierTrust,
    wait: Duration,
) -> Result<ResponseOutcome, Error> {
    channel.send_request(session.message.clone()).await?;
    let answer = channel.receive_response(wait).await?;
    let text = std::str::from_utf8(&answer).map_err(|_| Error::InvalidPresentation {
        reason: "the session answer is not a form".into(),
    })?;
    let form = parse_form(text)?;
    // A helper's answer names its mandate's status list: fetched, then verified again.
    crate::delegation::with_mandate_status(None, HttpPolicy::default(), |ctx| {
        verify_response_with(&form, &session.pending, trust, now_unix(), ctx)
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn engagement_key_round_trips_and_bad_points_are_refused() {
        let w = WalletEngagement::new("http://127.0.0.1:9/relay").unwrap();
        let text = w.qr_text().to_string();
        assert!(text.len() <= kluis_qr::engagement::MAX_TEXT);
        let e = Engagement::decode(&text).unwrap();
        // The decompressed key is the wallet's own: what is sealed to it, the wallet opens.
        let sealed = seal_request("a.b.c", &e).unwrap();
        assert_eq!(w.open(&sealed).unwrap(), "a.b.c");
        let other = WalletEngagement::new("http://127.0.0.1:9/relay").unwrap();
        assert!(other.open(&sealed).is_err());
        let mut bad = e.key;
        bad[1..].fill(0xFF);
        assert!(jwk_from_compressed(&bad).is_err());
        assert!(
            WalletEngagement::new("http://relay.example/x").is_err(),
            "plain http off loopback"
        );
        assert!(!format!("{w:?}").contains("\"d\""));
    }

    /// The relay honours the policy like every other client: a policy without loopback http
    /// refuses a loopback relay before anything is sent.
    #[test]
    fn relay_honours_the_policy() {
        let sid = [7u8; SESSION_ID_LEN];
        assert!(HttpRelay::new("http://127.0.0.1:9/relay", &sid).is_ok());
        let strict = HttpPolicy {
            allow_loopback_http: false,
            ..HttpPolicy::long_poll()
        };
        assert!(matches!(
            HttpRelay::with_policy("http://127.0.0.1:9/relay", &sid, &strict),
            Err(Error::InvalidInput { .. })
        ));
        assert!(HttpRelay::with_policy("https://relay.example/x", &sid, &strict).is_ok());
    }
}
