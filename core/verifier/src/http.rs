//! The one HTTP seam below every protocol (issuance, status lists, the scheme's participant list,
//! OpenID4VP request objects and responses, the delegation registry and receipts, the session
//! relay): https only (plain http only to loopback hosts, for the simulated parties), no
//! redirects, the policy's timeouts, bounded retries with exponential back-off, and a cap on
//! every response body so a server cannot exhaust the phone's memory.
//!
//! Every HTTP client of kluis (this crate's, the wallet's in kluis-core, the relay's) is built by
//! [`client`], from an [`HttpPolicy`]: that function is the one place where the client's
//! transport (timeouts, redirects and TLS) is configured.
//!
//! TLS is the platform's (native-tls): Security.framework's trust evaluation on iOS and macOS,
//! OpenSSL with the system's CA store on Linux. On Android OpenSSL has no live trust store (only
//! the factory copy under /system/etc/security/cacerts, which misses Conscrypt's updates and the
//! user's disabled CAs), so the app hands over the platform's roots ([`TlsRoots::only`], from
//! `AndroidCAStore`; docs/BINDINGS.md "HTTPS on the phones"). A certificate that does not chain
//! to a trusted root is refused with [`Error::Tls`], never retried.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::{Error, NetworkFailure};

/// How kluis talks to holders, the scheme, requesting parties, registries and relays.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Extra attempts after the first, for failures that are safe to retry.
    pub retries: u32,
    /// Wait before the first retry; doubles each time.
    pub backoff: Duration,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
    /// Allow plain http to loopback hosts (the simulated holders). An app on a phone should
    /// turn this off: a credential's status URI must not make it probe the phone's own ports.
    pub allow_loopback_http: bool,
    /// Which certificate authorities TLS trusts.
    pub tls: TlsRoots,
}

/// The certificate authorities a server's TLS certificate must chain to.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsRoots {
    /// DER certificates trusted in addition to (or, without `platform`, instead of) the
    /// platform's.
    extra: Arc<[Vec<u8>]>,
    /// Whether the platform TLS stack's own roots count too.
    platform: bool,
}

impl TlsRoots {
    /// The platform's roots only (the default).
    pub fn platform() -> Self {
        TlsRoots {
            extra: Arc::from(Vec::new()),
            platform: true,
        }
    }

    /// The platform's roots and `extra` (DER certificates: a test CA, an organisation's CA).
    pub fn platform_and(extra: Vec<Vec<u8>>) -> Self {
        TlsRoots {
            extra: Arc::from(extra),
            platform: true,
        }
    }

    /// Only `roots` (DER certificates): what an Android app hands over from the platform's
    /// trust store, so that OpenSSL's stale factory copy does not count.
    pub fn only(roots: Vec<Vec<u8>>) -> Self {
        TlsRoots {
            extra: Arc::from(roots),
            platform: false,
        }
    }

    /// The DER certificates trusted besides (or instead of) the platform's.
    pub fn extra(&self) -> &[Vec<u8>] {
        &self.extra
    }

    /// Whether the platform's own roots are trusted.
    pub fn includes_platform(&self) -> bool {
        self.platform
    }
}

impl Default for TlsRoots {
    fn default() -> Self {
        TlsRoots::platform()
    }
}

impl std::fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsRoots")
            .field("extra", &self.extra.len())
            .field("platform", &self.platform)
            .finish()
    }
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            retries: 3,
            backoff: Duration::from_millis(200),
            max_body_bytes: 1024 * 1024,
            allow_loopback_http: true,
            tls: TlsRoots::platform(),
        }
    }
}

impl HttpPolicy {
    /// For a long-polling channel (the session relay): the whole-request timeout outlasts the
    /// relay's longest wait (30 s).
    pub fn long_poll() -> Self {
        HttpPolicy {
            timeout: Duration::from_secs(40),
            connect_timeout: Duration::from_secs(3),
            ..HttpPolicy::default()
        }
    }

    /// Applies [`HttpPolicy::allow_loopback_http`] to `url` (already through [`checked_url`]).
    pub fn check(&self, url: &Url) -> Result<(), Error> {
        if url.scheme() != "https" && !self.allow_loopback_http {
            return Err(Error::invalid_input(format!(
                "{} uses plain http: only https is allowed",
                shorten(url.as_str())
            )));
        }
        Ok(())
    }
}

/// A response read completely (within the size cap).
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    /// The response's `DPoP-Nonce` header (RFC 9449 §8), the one header a caller needs.
    pub dpop_nonce: Option<String>,
    /// The response's `OAuth-Client-Attestation-Challenge` header
    /// (draft-ietf-oauth-attestation-based-client-auth §8.2): the challenge for the next PoP.
    pub attestation_challenge: Option<String>,
}

impl Reply {
    /// The body as a JSON value; a clear error naming `what` otherwise.
    pub fn json(&self, what: &str) -> Result<Value, Error> {
        serde_json::from_slice(&self.body).map_err(|_| Error::Protocol {
            reason: format!("the {what} is not valid JSON"),
        })
    }

    /// An OAuth error response's `error` code (RFC 6749 §5.2), for an app to act on: only when
    /// it is a plain code (letters, digits, `_`, `-`, `.`; at most 64), never free text.
    pub fn oauth_error_code(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        let e = v.get("error")?.as_str()?;
        let plain = !e.is_empty()
            && e.len() <= 64
            && e.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        plain.then(|| e.to_string())
    }

    /// An OAuth error response's `error` (and short `error_description`), for messages.
    pub fn oauth_error(&self) -> String {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let clean = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_control())
                .take(120)
                .collect::<String>()
        };
        match (
            v.get("error").and_then(Value::as_str),
            v.get("error_description").and_then(Value::as_str),
        ) {
            (Some(e), Some(d)) => format!("{}: {}", clean(e), clean(d)),
            (Some(e), None) => clean(e),
            _ => format!("HTTP {}", self.status.as_u16()),
        }
    }
}

/// Parses `url` and applies the transport rule: https, or http to a loopback host.
pub fn checked_url(url: &str) -> Result<Url, Error> {
    let parsed = Url::parse(url)
        .map_err(|_| Error::invalid_input(format!("not a URL: {}", shorten(url))))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(Error::invalid_input(format!(
            "{} uses plain http: only https is allowed (http only to loopback hosts)",
            shorten(url)
        ))),
        other => Err(Error::invalid_input(format!(
            "unsupported URL scheme {other:?} in {}",
            shorten(url)
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(h) => {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// `application/x-www-form-urlencoded` encoding of `pairs`.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// A URL cut to a length fit for an error message.
pub fn shorten(url: &str) -> String {
    let s: String = url.chars().filter(|c| !c.is_control()).take(100).collect();
    if url.len() > 100 {
        format!("{s}…")
    } else {
        s
    }
}

/// Why a send-once POST did not produce an answer.
#[derive(Debug)]
pub enum SendFailure {
    /// Nothing was sent (no connection, or refused by the policy before sending).
    NotSent(Error),
    /// The body may have reached the server: a timeout or a connection that broke after
    /// connecting. The reason names no personal data.
    MaybeSent(String),
}

/// An HTTP client for one session (collecting, fetching lists, answering): the policy's client
/// with bounded retries, its connections kept open between requests, and at most
/// [`Http::PER_HOST`] requests in flight to one host (a counsellor refreshing many clients at
/// once does not flood a holder).
pub struct Http {
    client: reqwest::Client,
    policy: HttpPolicy,
    /// Requests sent (attempts, including retries), for benchmarks and reports.
    pub requests: std::sync::atomic::AtomicU64,
    /// One semaphore per origin (scheme, host, port).
    per_host: std::sync::Mutex<Vec<(String, Arc<tokio::sync::Semaphore>)>>,
}

enum Body<'a> {
    None,
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a Value),
    /// Content type and body.
    Raw(&'a str, &'a str),
}

/// The crate's one way to build an HTTP client: the policy's timeouts, redirects never followed,
/// the TLS of the platform (native-tls) with the policy's [`TlsRoots`]. Callers that need a verb
/// [`Http`] does not offer (PUT, raw bodies, long polls) use it directly, after
/// [`HttpPolicy::check`], and map its errors with [`transport_error`].
pub fn client(policy: &HttpPolicy) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(policy.timeout)
        .connect_timeout(policy.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kluis/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(tls_connector(&policy.tls)?)
        .build()
        .map_err(|e| Error::Internal {
            reason: format!("HTTP client: {e}"),
        })
}

/// The TLS connector for `roots`, built once per process and root set. Building one makes
/// OpenSSL read and parse the whole system CA store (tens of milliseconds, most of a
/// counsellor's refresh when every request built its own); the built context is immutable and
/// shared by every client with those roots. Configured as reqwest's own native-tls backend
/// would be: certificates and host names verified, SNI, no ALPN (HTTP/1.1).
fn tls_connector(roots: &TlsRoots) -> Result<native_tls::TlsConnector, Error> {
    // A few distinct root sets at most (the platform's; an app's, a test CA's): kept small.
    const KEEP: usize = 8;
    static BUILT: std::sync::Mutex<Vec<(TlsRoots, native_tls::TlsConnector)>> =
        std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, c)) = built.iter().find(|(r, _)| r == roots) {
        return Ok(c.clone());
    }
    let mut builder = native_tls::TlsConnector::builder();
    builder.disable_built_in_roots(!roots.platform);
    for (i, der) in roots.extra.iter().enumerate() {
        let cert = native_tls::Certificate::from_der(der).map_err(|_| {
            Error::invalid_input(format!("trusted root {i} is not a DER X.509 certificate"))
        })?;
        builder.add_root_certificate(cert);
    }
    let connector = builder.build().map_err(|e| Error::Internal {
        reason: format!("TLS connector: {e}"),
    })?;
    if built.len() == KEEP {
        built.remove(0);
    }
    built.push((roots.clone(), connector.clone()));
    Ok(connector)
}

/// Whether `e` failed in the TLS layer (handshake, certificate), and why, in a short text with
/// no personal data: the platform TLS's own words (OpenSSL's verdict, e.g. "certificate has
/// expired", "unable to get local issuer certificate").
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<native_tls::Error>() {
            let text = tls.to_string();
            // OpenSSL: "error:0A000086:SSL routines:...:certificate verify failed:...: (certificate
            // has expired)": the verdict in parentheses is what a person can read.
            let verdict = match text.rfind(" (") {
                Some(i) if text.ends_with(')') => &text[i + 2..text.len() - 1],
                _ => text.as_str(),
            };
            return Some(
                verdict
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(160)
                    .collect(),
            );
        }
        source = err.source();
    }
    None
}

/// The core's error for a request to `host` that failed in transport: [`Error::Tls`] when the
/// server's TLS was refused, [`Error::Network`] otherwise.
pub fn transport_error(e: &reqwest::Error, host: &str) -> Error {
    match tls_failure(e) {
        Some(why) => Error::Tls {
            reason: format!("{host}: the server's TLS certificate was refused: {why}"),
        },
        None if e.is_timeout() => Error::Network {
            kind: NetworkFailure::Timeout,
            reason: format!("{host} did not answer in time"),
        },
        None => Error::Network {
            kind: NetworkFailure::Unreachable,
            reason: format!("{host}: request failed"),
        },
    }
}

impl Http {
    /// Requests in flight to one host at a time, as browsers keep to (six connections).
    pub const PER_HOST: usize = 6;

    pub fn new(policy: HttpPolicy) -> Result<Http, Error> {
        Ok(Http {
            client: client(&policy)?,
            policy,
            requests: std::sync::atomic::AtomicU64::new(0),
            per_host: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Waits for one of the [`Http::PER_HOST`] slots of `url`'s origin; held while a request
    /// and its answer are on the wire (not while backing off).
    async fn slot(&self, url: &Url) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let origin = url.origin().ascii_serialization();
        let semaphore = {
            let mut hosts = self
                .per_host
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match hosts.iter().find(|(o, _)| *o == origin) {
                Some((_, s)) => s.clone(),
                None => {
                    let s = Arc::new(tokio::sync::Semaphore::new(Self::PER_HOST));
                    hosts.push((origin, s.clone()));
                    s
                }
            }
        };
        // Fails only on a closed semaphore, and these are never closed.
        semaphore.acquire_owned().await.ok()
    }

    pub async fn get(&self, url: &Url, accept: &str) -> Result<Reply, Error> {
        self.send(url, accept, &[], Body::None, true).await
    }

    pub async fn post_form(&self, url: &Url, form: &[(&str, &str)]) -> Result<Reply, Error> {
        self.send(url, "application/json", &[], Body::Form(form), false)
            .await
    }

    pub async fn post_json(
        &self,
        url: &Url,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<Reply, Error> {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.send(url, "application/json", &headers, Body::Json(body), false)
            .await
    }

    /// POSTs `body` as `content_type` (a sealed receipt, `application/jose`).
    pub async fn post_body(
        &self,
        url: &Url,
        content_type: &str,
        body: &str,
    ) -> Result<Reply, Error> {
        self.send(
            url,
            "application/json",
            &[],
            Body::Raw(content_type, body),
            false,
        )
        .await
    }

    /// POSTs JSON (`Some`) or a form with extra request headers (`Authorization: DPoP …` and
    /// a `DPoP` proof). Retried like [`Http::post_json`]: a proof is only re-sent when the
    /// server did not act on it.
    pub async fn post_with_headers(
        &self,
        url: &Url,
        headers: &[(&str, &str)],
        json: Option<&Value>,
        form: &[(&str, &str)],
    ) -> Result<Reply, Error> {
        let body = match json {
            Some(v) => Body::Json(v),
            None => Body::Form(form),
        };
        self.send(url, "application/json", headers, body, false)
            .await
    }

    /// POSTs a form and never sends it twice once a connection was made: only a failure to
    /// connect (nothing left the phone) is retried. For answers that carry personal data.
    pub async fn post_form_once(
        &self,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<Reply, SendFailure> {
        let host = shorten(url.as_str());
        self.policy.check(url).map_err(SendFailure::NotSent)?;
        let body = form_encode(form);
        let mut wait = self.policy.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let slot = self.slot(url).await;
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let sent = self
                .client
                .post(url.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(reqwest::header::ACCEPT, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(resp) => {
                    return self.read(resp, &host).await.map_err(|e| {
                        SendFailure::MaybeSent(format!("{host}: the answer broke off ({e})"))
                    })
                }
                Err(e) if e.is_connect() && attempt <= self.policy.retries => {
                    drop(slot);
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
                Err(e) if e.is_connect() => {
                    return Err(SendFailure::NotSent(Error::Network {
                        kind: NetworkFailure::Unreachable,
                        reason: format!("{host}: cannot connect (after {attempt} attempts)"),
                    }))
                }
                Err(e) if e.is_timeout() => {
                    return Err(SendFailure::MaybeSent(format!(
                        "{host} did not answer in time"
                    )))
                }
                Err(_) => {
                    return Err(SendFailure::MaybeSent(format!(
                        "{host}: the connection broke while sending"
                    )))
                }
            }
        }
    }

    /// Sends with retries: connection failures and 502/503/504 are retried for every method (the
    /// server did not act on them); timeouts only for GET, since a POST may have been acted on.
    async fn send(
        &self,
        url: &Url,
        accept: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        idempotent: bool,
    ) -> Result<Reply, Error> {
        let host = shorten(url.as_str());
        self.policy.check(url)?;
        let mut wait = self.policy.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let slot = self.slot(url).await;
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut req = match body {
                Body::None => self.client.get(url.clone()),
                Body::Form(f) => self
                    .client
                    .post(url.clone())
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form_encode(f)),
                Body::Json(v) => self.client.post(url.clone()).json(v),
                Body::Raw(content_type, body) => self
                    .client
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body.to_string()),
            }
            .header(reqwest::header::ACCEPT, accept);
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            let last = attempt > self.policy.retries;
            let outcome: Result<(), (NetworkFailure, String)> = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let unavailable = NetworkFailure::Unavailable {
                        status: status.as_u16(),
                    };
                    if matches!(status.as_u16(), 502..=504) && !last {
                        Err((unavailable, format!("HTTP {}", status.as_u16())))
                    } else if matches!(status.as_u16(), 502..=504) {
                        return Err(Error::Network {
                            kind: unavailable,
                            reason: format!(
                                "{host} is unavailable (HTTP {}) after {attempt} attempts",
                                status.as_u16()
                            ),
                        });
                    } else {
                        return self.read(resp, &host).await;
                    }
                }
                // A certificate that did not verify will not verify on the next attempt either.
                Err(e) if tls_failure(&e).is_some() => return Err(transport_error(&e, &host)),
                Err(e) if e.is_connect() => {
                    Err((NetworkFailure::Unreachable, "cannot connect".to_string()))
                }
                Err(e) if e.is_timeout() && idempotent => {
                    Err((NetworkFailure::Timeout, "timed out".to_string()))
                }
                Err(e) if e.is_timeout() => {
                    return Err(Error::Network {
                        kind: NetworkFailure::Timeout,
                        reason: format!("{host} did not answer in time"),
                    })
                }
                Err(_) => Err((NetworkFailure::Unreachable, "request failed".to_string())),
            };
            drop(slot);
            if let Err((kind, why)) = outcome {
                if last {
                    return Err(Error::Network {
                        kind,
                        reason: format!("{host}: {why} (after {attempt} attempts)"),
                    });
                }
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
        }
    }

    async fn read(&self, mut resp: reqwest::Response, host: &str) -> Result<Reply, Error> {
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 512)
                .map(str::to_string)
        };
        let dpop_nonce = header("dpop-nonce");
        let attestation_challenge = header("oauth-client-attestation-challenge");
        let max = self.policy.max_body_bytes;
        let too_big = || Error::Protocol {
            reason: format!("{host} sent a response larger than {max} bytes"),
        };
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > max {
                        return Err(too_big());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    return Err(Error::Network {
                        kind: NetworkFailure::Timeout,
                        reason: format!("{host} did not finish its answer in time"),
                    })
                }
                Err(_) => {
                    return Err(Error::Network {
                        kind: NetworkFailure::BrokeOff,
                        reason: format!("{host} broke off its answer"),
                    })
                }
            }
        }
        Ok(Reply {
            status,
            body,
            dpop_nonce,
            attestation_challenge,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// However many requests one client is asked for at once, the server never sees more than
    /// [`Http::PER_HOST`] of them at the same time, and every one is answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_per_host_requests_are_in_flight_to_one_host() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/x", listener.local_addr().unwrap())).unwrap();
        let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (now, high) = (in_flight.clone(), most.clone());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (now, high) = (now.clone(), high.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    // Requests one after another on the connection (kept alive).
                    loop {
                        let end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            match conn.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        buf.drain(..end);
                        high.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                        // Held a moment, so that whatever the client lets through piles up.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        now.fetch_sub(1, SeqCst);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if conn.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let http = Arc::new(Http::new(HttpPolicy::default()).unwrap());
        let asked: Vec<_> = (0..30)
            .map(|_| {
                let (http, url) = (http.clone(), url.clone());
                tokio::spawn(async move { http.get(&url, "text/plain").await })
            })
            .collect();
        for a in asked {
            let reply = a.await.unwrap().unwrap();
            assert!(reply.status.is_success());
            assert_eq!(reply.body, b"ok");
        }
        let most = most.load(SeqCst);
        assert!(most <= Http::PER_HOST, "{most} requests at once");
        // Bounded, not one at a time.
        assert!(most > 1, "{most}");
    }

    #[test]
    fn transport_rule() {
        assert!(checked_url("https://duo.example/x").is_ok());
        assert!(checked_url("http://127.0.0.1:8080/x").is_ok());
        assert!(checked_url("http://[::1]:8080/x").is_ok());
        assert!(checked_url("http://localhost/x").is_ok());
        for bad in [
            "http://duo.example/x",
            "http://127.0.0.1.evil.example/",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(
                matches!(checked_url(bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
    }
}
