//! The party's use cases over the verifier library and the shared state: create a request,
//! hand out its request object, take the wallet's response, report the result, verify a QR the
//! desk scanned, delete results when their retention ends or the citizen asks. Stateless
//! itself: everything an instance must share with the others goes through [`VerifierState`],
//! sealed under the party's state key, so any instance answers any step.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kluis_crypto::{DataKeys, Dek};
use kluis_sdjwt::{PublicJwk, SigningKey};
use kluis_verifier::http::HttpPolicy;
use kluis_verifier::openid4vp::offline::{self, OfflineExpectations, ReplayCache};
use kluis_verifier::openid4vp::proximity::{
    run_verifier_session_with, start_verifier_session, HttpRelay,
};
use kluis_verifier::openid4vp::verifier::{
    new_request, parse_form, request_link, verify_response_with, PendingRequest, ResponseOutcome,
    VerifierConfig, VerifierTrust,
};
use kluis_verifier::openid4vp::{ResponseMode, StatedPurpose};
use kluis_verifier::registration::RegistrationCertificate;
use kluis_verifier::scheme::ParticipantList;
use kluis_verifier::status::{ListStore, ListStoreFuture, StatusLists, StoredList};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::state::{ReplayCheck, StateError, Tag, VerifierState};

/// `typ` of a citizen's deletion request (docs/PRESENTING.md "Retention and deletion").
pub const DELETION_REQUEST_TYP: &str = "kluis-deletion-request+jwt";
/// `typ` of the party's signed receipt for a deletion.
pub const DELETION_RECEIPT_TYP: &str = "kluis-deletion-receipt+jwt";
/// How old a deletion request may be.
pub const DELETION_REQUEST_MAX_AGE_SECS: i64 = 300;
/// Largest body any endpoint reads.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Largest QR text the desk endpoint reads.
pub const MAX_QR_BYTES: usize = 8 * 1024;
/// How long an in-person session waits for the wallet.
pub const SESSION_WAIT: Duration = Duration::from_secs(120);

/// Why a call failed, as the HTTP layer maps it: the caller's fault (4xx, with a reason that
/// holds no personal data), an unknown request (404), the state store (503), or ours (500).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServiceError {
    /// Malformed, hostile or unacceptable input; nothing changed.
    #[error("{0}")]
    BadRequest(String),
    /// No such request or result (expired, deleted, or never made).
    #[error("{0}")]
    NotFound(String),
    /// The request was answered already; nothing changed.
    #[error("this request was already answered")]
    AlreadyAnswered,
    /// The shared state cannot be reached: nothing was accepted.
    #[error(transparent)]
    State(#[from] StateError),
    /// The scheme or another party's server cannot be reached.
    #[error("{0}")]
    Upstream(String),
    /// A fault of this server.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<kluis_verifier::Error> for ServiceError {
    fn from(e: kluis_verifier::Error) -> Self {
        use kluis_verifier::Error;
        match e {
            Error::Network { .. } => ServiceError::Upstream(e.to_string()),
            Error::Internal { .. } => ServiceError::Internal(e.to_string()),
            _ => ServiceError::BadRequest(e.to_string()),
        }
    }
}

/// The service's clock: system time plus an offset tests may move forward (retention).
#[derive(Clone, Default)]
pub struct Clock(Arc<AtomicI64>);

impl Clock {
    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        kluis_verifier::now_unix().saturating_add(self.0.load(Ordering::Relaxed))
    }

    /// Moves this clock `secs` ahead (tests).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::Relaxed);
    }
}

/// A purpose the party registered, with how long it keeps what it receives for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    /// Registered purpose id (`rental`).
    pub id: String,
    /// Registered retention in days; results are deleted when it runs out.
    pub retention_days: u32,
    /// The scheme's registration certificate for this purpose (a JWT), sent in every request's
    /// `verifier_info` (OpenID4VP 1.0 §5.11) so the wallet sees what the scheme registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
}

/// A query the party asks by name.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedQuery {
    /// The DCQL query.
    pub dcql: Value,
    /// The purpose it serves (one of [`Party::purposes`]).
    pub purpose: String,
}

/// Who the party is.
pub struct Party {
    /// Client identifier with prefix.
    pub client_id: String,
    /// Signs request objects and deletion receipts.
    pub signing_key: SigningKey,
    /// A Verifier Attestation JWT for the JOSE header (`verifier_attestation:` parties).
    pub attestation: Option<String>,
    /// The access certificate chain for the JOSE header `x5c` (`x509_hash:` parties: base64
    /// DER, leaf first, the scheme's CA left out). Empty: none.
    pub x5c: Vec<String>,
    /// `direct_post` or `direct_post.jwt`.
    pub response_mode: ResponseMode,
    /// Registered purposes.
    pub purposes: Vec<Purpose>,
    /// Queries by name; the first is the default.
    pub queries: BTreeMap<String, NamedQuery>,
    /// Query used for in-person session QRs.
    pub session_query: Option<String>,
}

/// Whom the party trusts for credentials.
pub enum Trust {
    /// Keys and types given in the configuration.
    Fixed(VerifierTrust),
    /// The scheme's participant list at `list_uri`, signed by `key`; cached in the shared state
    /// until the list's `exp` or `refresh_secs`, whichever comes first.
    Scheme {
        /// Where the list is.
        list_uri: String,
        /// The pinned scheme key.
        key: PublicJwk,
        /// Longest time a fetched list is used.
        refresh_secs: i64,
    },
}

/// Everything a [`Verifier`] needs.
pub struct Settings {
    /// The party.
    pub party: Party,
    /// Base URL wallets reach (the load balancer): `request_uri` and `response_uri` use it.
    pub public_url: String,
    /// Whom it trusts.
    pub trust: Trust,
    /// The key every instance of this party seals its state with (32 random bytes).
    pub state_key: Zeroizing<[u8; 32]>,
    /// Request validity.
    pub request_lifetime_secs: i64,
    /// Outbound HTTP (scheme, mandate status lists, relays, webhook).
    pub http: HttpPolicy,
    /// Where verified results are pushed (optional), with the HMAC secret for its signature.
    pub webhook: Option<(String, Zeroizing<Vec<u8>>)>,
    /// Relays a session QR may name (empty: any https relay, or loopback http).
    pub relays: Vec<String>,
}

/// A fresh request, as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatedRequest {
    /// Key of the result.
    pub state: String,
    /// The `openid4vp://` link (to show as QR or open on the same device).
    pub link: String,
    /// The request object's URL.
    pub request_uri: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// The link as a QR code, PNG, base64.
    pub qr_png: String,
}

/// A result as the party's back end reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResultView {
    /// Key of the request.
    pub state: String,
    /// `pending`, `verified`, `declined` or `rejected` (a desk QR that failed).
    pub status: String,
    /// Per DCQL query id, the verified credentials (`issuer`, `vct`, `claims`).
    pub claims: Option<Value>,
    /// Why it was declined or rejected (no personal data).
    pub reason: Option<String>,
    /// The purpose the request stated.
    pub purpose: Option<String>,
    /// When the answer arrived.
    pub received_at: Option<i64>,
    /// When the result will be deleted (registered retention).
    pub delete_at: Option<i64>,
    /// Set while a decline arrived and the request is still open (its expiry): a decline is
    /// not authenticated, so the citizen's verified answer still counts until then; only after
    /// it passed with no answer is the decline the citizen's (docs/PRESENTING.md, "Declines").
    pub open_until: Option<i64>,
}

/// What a deletion returns: the signed receipt the wallet keeps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeletionReceipt {
    /// How many results were deleted (0: none was held any more).
    pub deleted: u32,
    /// The receipt JWT (`typ` [`DELETION_RECEIPT_TYP`]), signed by the party's key.
    pub receipt: String,
}

#[derive(Serialize, Deserialize)]
struct PendingEnvelope {
    purpose: String,
    pending: String,
}

#[derive(Serialize, Deserialize)]
struct StoredResult {
    view: ResultView,
    /// Thumbprints of the keys that signed the key-binding JWTs (who may ask for deletion).
    presenters: Vec<String>,
}

/// A participant list this instance verified (its exact bytes), with the trust made from it.
struct VerifiedScheme {
    jwt: String,
    list: ParticipantList,
    trust: Arc<VerifierTrust>,
}

/// The party's verifier: one per instance, sharing everything through the state store.
pub struct Verifier {
    party: Party,
    public_url: String,
    trust: Trust,
    state: Arc<dyn VerifierState>,
    keys: Arc<DataKeys>,
    lifetime: i64,
    http: HttpPolicy,
    client: reqwest::Client,
    webhook: Option<(String, Zeroizing<Vec<u8>>)>,
    relays: Vec<String>,
    /// The credentials' status lists as this instance verified them; each verification reads
    /// and keeps them through the shared state as well ([`SharedLists`]).
    status_lists: StatusLists,
    /// The scheme's list as this instance last verified it (see [`Verifier::scheme_seen`]).
    scheme_seen: std::sync::Mutex<Option<Arc<VerifiedScheme>>>,
    /// The service's clock.
    pub clock: Clock,
}

fn random_id() -> String {
    let mut b = [0u8; 18];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    URL_SAFE_NO_PAD.encode(b)
}

impl Verifier {
    /// A verifier over `state`. Call [`Verifier::start`] before serving.
    pub fn new(settings: Settings, state: Arc<dyn VerifierState>) -> Result<Self, ServiceError> {
        if settings.party.queries.is_empty() {
            return Err(ServiceError::BadRequest("the party has no query".into()));
        }
        for (name, q) in &settings.party.queries {
            kluis_verifier::openid4vp::dcql::DcqlQuery::parse(&q.dcql)
                .map_err(|e| ServiceError::BadRequest(format!("query {name}: {e}")))?;
            if !settings.party.purposes.iter().any(|p| p.id == q.purpose) {
                return Err(ServiceError::BadRequest(format!(
                    "query {name}: purpose {} is not registered",
                    q.purpose
                )));
            }
        }
        let client = reqwest::Client::builder()
            .timeout(settings.http.timeout)
            .connect_timeout(settings.http.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ServiceError::Internal(format!("HTTP client: {e}")))?;
        Ok(Verifier {
            keys: Arc::new(DataKeys::from_dek(Dek::from_secret(settings.state_key))),
            party: settings.party,
            public_url: settings.public_url.trim_end_matches('/').to_string(),
            trust: settings.trust,
            state,
            lifetime: settings.request_lifetime_secs,
            http: settings.http,
            client,
            webhook: settings.webhook,
            relays: settings.relays,
            status_lists: StatusLists::new(),
            scheme_seen: std::sync::Mutex::new(None),
            clock: Clock::default(),
        })
    }

    /// Marks the replay history (see [`VerifierState::start`]).
    pub async fn start(&self) -> Result<(), ServiceError> {
        Ok(self.state.start(self.clock.now(), replay_window()).await?)
    }

    /// The party's client identifier.
    pub fn client_id(&self) -> &str {
        &self.party.client_id
    }

    /// The public URL.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The state store (health checks).
    pub fn state(&self) -> &Arc<dyn VerifierState> {
        &self.state
    }

    /// The status lists' store for one verification.
    fn shared_lists(&self) -> Arc<SharedLists> {
        Arc::new(SharedLists {
            state: Arc::clone(&self.state),
            keys: Arc::clone(&self.keys),
            failed: std::sync::Mutex::new(None),
        })
    }

    fn tag(&self, kind: &[u8], value: &str) -> Tag {
        Tag(self.keys.lookup_tag(&[kind, value.as_bytes()]))
    }

    fn seal(&self, kind: &[u8], id: &Tag, plain: &[u8]) -> Vec<u8> {
        self.keys.seal(plain, &[kind, &id.0[..]].concat())
    }

    fn open(
        &self,
        kind: &[u8],
        id: &Tag,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
        self.keys
            .open(sealed, &[kind, &id.0[..]].concat())
            .map_err(|_| {
                ServiceError::Internal(
                    "stored state does not open with this party's state key".into(),
                )
            })
    }

    /// The library configuration for the query's purpose.
    fn config(&self, purpose: &Purpose) -> Result<VerifierConfig, ServiceError> {
        let signing_key = SigningKey::from_pkcs8_der(&self.party.signing_key.to_pkcs8_der())
            .map_err(|_| ServiceError::Internal("signing key".into()))?;
        Ok(VerifierConfig {
            client_id: self.party.client_id.clone(),
            signing_key,
            attestation: self.party.attestation.clone(),
            x5c: self.party.x5c.clone(),
            response_uri: format!("{}/response", self.public_url),
            response_mode: self.party.response_mode,
            purpose: Some(StatedPurpose {
                id: purpose.id.clone(),
                retention_days: Some(purpose.retention_days),
            }),
            lifetime_secs: self.lifetime,
        })
    }

    fn purpose(&self, id: &str) -> Result<&Purpose, ServiceError> {
        self.party
            .purposes
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| ServiceError::BadRequest(format!("purpose {id} is not registered")))
    }

    /// A new request for the named query (`None`: the default), or for a DCQL body under one of
    /// the registered purposes.
    pub async fn create_request(
        &self,
        query: Option<&str>,
        dcql: Option<&Value>,
        purpose: Option<&str>,
    ) -> Result<CreatedRequest, ServiceError> {
        let (dcql, purpose) = match (query, dcql) {
            (Some(_), Some(_)) => {
                return Err(ServiceError::BadRequest(
                    "give either a query name or a DCQL query, not both".into(),
                ))
            }
            (_, Some(d)) => {
                let p = match purpose {
                    Some(p) => p.to_string(),
                    None => self.party.purposes[0].id.clone(),
                };
                (d.clone(), p)
            }
            (name, None) => {
                let (_, q) =
                    match name {
                        Some(n) => self.party.queries.get_key_value(n).ok_or_else(|| {
                            ServiceError::BadRequest(format!("no query named {n}"))
                        })?,
                        None => self
                            .party
                            .queries
                            .iter()
                            .next()
                            .ok_or_else(|| ServiceError::Internal("no query".into()))?,
                    };
                if purpose.is_some_and(|p| p != q.purpose) {
                    return Err(ServiceError::BadRequest(
                        "a named query has its own purpose".into(),
                    ));
                }
                (q.dcql.clone(), q.purpose.clone())
            }
        };
        let purpose = self.purpose(&purpose)?.clone();
        let config = self.config(&purpose)?;
        let mut pending = new_request(&config, &dcql, self.clock.now())?;
        if let Some(cert) = &purpose.registration {
            // Re-signed: the library builds the request without `verifier_info`.
            let mut claims = pending.claims.clone();
            claims["verifier_info"] = json!([RegistrationCertificate::verifier_info_entry(cert)]);
            pending.resign(&config.signing_key, config.attestation.as_deref(), claims)?;
        }
        self.store_pending(&pending, &purpose.id).await?;
        let request_uri = format!("{}/request/{}", self.public_url, pending.state);
        let link = request_link(&self.party.client_id, &request_uri);
        let qr = kluis_qr::render::Qr::new(&link, kluis_qr::render::Ec::M)
            .and_then(|q| q.to_png(4))
            .map_err(|e| ServiceError::Internal(format!("QR: {e}")))?;
        Ok(CreatedRequest {
            state: pending.state.clone(),
            link,
            request_uri,
            expires_at: pending.expires_at,
            qr_png: base64::engine::general_purpose::STANDARD.encode(qr),
        })
    }

    /// Keeps `pending` in the shared state (so any instance can serve and answer it).
    pub async fn store_pending(
        &self,
        pending: &PendingRequest,
        purpose: &str,
    ) -> Result<(), ServiceError> {
        // Kept a little past `exp`: the library allows the same skew for late answers.
        let keep_until = pending
            .expires_at
            .saturating_add(kluis_verifier::presentation::DEFAULT_SKEW_SECS);
        self.keep_pending(pending, purpose, keep_until).await
    }

    async fn keep_pending(
        &self,
        pending: &PendingRequest,
        purpose: &str,
        keep_until: i64,
    ) -> Result<(), ServiceError> {
        let id = self.tag(b"pending", &pending.state);
        let stored = pending.to_stored()?;
        let envelope = Zeroizing::new(
            serde_json::to_vec(&PendingEnvelope {
                purpose: purpose.to_string(),
                pending: URL_SAFE_NO_PAD.encode(stored.as_bytes()),
            })
            .map_err(|_| ServiceError::Internal("pending envelope".into()))?,
        );
        let alias = pending.encryption_kid().map(|k| self.tag(b"kid", k));
        self.state
            .put_pending(
                id,
                alias,
                self.seal(b"pending", &id, &envelope),
                keep_until,
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    async fn load_pending(
        &self,
        id: Tag,
    ) -> Result<Option<(PendingRequest, String)>, ServiceError> {
        let Some(sealed) = self.state.pending(id, self.clock.now()).await? else {
            return Ok(None);
        };
        let plain = self.open(b"pending", &id, &sealed)?;
        let env: PendingEnvelope = serde_json::from_slice(&plain)
            .map_err(|_| ServiceError::Internal("pending envelope".into()))?;
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(&env.pending)
                .map_err(|_| ServiceError::Internal("pending envelope".into()))?,
        );
        Ok(Some((PendingRequest::from_stored(&bytes)?, env.purpose)))
    }

    /// The open request `state` as the verifier library keeps it, unless it expired or was
    /// answered: for the party's own tools in process (the load benchmark verifies the answers
    /// it posted with the library too). No HTTP route exposes it.
    pub async fn pending_request(
        &self,
        state: &str,
    ) -> Result<Option<PendingRequest>, ServiceError> {
        if state.len() > 256 {
            return Ok(None);
        }
        let pending = self.load_pending(self.tag(b"pending", state)).await?;
        Ok(pending.map(|(p, _)| p))
    }

    /// The signed request object of `state` (the `request_uri` endpoint).
    pub async fn request_object(&self, state: &str) -> Result<String, ServiceError> {
        if state.len() > 256 {
            return Err(ServiceError::NotFound("unknown request".into()));
        }
        match self.load_pending(self.tag(b"pending", state)).await? {
            // A declined request is kept past its expiry (for the result view), not served.
            Some((p, _)) if p.is_open(self.clock.now()) => Ok(p.request_object),
            _ => Err(ServiceError::NotFound(
                "unknown, expired or answered request".into(),
            )),
        }
    }

    /// The wallet's response (the `response_uri` endpoint, form body). Verified, then recorded
    /// once; a response that fails verification changes nothing (the request stays open until
    /// it expires), so whoever saw the QR cannot spoil the citizen's answer by posting first.
    pub async fn submit_response(&self, body: &str) -> Result<ResultView, ServiceError> {
        let form = parse_form(body).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let id = match (field("response"), field("state")) {
            (Some(jwe), _) => {
                let kid = jwe_kid(jwe).ok_or_else(|| {
                    ServiceError::BadRequest("the encrypted response names no key (kid)".into())
                })?;
                self.state
                    .pending_by_alias(self.tag(b"kid", &kid), self.clock.now())
                    .await?
                    .ok_or_else(|| {
                        ServiceError::BadRequest(
                            "no open request has this encryption key (unknown, expired or answered)"
                                .into(),
                        )
                    })?
            }
            (None, Some(state)) if state.len() <= 256 => self.tag(b"pending", state),
            (None, Some(_)) => {
                return Err(ServiceError::BadRequest("the state is too long".into()))
            }
            (None, None) => {
                return Err(ServiceError::BadRequest(
                    "the response has neither state nor response".into(),
                ))
            }
        };
        let Some((mut pending, purpose)) = self.load_pending(id).await? else {
            // Answered already, or never existed, or expired: the same answer for all three.
            if self.state.result(id, self.clock.now()).await?.is_some() {
                return Err(ServiceError::AlreadyAnswered);
            }
            return Err(ServiceError::BadRequest(
                "unknown or expired request".into(),
            ));
        };
        let trust = self.trust().await?;
        let now = self.clock.now();
        let shared = self.shared_lists();
        // A helper's presentation names its mandate's status list, every credential its own
        // (asked for only once the signatures verified): fetched, then verified again.
        let outcome = kluis_verifier::delegation::with_status_at(
            &self.status_lists.through(shared.clone()),
            None,
            self.http.clone(),
            now,
            |ctx| verify_response_with(&form, &pending, &trust, now, ctx),
        )
        .await;
        shared.check()?;
        let outcome = outcome.map_err(ServiceError::from)?;
        let (status, claims, reason, presenters) = match outcome {
            ResponseOutcome::Verified { credentials } => {
                let presenters = credentials
                    .values()
                    .flatten()
                    .filter_map(|c| c.presenter_thumbprint.clone())
                    .collect();
                let claims = serde_json::to_value(&credentials)
                    .map_err(|_| ServiceError::Internal("result".into()))?;
                ("verified", Some(claims), None, presenters)
            }
            ResponseOutcome::Declined { error } => {
                // Not authenticated: recorded on the request, which stays answerable until it
                // expires (and is kept, with the decline, for the purpose's retention after).
                pending.record_decline(&error);
                let retention = self
                    .purpose(&purpose)
                    .map(|p| p.retention_days)
                    .unwrap_or(0);
                let keep_until = pending
                    .expires_at
                    .saturating_add(kluis_verifier::presentation::DEFAULT_SKEW_SECS)
                    .saturating_add(i64::from(retention) * 86_400);
                self.keep_pending(&pending, &purpose, keep_until).await?;
                let view = ResultView {
                    state: pending.state.clone(),
                    status: "declined".into(),
                    claims: None,
                    reason: Some(error),
                    purpose: Some(purpose),
                    received_at: Some(now),
                    delete_at: None,
                    open_until: Some(pending.expires_at),
                };
                self.push_webhook(&view);
                return Ok(view);
            }
        };
        let view = self
            .finish(
                &pending.state,
                id,
                status,
                claims,
                reason,
                &purpose,
                presenters,
            )
            .await?;
        Ok(view)
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        state: &str,
        id: Tag,
        status: &str,
        claims: Option<Value>,
        reason: Option<String>,
        purpose: &str,
        presenters: Vec<String>,
    ) -> Result<ResultView, ServiceError> {
        let now = self.clock.now();
        let retention = self.purpose(purpose).map(|p| p.retention_days).unwrap_or(0);
        let delete_at = now.saturating_add(i64::from(retention) * 86_400);
        let view = ResultView {
            state: state.to_string(),
            status: status.to_string(),
            claims,
            reason,
            purpose: Some(purpose.to_string()),
            received_at: Some(now),
            delete_at: Some(delete_at),
            open_until: None,
        };
        let index: Vec<Tag> = presenters
            .iter()
            .map(|t| self.tag(b"presenter", t))
            .collect();
        let stored = Zeroizing::new(
            serde_json::to_vec(&StoredResult {
                view: view.clone(),
                presenters,
            })
            .map_err(|_| ServiceError::Internal("result".into()))?,
        );
        if !self
            .state
            .finish(id, self.seal(b"result", &id, &stored), &index, delete_at)
            .await?
        {
            return Err(ServiceError::AlreadyAnswered);
        }
        self.push_webhook(&view);
        Ok(view)
    }

    fn push_webhook(&self, view: &ResultView) {
        let Some((url, secret)) = &self.webhook else {
            return;
        };
        let Ok(body) = serde_json::to_vec(view) else {
            return;
        };
        let signature = webhook_signature(secret, &body);
        let client = self.client.clone();
        let url = url.clone();
        // Best effort with a few retries; the result is in the state store either way.
        tokio::spawn(async move {
            for attempt in 0..3u32 {
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-kluis-signature", &signature)
                    .body(body.clone())
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    return;
                }
                if attempt < 2 {
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
            eprintln!("kluis-verifier: the webhook did not accept a result after 3 attempts");
        });
    }

    /// The result of request `state`: pending while the request is open.
    pub async fn result(&self, state: &str) -> Result<ResultView, ServiceError> {
        if state.len() > 256 {
            return Err(ServiceError::NotFound("unknown request".into()));
        }
        let id = self.tag(b"pending", state);
        let now = self.clock.now();
        if let Some(sealed) = self.state.result(id, now).await? {
            let plain = self.open(b"result", &id, &sealed)?;
            let stored: StoredResult = serde_json::from_slice(&plain)
                .map_err(|_| ServiceError::Internal("result".into()))?;
            return Ok(stored.view);
        }
        match self.load_pending(id).await? {
            Some((p, purpose)) => Ok(ResultView {
                state: state.to_string(),
                status: if p.decline_arrived().is_some() {
                    "declined"
                } else {
                    "pending"
                }
                .into(),
                claims: None,
                reason: p.decline_arrived().map(str::to_string),
                purpose: Some(purpose),
                received_at: None,
                delete_at: None,
                open_until: (p.decline_arrived().is_some() && p.is_open(now))
                    .then_some(p.expires_at),
            }),
            None => Err(ServiceError::NotFound(
                "unknown request, or its result was deleted".into(),
            )),
        }
    }

    /// The trust in force: fixed, or the scheme's list (from the shared cache, else fetched).
    pub async fn trust(&self) -> Result<Arc<VerifierTrust>, ServiceError> {
        match &self.trust {
            Trust::Fixed(t) => Ok(Arc::new(t.clone())),
            Trust::Scheme { .. } => Ok(Arc::clone(&self.scheme().await?.trust)),
        }
    }

    /// The scheme's verified participant list (cached in the shared state).
    pub async fn participant_list(&self) -> Result<ParticipantList, ServiceError> {
        Ok(self.scheme().await?.list.clone())
    }

    /// The list this instance verified last, if the shared cache still holds exactly its bytes
    /// and it has not expired: then neither its signature nor the trust need doing again.
    fn scheme_seen(&self, jwt: &[u8], now: i64) -> Option<Arc<VerifiedScheme>> {
        let seen = self.scheme_seen.lock().ok()?;
        seen.as_ref()
            .filter(|s| s.jwt.as_bytes() == jwt && s.list.exp >= now)
            .map(Arc::clone)
    }

    fn remember_scheme(&self, jwt: &str, list: ParticipantList) -> Arc<VerifiedScheme> {
        let verified = Arc::new(VerifiedScheme {
            jwt: jwt.to_string(),
            trust: Arc::new(VerifierTrust::from_participant_list(&list)),
            list,
        });
        if let Ok(mut seen) = self.scheme_seen.lock() {
            *seen = Some(Arc::clone(&verified));
        }
        verified
    }

    async fn scheme(&self) -> Result<Arc<VerifiedScheme>, ServiceError> {
        let Trust::Scheme {
            list_uri,
            key,
            refresh_secs,
        } = &self.trust
        else {
            return Err(ServiceError::NotFound(
                "this party trusts fixed keys, not a scheme list".into(),
            ));
        };
        let now = self.clock.now();
        let name = self.tag(b"cache", list_uri);
        if let Some(jwt) = self.state.cached(name, now).await? {
            if let Some(seen) = self.scheme_seen(&jwt, now) {
                return Ok(seen);
            }
            // Other bytes than this instance verified: the cache is shared and not trusted for
            // integrity, so they are verified before use.
            let jwt = String::from_utf8_lossy(&jwt);
            if let Ok(list) = kluis_verifier::scheme::verify_participant_list(&jwt, key, now) {
                return Ok(self.remember_scheme(&jwt, list));
            }
        }
        let jwt = self.fetch_text(list_uri, "application/jwt").await?;
        let list = kluis_verifier::scheme::verify_participant_list(jwt.trim(), key, now)?;
        let until = list.exp.min(now.saturating_add(*refresh_secs));
        self.state
            .cache(name, jwt.trim().as_bytes().to_vec(), until)
            .await?;
        Ok(self.remember_scheme(jwt.trim(), list))
    }

    async fn fetch_text(&self, url: &str, accept: &str) -> Result<String, ServiceError> {
        let checked = checked_url(url, self.http.allow_loopback_http)?;
        let reply = self
            .client
            .get(checked)
            .header("accept", accept)
            .send()
            .await
            .map_err(|_| ServiceError::Upstream(format!("{url} cannot be reached")))?;
        if !reply.status().is_success() {
            return Err(ServiceError::Upstream(format!(
                "{url} answered HTTP {}",
                reply.status().as_u16()
            )));
        }
        let body = reply
            .bytes()
            .await
            .map_err(|_| ServiceError::Upstream(format!("{url}: the answer broke off")))?;
        if body.len() > self.http.max_body_bytes {
            return Err(ServiceError::Upstream(format!(
                "{url}: the answer is too large"
            )));
        }
        String::from_utf8(body.to_vec())
            .map_err(|_| ServiceError::Upstream(format!("{url}: the answer is not text")))
    }

    /// A QR the desk scanned: an offline presentation (`KL1:`/`KL2:`) is verified now (replay
    /// cache shared by every instance) and kept as a result; a session QR (`KS1:`) starts the
    /// party's request over the relay it names, answered in the background (poll the state).
    pub async fn verify_qr(self: &Arc<Self>, text: &str) -> Result<ResultView, ServiceError> {
        let text = text.trim();
        if text.len() > MAX_QR_BYTES {
            return Err(ServiceError::BadRequest("the QR text is too long".into()));
        }
        if text.starts_with("KS1:") {
            return self.start_session(text).await;
        }
        let trust = self.trust().await?;
        let now = self.clock.now();
        let collect = CollectingReplayCache::default();
        let expect = OfflineExpectations {
            now,
            ..OfflineExpectations::new(&self.party.client_id)
        };
        let shared = self.shared_lists();
        let status = offline::OfflineStatus {
            lists: self.status_lists.through(shared.clone()),
            ..Default::default()
        };
        let checked = offline::verify_offline_fetching(
            text,
            &trust,
            &expect,
            &collect,
            &status,
            self.http.clone(),
        )
        .await;
        // The library takes an unreachable list as "not checked"; an unreachable store is not.
        shared.check()?;
        let checked = checked?;
        let disclosed = offline::disclosed_json_checked(&checked);
        let verified: Vec<_> = checked.into_iter().map(|c| c.presentation).collect();
        let keys: Vec<Tag> = collect
            .keys()
            .iter()
            .map(|k| Tag(self.keys.lookup_tag(&[b"replay", &k[..]])))
            .collect();
        let window = replay_window();
        match self
            .state
            .check_replay(&keys, now.saturating_add(window), now, window)
            .await?
        {
            ReplayCheck::Fresh => {}
            ReplayCheck::Replay => {
                return Err(ServiceError::BadRequest(
                    "offline QR already used: this presentation was shown before (replay)".into(),
                ))
            }
            ReplayCheck::Incomplete { until } => {
                return Err(ServiceError::State(StateError::Unavailable(format!(
                    "the replay cache was emptied (state store restart); offline QRs are refused for {} s more",
                    until.saturating_sub(now).max(1)
                ))))
            }
        }
        let state = random_id();
        let id = self.tag(b"pending", &state);
        let presenters = verified
            .iter()
            .filter_map(|v| v.holder_jwk.as_ref().map(|k| k.thumbprint()))
            .collect();
        let purpose = self
            .session_purpose()
            .map(|p| p.id.clone())
            .unwrap_or_default();
        self.finish(
            &state,
            id,
            "verified",
            Some(json!({ "offline": disclosed })),
            None,
            &purpose,
            presenters,
        )
        .await
    }

    fn session_query(&self) -> Result<&NamedQuery, ServiceError> {
        match &self.party.session_query {
            Some(n) => self.party.queries.get(n),
            None => self.party.queries.values().next(),
        }
        .ok_or_else(|| ServiceError::Internal("no session query".into()))
    }

    fn session_purpose(&self) -> Option<&Purpose> {
        let q = self.session_query().ok()?;
        self.purpose(&q.purpose).ok()
    }

    async fn start_session(self: &Arc<Self>, text: &str) -> Result<ResultView, ServiceError> {
        let engagement = kluis_qr::engagement::Engagement::decode(text)
            .map_err(|e| ServiceError::BadRequest(format!("session QR: {e}")))?;
        let named = engagement.relay().unwrap_or_default().trim_end_matches('/');
        if !self.relays.is_empty() && !self.relays.iter().any(|r| r.trim_end_matches('/') == named)
        {
            return Err(ServiceError::BadRequest(
                "session QR: this party does not use the relay it names".into(),
            ));
        }
        let relay = HttpRelay::for_engagement(&engagement)?;
        let q = self.session_query()?.clone();
        let purpose = self.purpose(&q.purpose)?.clone();
        let session =
            start_verifier_session(text, &self.config(&purpose)?, &q.dcql, self.clock.now())?;
        self.store_pending(&session.pending, &purpose.id).await?;
        let trust = self.trust().await?;
        let state = session.pending.state.clone();
        let id = self.tag(b"pending", &state);
        let view = ResultView {
            state: state.clone(),
            status: "pending".into(),
            claims: None,
            reason: None,
            purpose: Some(purpose.id.clone()),
            received_at: None,
            delete_at: None,
            open_until: None,
        };
        // The answer comes over the relay to this instance and is recorded in the shared state
        // like a remote one, so any instance reports it.
        let me = Arc::clone(self);
        tokio::spawn(async move {
            // The same status lists, HTTP policy and clock as a remote answer.
            let shared = me.shared_lists();
            let lists = me.status_lists.through(shared.clone());
            let clock = me.clock.clone();
            let now = move || clock.now();
            let outcome = run_verifier_session_with(
                &session,
                &relay,
                &trust,
                SESSION_WAIT,
                &lists,
                me.http.clone(),
                &now,
            )
            .await;
            let outcome = match shared.check() {
                Err(e) => Err(kluis_verifier::Error::Network {
                    kind: kluis_verifier::NetworkFailure::Unreachable,
                    reason: e.to_string(),
                }),
                Ok(()) => outcome,
            };
            let (status, claims, reason, presenters) = match outcome {
                Ok(ResponseOutcome::Verified { credentials }) => {
                    let presenters = credentials
                        .values()
                        .flatten()
                        .filter_map(|c| c.presenter_thumbprint.clone())
                        .collect();
                    (
                        "verified",
                        serde_json::to_value(&credentials).ok(),
                        None,
                        presenters,
                    )
                }
                Ok(ResponseOutcome::Declined { error }) => ("declined", None, Some(error), vec![]),
                Err(e) => ("rejected", None, Some(e.to_string()), vec![]),
            };
            if let Err(e) = me
                .finish(&state, id, status, claims, reason, &purpose.id, presenters)
                .await
            {
                eprintln!("kluis-verifier: a session result could not be recorded: {e}");
            }
        });
        Ok(view)
    }

    /// A citizen's deletion request (a JWT signed by the key that signed their presentation's
    /// key binding): deletes every result that key presented, answers a receipt signed by the
    /// party. A request from any other key deletes nothing.
    pub async fn delete_on_request(&self, jwt: &str) -> Result<DeletionReceipt, ServiceError> {
        let now = self.clock.now();
        let (jwk, claims) = verify_deletion_request(jwt, &self.party.client_id, now)?;
        // Each request once: a replayed copy (from a log, a proxy) must not delete what the
        // same key presents later. Remembered as long as the request could be accepted.
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 128)
            .ok_or_else(|| ServiceError::BadRequest("deletion request: no jti".into()))?;
        // Accepted while iat is within [now - max age, now + 60]: kept past the latest of those.
        let keep = DELETION_REQUEST_MAX_AGE_SECS + 120;
        match self
            .state
            .check_replay(
                &[self.tag(b"deletion-jti", jti)],
                now.saturating_add(keep),
                now,
                replay_window(),
            )
            .await?
        {
            ReplayCheck::Fresh => {}
            ReplayCheck::Replay => {
                return Err(ServiceError::BadRequest(
                    "deletion request: already used (replay)".into(),
                ))
            }
            ReplayCheck::Incomplete { until } => {
                return Err(ServiceError::State(StateError::Unavailable(format!(
                    "the replay cache was emptied (state store restart); deletion requests are refused for {} s more",
                    until.saturating_sub(now).max(1)
                ))))
            }
        }
        let thumbprint = jwk.thumbprint();
        let index = self.tag(b"presenter", &thumbprint);
        let mut deleted = 0u32;
        // One key may have presented in several answers (one per result, at most a few).
        for _ in 0..64 {
            let Some(id) = self.state.result_by_index(index, now).await? else {
                break;
            };
            let presenters = match self.state.result(id, now).await? {
                Some(sealed) => {
                    let plain = self.open(b"result", &id, &sealed)?;
                    let stored: StoredResult = serde_json::from_slice(&plain)
                        .map_err(|_| ServiceError::Internal("result".into()))?;
                    stored.presenters
                }
                None => vec![thumbprint.clone()],
            };
            let tags: Vec<Tag> = presenters
                .iter()
                .map(|t| self.tag(b"presenter", t))
                .collect();
            if self.state.delete_result(id, &tags).await? {
                deleted += 1;
            } else {
                // A dangling index entry: drop it so the loop ends.
                self.state.delete_result(id, &[index]).await?;
            }
        }
        let receipt = json!({
            "iss": self.party.client_id,
            "sub": thumbprint,
            "iat": now,
            "deleted_at": now,
            "deleted": deleted,
            "request_jti": claims.get("jti").cloned().unwrap_or(Value::Null),
        });
        let receipt = sign_jwt(&self.party.signing_key, DELETION_RECEIPT_TYP, &receipt)?;
        Ok(DeletionReceipt { deleted, receipt })
    }

    /// Deletes every result whose retention ran out; returns how many.
    pub async fn sweep(&self) -> Result<u64, ServiceError> {
        Ok(self.state.sweep(self.clock.now()).await?)
    }
}

/// How long an offline QR's replay entries must live: its validity window plus skew.
pub fn replay_window() -> i64 {
    offline::MAX_AGE_SECS + 2 * offline::SKEW_SECS
}

/// The webhook signature header value, `sha256=<hex of HMAC-SHA256(secret, body)>` (the
/// construction GitHub's `X-Hub-Signature-256` uses, so a receiver checks it with any HMAC
/// library).
pub fn webhook_signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The credentials' status lists in the shared state, for one verification: what one instance
/// fetched and verified, the others use until its `ttl` (or `exp`) runs out, so the party makes
/// one fetch per list. Sealed under the party's state key with the fetch time and freshness
/// inside, so a store writer cannot extend a list's life or slip one in; each instance still
/// verifies a list's signature before use (the issuer it must be signed by is the presented
/// credential's). A store error is kept: the service then refuses (503), never "not checked".
struct SharedLists {
    state: Arc<dyn VerifierState>,
    keys: Arc<DataKeys>,
    failed: std::sync::Mutex<Option<StateError>>,
}

#[derive(Serialize, Deserialize)]
struct SharedList {
    token: String,
    fetched_at: i64,
    fresh_until: i64,
}

impl SharedLists {
    const KIND: &'static [u8] = b"status-list";

    fn tag(&self, uri: &str) -> Tag {
        Tag(self.keys.lookup_tag(&[Self::KIND, uri.as_bytes()]))
    }

    fn aad(tag: &Tag) -> Vec<u8> {
        [Self::KIND, &tag.0[..]].concat()
    }

    fn failed(&self, e: StateError) -> kluis_verifier::Error {
        let reason = e.to_string();
        if let Ok(mut f) = self.failed.lock() {
            f.get_or_insert(e);
        }
        kluis_verifier::Error::Network {
            kind: kluis_verifier::NetworkFailure::Unreachable,
            reason,
        }
    }

    /// The store's error, if it failed during the verification.
    fn check(&self) -> Result<(), ServiceError> {
        match self.failed.lock().ok().and_then(|f| f.clone()) {
            Some(e) => Err(ServiceError::State(e)),
            None => Ok(()),
        }
    }
}

impl ListStore for SharedLists {
    fn get<'a>(&'a self, uri: &'a str, now: i64) -> ListStoreFuture<'a, Option<StoredList>> {
        Box::pin(async move {
            let tag = self.tag(uri);
            let Some(sealed) = self
                .state
                .cached(tag, now)
                .await
                .map_err(|e| self.failed(e))?
            else {
                return Ok(None);
            };
            // Not sealed by this party (or altered): fetched afresh instead.
            let Ok(plain) = self.keys.open(&sealed, &Self::aad(&tag)) else {
                return Ok(None);
            };
            Ok(serde_json::from_slice::<SharedList>(&plain)
                .ok()
                .filter(|l| l.fresh_until > now)
                .map(|l| StoredList {
                    token: l.token,
                    fetched_at: l.fetched_at,
                }))
        })
    }

    fn put<'a>(
        &'a self,
        uri: &'a str,
        list: StoredList,
        fresh_until: i64,
    ) -> ListStoreFuture<'a, ()> {
        Box::pin(async move {
            let tag = self.tag(uri);
            let plain = serde_json::to_vec(&SharedList {
                token: list.token,
                fetched_at: list.fetched_at,
                fresh_until,
            })
            .map_err(|_| kluis_verifier::Error::Internal {
                reason: "status list entry".into(),
            })?;
            let sealed = self.keys.seal(&plain, &Self::aad(&tag));
            self.state
                .cache(tag, sealed, fresh_until)
                .await
                .map_err(|e| self.failed(e))
        })
    }
}

/// Collects the replay keys `verify_offline` computes, so they are checked against the shared
/// store in one atomic step after every other check passed.
#[derive(Default)]
struct CollectingReplayCache(std::sync::Mutex<Vec<[u8; 32]>>);

impl CollectingReplayCache {
    fn keys(&self) -> Vec<[u8; 32]> {
        self.0.lock().map(|k| k.clone()).unwrap_or_default()
    }
}

impl ReplayCache for CollectingReplayCache {
    fn check_and_insert(
        &self,
        key: &[u8; 32],
        _expires_at: i64,
        _now: i64,
    ) -> Result<bool, kluis_verifier::Error> {
        if let Ok(mut k) = self.0.lock() {
            k.push(*key);
        }
        Ok(true)
    }
}

/// `https`, or `http` to a loopback host when allowed.
fn checked_url(url: &str, loopback_http: bool) -> Result<reqwest::Url, ServiceError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| ServiceError::Internal(format!("not a URL: {url}")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback && loopback_http => Ok(parsed),
        _ => Err(ServiceError::Internal(format!(
            "{url}: only https (http to loopback hosts)"
        ))),
    }
}

fn jwe_kid(jwe: &str) -> Option<String> {
    let h = jwe.split('.').next()?;
    if h.len() > 4096 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(h).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("kid")
        .and_then(Value::as_str)
        .filter(|k| k.len() <= 256)
        .map(str::to_string)
}

fn sign_jwt(key: &SigningKey, typ: &str, claims: &Value) -> Result<String, ServiceError> {
    use josekit::jws::{JwsHeader, ES256};
    let signer = ES256
        .signer_from_der(&key.to_pkcs8_der()[..])
        .map_err(|_| ServiceError::Internal("signing key".into()))?;
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    let body = serde_json::to_vec(claims).map_err(|_| ServiceError::Internal("claims".into()))?;
    josekit::jws::serialize_compact(&body, &header, &signer)
        .map_err(|_| ServiceError::Internal("signing".into()))
}

/// Checks a deletion request: `typ`, ES256 signature by the `jwk` in its header, `aud` = this
/// party, `iat` within [`DELETION_REQUEST_MAX_AGE_SECS`]. Returns the key and the claims.
pub fn verify_deletion_request(
    jwt: &str,
    client_id: &str,
    now: i64,
) -> Result<(PublicJwk, Value), ServiceError> {
    use josekit::jws::ES256;
    let bad = |why: &str| ServiceError::BadRequest(format!("deletion request: {why}"));
    let jwt = jwt.trim();
    if jwt.len() > 8192 {
        return Err(bad("too long"));
    }
    let header_b64 = jwt.split('.').next().ok_or_else(|| bad("not a JWT"))?;
    let header: Value = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("not a JWT"))?;
    if header.get("typ").and_then(Value::as_str) != Some(DELETION_REQUEST_TYP) {
        return Err(bad("wrong typ"));
    }
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(bad("not ES256"));
    }
    let jwk_value = header
        .get("jwk")
        .ok_or_else(|| bad("no jwk in the header"))?;
    let jwk = PublicJwk::from_value(jwk_value).map_err(|_| bad("the jwk is not a P-256 key"))?;
    let verifier_jwk = josekit::jwk::Jwk::from_bytes(jwk.to_value().to_string().as_bytes())
        .map_err(|_| bad("the jwk is not a P-256 key"))?;
    let verifier = ES256
        .verifier_from_jwk(&verifier_jwk)
        .map_err(|_| bad("the jwk is not a P-256 key"))?;
    let (payload, _) = josekit::jws::deserialize_compact(jwt, &verifier)
        .map_err(|_| bad("the signature does not verify"))?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|_| bad("not JSON"))?;
    if claims.get("aud").and_then(Value::as_str) != Some(client_id) {
        return Err(bad("made for another party"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("no iat"))?;
    if iat > now.saturating_add(60) || iat < now.saturating_sub(DELETION_REQUEST_MAX_AGE_SECS) {
        return Err(bad("too old or from the future"));
    }
    Ok((jwk, claims))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::state::MemoryState;
    use proptest::prelude::*;

    fn verifier() -> Arc<Verifier> {
        let mut queries = BTreeMap::new();
        queries.insert(
            "rental".to_string(),
            NamedQuery {
                dcql: kluis_verifier::openid4vp::rental_dcql(),
                purpose: "rental".into(),
            },
        );
        let settings = Settings {
            party: Party {
                client_id: "party".into(),
                signing_key: SigningKey::make_random().unwrap(),
                attestation: None,
                x5c: Vec::new(),
                response_mode: ResponseMode::DirectPostJwt,
                purposes: vec![Purpose {
                    id: "rental".into(),
                    retention_days: 1,
                    registration: None,
                }],
                queries,
                session_query: None,
            },
            public_url: "http://127.0.0.1:9".into(),
            trust: Trust::Fixed(VerifierTrust::default()),
            state_key: Zeroizing::new([7; 32]),
            request_lifetime_secs: 300,
            http: HttpPolicy::default(),
            webhook: None,
            relays: vec![],
        };
        Arc::new(Verifier::new(settings, Arc::new(MemoryState::default())).unwrap())
    }

    fn caller_fault(r: Result<impl std::fmt::Debug, ServiceError>) -> bool {
        matches!(
            r,
            Err(ServiceError::BadRequest(_))
                | Err(ServiceError::NotFound(_))
                | Err(ServiceError::AlreadyAnswered)
        )
    }

    #[tokio::test]
    async fn the_pending_request_is_the_one_handed_out() {
        let v = verifier();
        let created = v.create_request(None, None, None).await.unwrap();
        let p = v.pending_request(&created.state).await.unwrap().unwrap();
        assert_eq!(p.state, created.state);
        assert_eq!(
            p.request_object,
            v.request_object(&created.state).await.unwrap()
        );
        assert!(
            p.encryption_kid().is_some(),
            "direct_post.jwt: a decryption key"
        );
        assert!(v.pending_request("no-such-state").await.unwrap().is_none());
        assert!(v.pending_request(&"x".repeat(300)).await.unwrap().is_none());
    }

    /// Response bodies shaped like forms, with the field names the parser looks for.
    fn form() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("state".to_string()),
            Just("response".to_string()),
            Just("vp_token".to_string()),
            Just("error".to_string()),
            "[a-z%+=&]{0,8}",
        ];
        let value = prop_oneof![
            "[ -~]{0,40}",
            Just("eyJhbGciOiJFQ0RILUVTIiwia2lkIjoieCJ9..a.b.c".to_string()),
            Just("%7B%22q%22%3A%5B%22a%22%5D%7D".to_string()),
        ];
        proptest::collection::vec((key, value), 0..5).prop_map(|kv| {
            kv.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn hostile_input_is_the_callers_fault_never_a_panic(
            body in form(),
            qr in prop_oneof!["[ -~]{0,200}", "KL2:[0-9A-Z $%*+./:-]{0,300}", "KS1:[0-9A-Z $%*+./:-]{0,120}"],
            jwt in prop_oneof!["[A-Za-z0-9_.-]{0,120}", "eyJ[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}"],
            dcql in "[ -~]{0,80}",
        ) {
            static SHARED: std::sync::OnceLock<(Arc<Verifier>, String)> = std::sync::OnceLock::new();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (v, open) = SHARED.get_or_init(|| {
                let v = verifier();
                let open = rt.block_on(v.create_request(None, None, None)).unwrap().state;
                (v, open)
            });
            rt.block_on(async {
                prop_assert!(caller_fault(v.submit_response(&body).await), "{body}");
                prop_assert!(caller_fault(v.verify_qr(&qr).await), "{qr}");
                prop_assert!(caller_fault(v.delete_on_request(&jwt).await), "{jwt}");
                if let Ok(d) = serde_json::from_str::<Value>(&dcql) {
                    let r = v.create_request(None, Some(&d), None).await.map(|_| ());
                    prop_assert!(r.is_ok() || caller_fault(r));
                }
                // Nothing of it touched the open request.
                prop_assert_eq!(v.result(open).await.unwrap().status, "pending");
                Ok(())
            })?;
        }
    }
}
