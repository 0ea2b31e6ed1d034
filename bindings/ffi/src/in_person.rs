//! In person through the binding (docs/PRESENTING.md "In person"): the session QR and the
//! offline QR.
//!
//! Session QR: the app shows a [`SessionQr`] (an ephemeral key and how to reach the wallet), the
//! party scans it and sends its signed request over a [`SessionChannel`], the wallet verifies it
//! as a remote request and returns the same [`PresentationSession`] the consent screen already
//! shows, and the citizen's answer goes back over the channel. The channel is the app's (a
//! foreign trait over BLE or NFC) or the HTTP relay the QR names ([`SessionQr::relay_channel`]).
//! Offline QR: [`Wallet::offline_qr`] puts complete presentations for one party in the code; the
//! app draws [`QrCode::modules`] or shows [`qr_png`]. Every check and decision is kluis-core's
//! (`openid4vp::proximity`, `openid4vp::offline`); this module only converts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kluis_core::openid4vp::dcql::DcqlQuery;
use kluis_core::openid4vp::{offline, proximity};
use kluis_core::qr::render::{Ec, Qr};
use kluis_core::VerifierError;

use crate::cancel::CancelToken;
use crate::collect::{blocking_async, cancellable, HttpSettings};
use crate::present::{DisclosedCredential, PresentationChoice, PresentationSession};
use crate::wallet::Wallet;
use crate::KluisError;

/// What an app's session channel reports. Only the kind and a short reason travel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum SessionChannelError {
    /// Nothing arrived in the time asked.
    #[error("nothing arrived on the session channel in time")]
    TimedOut,
    /// The link is down or was closed (BLE disconnected, NFC field lost, relay unreachable).
    #[error("the session channel is unavailable: {reason}")]
    Unavailable { reason: String },
    /// The relay's TLS certificate was refused (the HTTP relay only).
    #[error("the session channel's TLS: {reason}")]
    Tls { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for SessionChannelError {
    /// The app's implementation threw something other than a `SessionChannelError`.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        SessionChannelError::Unavailable {
            reason: format!("unexpected channel failure: {}", e.reason),
        }
    }
}

impl From<SessionChannelError> for VerifierError {
    fn from(e: SessionChannelError) -> Self {
        match e {
            SessionChannelError::Tls { reason } => VerifierError::Tls { reason },
            SessionChannelError::TimedOut => VerifierError::Network {
                kind: kluis_core::NetworkFailure::Timeout,
                reason: e.to_string(),
            },
            SessionChannelError::Unavailable { .. } => VerifierError::Network {
                kind: kluis_core::NetworkFailure::Unreachable,
                reason: e.to_string(),
            },
        }
    }
}

/// The wallet's end of a session: carries the party's encrypted request to the wallet and the
/// wallet's encrypted answer back. Both are opaque bytes (JWEs) of at most 64 KiB; the channel
/// proves nothing, every check is end to end. Apps implement it over BLE or NFC; the HTTP relay
/// named in the QR is `SessionQr.relayChannel(http)`. Calls come on background threads.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait SessionChannel: Send + Sync {
    /// Waits up to `wait_ms` for the party's request and returns it.
    async fn receive_request(&self, wait_ms: u64) -> Result<Vec<u8>, SessionChannelError>;

    /// Sends the wallet's answer (or decline) to the party.
    async fn send_response(&self, message: Vec<u8>) -> Result<(), SessionChannelError>;
}

/// The HTTP relay as a [`SessionChannel`].
struct RelayChannel(proximity::HttpRelay);

fn from_core(e: VerifierError) -> SessionChannelError {
    match e {
        VerifierError::Tls { reason } => SessionChannelError::Tls { reason },
        other => SessionChannelError::Unavailable {
            reason: other.to_string(),
        },
    }
}

#[async_trait::async_trait]
impl SessionChannel for RelayChannel {
    async fn receive_request(&self, wait_ms: u64) -> Result<Vec<u8>, SessionChannelError> {
        use proximity::SessionChannel as _;
        self.0
            .receive_request(Duration::from_millis(wait_ms))
            .await
            .map_err(from_core)
    }

    async fn send_response(&self, message: Vec<u8>) -> Result<(), SessionChannelError> {
        use proximity::SessionChannel as _;
        self.0.send_response(message).await.map_err(from_core)
    }
}

/// The app's channel as the core's.
struct ChannelAdapter(Arc<dyn SessionChannel>);

impl proximity::SessionChannel for ChannelAdapter {
    fn receive_request(&self, wait: Duration) -> proximity::ChannelFuture<'_, Vec<u8>> {
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        boxed(async move {
            let message = self.0.receive_request(wait_ms).await?;
            if message.len() > proximity::MAX_MESSAGE_BYTES {
                return Err(VerifierError::InvalidRequest {
                    code: kluis_core::RequestRefusal::Oversized,
                    reason: "the message on the channel is too large".into(),
                });
            }
            Ok(message)
        })
    }

    fn send_response(&self, message: Vec<u8>) -> proximity::ChannelFuture<'_, ()> {
        boxed(async move { Ok(self.0.send_response(message).await?) })
    }
}

fn boxed<'a, T>(
    f: impl Future<Output = Result<T, VerifierError>> + Send + 'a,
) -> Pin<Box<dyn Future<Output = Result<T, VerifierError>> + Send + 'a>> {
    Box::pin(f)
}

/// Error-correction level of a QR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QrErrorCorrection {
    /// About 7 % recovery (used only when the payload does not fit at M).
    L,
    /// About 15 % recovery: what a phone screen wants.
    M,
    /// About 25 %.
    Q,
    /// About 30 %.
    H,
}

/// A QR code for the app to draw: `size` × `size` modules, row by row, `true` = dark. Draw a
/// light quiet zone of 4 modules around it.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct QrCode {
    /// The text in the code.
    pub payload: String,
    /// QR version (1 to 40).
    pub version: u8,
    /// Modules per side.
    pub size: u32,
    /// `size * size` modules, row-major (index `y * size + x`), `true` for dark.
    pub modules: Vec<bool>,
    /// The error-correction level used.
    pub error_correction: QrErrorCorrection,
}

impl std::fmt::Debug for QrCode {
    // An offline QR's payload (and so its modules) holds the disclosed claims: not in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrCode")
            .field("version", &self.version)
            .field("size", &self.size)
            .field("error_correction", &self.error_correction)
            .finish_non_exhaustive()
    }
}

/// The smallest code for `payload` at level M, else L (what the CLI shows too).
fn code(payload: &str) -> Result<Qr, KluisError> {
    Qr::new(payload, Ec::M)
        .or_else(|_| Qr::new(payload, Ec::L))
        .map_err(|_| KluisError::InvalidInput {
            reason: "the payload is too large for any QR code".into(),
        })
}

impl QrCode {
    fn of(payload: &str) -> Result<QrCode, KluisError> {
        let qr = code(payload)?;
        Ok(QrCode {
            payload: payload.to_string(),
            version: u8::try_from(qr.version()).unwrap_or(0),
            size: qr.width() as u32,
            modules: qr.modules(),
            error_correction: match qr.ec {
                Ec::L => QrErrorCorrection::L,
                Ec::M => QrErrorCorrection::M,
                Ec::Q => QrErrorCorrection::Q,
                Ec::H => QrErrorCorrection::H,
            },
        })
    }
}

/// The QR code of `payload` as modules to draw (level M where it fits, else L).
#[uniffi::export]
pub fn qr_code(payload: String) -> Result<QrCode, KluisError> {
    QrCode::of(&payload)
}

/// The QR code of `payload` as a black-on-white PNG with its quiet zone, `scale` pixels per
/// module (1 to 32).
#[uniffi::export]
pub fn qr_png(payload: String, scale: u32) -> Result<Vec<u8>, KluisError> {
    code(&payload)?
        .to_png(scale)
        .map_err(|e| KluisError::Internal {
            reason: format!("PNG: {e}"),
        })
}

/// The citizen's session QR: a fresh ephemeral key (never stored, gone with this object) and
/// the relay the party reaches the wallet through. Show `SessionQr.code()`, then wait with
/// `Wallet.receiveSessionRequest`.
#[derive(uniffi::Object)]
pub struct SessionQr {
    inner: proximity::WalletEngagement,
}

impl std::fmt::Debug for SessionQr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[uniffi::export]
impl SessionQr {
    /// A new session reachable through the relay at `relay_url` (https; plain http only to
    /// loopback). The URL goes into the code.
    #[uniffi::constructor]
    pub fn new(relay_url: String) -> Result<Arc<Self>, KluisError> {
        Ok(Arc::new(SessionQr {
            inner: proximity::WalletEngagement::new(&relay_url)?,
        }))
    }

    /// The QR text (`KS1:...`).
    pub fn text(&self) -> String {
        self.inner.qr_text().to_string()
    }

    /// The code to draw.
    pub fn code(&self) -> Result<QrCode, KluisError> {
        QrCode::of(self.inner.qr_text())
    }

    /// The session id in the code (16 bytes): what a channel of the app's addresses (the relay's
    /// mailbox, a BLE service).
    pub fn session_id(&self) -> Vec<u8> {
        self.inner.engagement().session_id.to_vec()
    }

    /// The HTTP relay the code names, as a channel, with `http`'s roots and loopback rule (its
    /// timeout is raised to outlast the relay's 30 s long poll).
    pub fn relay_channel(&self, http: HttpSettings) -> Result<Arc<dyn SessionChannel>, KluisError> {
        let mut policy: kluis_core::issuance::HttpPolicy = http.into();
        policy.timeout = policy
            .timeout
            .max(kluis_core::issuance::HttpPolicy::long_poll().timeout);
        let e = self.inner.engagement();
        let base = e.relay().ok_or_else(|| KluisError::InvalidInput {
            reason: "the session QR names no relay".into(),
        })?;
        let relay = proximity::HttpRelay::with_policy(base, &e.session_id, &policy)
            .map_err(|e| KluisError::from(kluis_core::Error::from(e)))?;
        Ok(Arc::new(RelayChannel(relay)))
    }
}

/// What an offline QR discloses.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum OfflineQuery {
    /// The standard rental application: name and current address, monthly income, no
    /// registered payment arrears (each from the holder's small rental type where held).
    Rental,
    /// A DCQL query (JSON text), e.g. one the party published.
    Dcql { json: String },
}

/// One credential in an offline QR and every claim the party reads from it (the chosen ones and
/// its always-visible ones), as logged.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OfflineItem {
    /// Wallet credential id.
    pub credential_id: String,
    /// Claim paths.
    pub claims: Vec<String>,
}

/// An offline QR made for one party.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OfflineQr {
    /// The party it is for (the key-binding `aud`).
    pub audience: String,
    /// When it was made (Unix seconds): the party accepts it until `valid_until`.
    pub issued_at: i64,
    /// Unix seconds after which the party refuses it (2 minutes).
    pub valid_until: i64,
    /// What it discloses (also in the audit log, channel `offline-qr`).
    pub items: Vec<OfflineItem>,
    /// The code to show (`payload` is the `KL2:` text).
    pub code: QrCode,
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Waits up to `wait_ms` for the party's request on `channel`, decrypts it with `qr`'s key,
    /// checks it is bound to that QR, and verifies and matches it as a remote request: the same
    /// consent screen model (`channel` is `SessionQr`). Nothing is sent; a refused request is
    /// `InvalidRequest` and logged. Cancelling the call (the citizen closed the QR) stops the wait.
    #[uniffi::method(default(cancel = None))]
    pub async fn receive_session_request(
        &self,
        qr: Arc<SessionQr>,
        channel: Arc<dyn SessionChannel>,
        wait_ms: u64,
        lang: String,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<Arc<PresentationSession>, KluisError> {
        let core = self.core()?;
        let request = cancellable(cancel, move || async move {
            core.receive_session_request(
                &qr.inner,
                &ChannelAdapter(channel),
                Duration::from_millis(wait_ms),
                &lang,
            )
            .await
        })
        .await?;
        Ok(PresentationSession::new(request))
    }

    /// Sends exactly the chosen claims over `channel` (encrypted to the party) and logs the
    /// disclosure (channel `session-qr`). A choice the core refuses is `InvalidInput`, nothing
    /// sent. A channel that fails while sending is `Network`: logged as possibly shared, never
    /// sent again. Runs to its end even when the caller is cancelled (it is logged either way).
    pub async fn accept_session_presentation(
        &self,
        session: Arc<PresentationSession>,
        choice: PresentationChoice,
        channel: Arc<dyn SessionChannel>,
    ) -> Result<Vec<DisclosedCredential>, KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.accept_session_presentation(&request, &choice.into(), &ChannelAdapter(channel))
                .await
                .map(|d| d.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Tells the party over `channel` that the citizen declined, and logs it (also when the
    /// channel fails: then `Network`).
    pub async fn decline_session_presentation(
        &self,
        session: Arc<PresentationSession>,
        channel: Arc<dyn SessionChannel>,
    ) -> Result<(), KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.decline_session_presentation(&request, &ChannelAdapter(channel))
                .await
        })
        .await
    }

    /// A helper answers the party in person under mandate `mandate_id` (docs/DELEGATION.md):
    /// the mandate's scope decides what is disclosed; its revocation is checked first (`http`).
    pub async fn accept_session_presentation_on_behalf(
        &self,
        mandate_id: String,
        session: Arc<PresentationSession>,
        channel: Arc<dyn SessionChannel>,
        http: HttpSettings,
    ) -> Result<Vec<DisclosedCredential>, KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.accept_session_presentation_on_behalf(
                &mandate_id,
                &request,
                &ChannelAdapter(channel),
                http.into(),
            )
            .await
            .map(|d| d.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Makes an offline QR for party `audience` (its client identifier) disclosing what `query`
    /// asks, from the stored credentials that give the smallest code, with a fresh nonce; valid
    /// for 2 minutes, for that party only. Logged (channel `offline-qr`, with `purpose`). A query
    /// the wallet cannot answer is `NotFound`; a bad query or an empty audience `InvalidInput`.
    pub async fn offline_qr(
        &self,
        query: OfflineQuery,
        audience: String,
        purpose: Option<String>,
    ) -> Result<OfflineQr, KluisError> {
        let query = match query {
            OfflineQuery::Rental => offline::rental_query(),
            OfflineQuery::Dcql { json } => {
                let v: serde_json::Value =
                    serde_json::from_str(&json).map_err(|_| KluisError::InvalidInput {
                        reason: "the query is not JSON".into(),
                    })?;
                DcqlQuery::parse(&v).map_err(|e| KluisError::InvalidInput {
                    reason: format!("the DCQL query: {e}"),
                })?
            }
        };
        let qr = self
            .with_core(move |w| {
                let items = w.offline_items_for(&query)?;
                w.offline_presentation(&items, &audience, purpose.as_deref())
            })
            .await?;
        Ok(OfflineQr {
            code: QrCode::of(&qr.payload)?,
            audience: qr.audience,
            issued_at: qr.issued_at,
            valid_until: qr.issued_at + offline::MAX_AGE_SECS,
            items: qr
                .items
                .into_iter()
                .map(|i| OfflineItem {
                    credential_id: i.credential_id,
                    claims: i.claims,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The code of an offline QR carries the disclosed claims: Debug (logs, crash reports) leaves
    /// the payload and the modules out.
    #[test]
    fn a_codes_debug_leaves_the_payload_out() {
        let code = QrCode::of("KL2:Daan-de-Vries-Utrecht").unwrap();
        let shown = format!("{code:?}");
        assert!(
            !shown.contains("Daan") && !shown.contains("true"),
            "{shown}"
        );
        assert!(shown.contains("version"), "{shown}");
    }
}
