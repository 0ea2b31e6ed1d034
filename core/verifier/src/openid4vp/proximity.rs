//! In person, replay-safe: the session QR, the party's end and the channel. The wallet
//! (kluis-core) shows a small engagement QR (`KS1:`, like ISO 18013-5's `mdoc:` device
//! engagement): an ephemeral P-256 key and how to reach the wallet. The verifier scans it and
//! sends its signed OpenID4VP request object, with its own nonce, encrypted to that key (JWE
//! ECDH-ES) over a [`SessionChannel`]; the wallet decrypts and verifies it exactly as a remote
//! request, the citizen
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
use josekit::jwk::Jwk;
use kluis_qr::engagement::{Engagement, KEY_LEN, SESSION_ID_LEN};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcPoint, PointConversionForm};
use openssl::nid::Nid;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::verifier::{
    new_request, parse_form, verify_response_with, PendingRequest, ResponseOutcome, VerifierConfig,
    VerifierTrust,
};
use super::ResponseMode;
use crate::http::HttpPolicy;
use crate::{now_unix, Error, NetworkFailure, RequestRefusal};

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

fn refused(code: RequestRefusal, reason: impl Into<String>) -> Error {
    Error::refused(code, reason)
}

fn network(reason: impl Into<String>) -> Error {
    Error::Network {
        kind: NetworkFailure::BadAnswer,
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
        let base = e.relay().ok_or_else(|| {
            refused(
                RequestRefusal::InvalidRequest,
                "the session QR names no relay this wallet can use",
            )
        })?;
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
                        return Err(refused(
                            RequestRefusal::Oversized,
                            "the message on the channel is too large",
                        ));
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

/// The public JWK of a compressed P-256 point; refuses a point that is not on the curve.
fn jwk_from_compressed(key: &[u8; KEY_LEN]) -> Result<Jwk, Error> {
    let bad = || {
        refused(
            RequestRefusal::InvalidRequest,
            "the session QR's key is not a P-256 public key",
        )
    };
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
    let lists = crate::status::StatusLists::new();
    let clock = now_unix;
    run_verifier_session_with(
        session,
        channel,
        trust,
        wait,
        &lists,
        HttpPolicy::default(),
        &clock,
    )
    .await
}

/// As [`run_verifier_session`], with the credentials' status lists from (and fetched into)
/// `lists` under `policy`, and the answer checked at `now()` when it arrives (a verifier with
/// its own cache and clock: the party's service).
pub async fn run_verifier_session_with(
    session: &VerifierSession,
    channel: &dyn VerifierChannel,
    trust: &VerifierTrust,
    wait: Duration,
    lists: &crate::status::StatusLists,
    policy: HttpPolicy,
    now: &(dyn Fn() -> i64 + Sync),
) -> Result<ResponseOutcome, Error> {
    channel.send_request(session.message.clone()).await?;
    let answer = channel.receive_response(wait).await?;
    let text = std::str::from_utf8(&answer).map_err(|_| Error::InvalidPresentation {
        reason: "the session answer is not a form".into(),
    })?;
    let form = parse_form(text)?;
    let now = now();
    // A helper's answer names its mandate's status list, every credential its own (asked for
    // only once the signatures verified): fetched, then verified again.
    crate::delegation::with_status_at(lists, None, policy, now, |ctx| {
        verify_response_with(&form, &session.pending, trust, now, ctx)
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kluis_qr::engagement::Transport;

    #[test]
    fn points_off_the_curve_are_refused() {
        let mut bad = [2u8; KEY_LEN];
        bad[1..].fill(0xFF);
        assert!(jwk_from_compressed(&bad).is_err());
        let e = Engagement {
            key: bad,
            session_id: [1u8; SESSION_ID_LEN],
            transports: vec![Transport::HttpRelay("http://127.0.0.1:9/relay".into())],
        };
        assert!(seal_request("a.b.c", &e).is_err());
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
